"""AWS Elastic Load Balancing hostnames and the Route 53 hosted zone each one's alias records name: data.

A Route 53 alias record to a load balancer names the load balancer's DNS name and its *canonical hosted
zone*, one per region and kind: Application and Classic Load Balancers (``<name>.<region>.elb.amazonaws.com``)
share one zone per region, Network Load Balancers (``<name>.elb.<region>.amazonaws.com``) have another.
The values are AWS's published table ("Elastic Load Balancing endpoints and quotas"); a hostname outside it
(another region, another cloud's load balancer, anything else) has no alias zone here, and the planner falls
back to what it does for every provider (a CNAME, with the status naming what it leaves out).
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["elb_hosted_zone"]

# Region → (Application/Classic zone, Network zone).
_ZONES: Mapping[str, tuple[str, str]] = {
    "us-east-1": ("Z35SXDOTRQ7X7K", "Z26RNL4JYFTOTI"),
    "us-east-2": ("Z3AADJGX6KTTL2", "ZLMOA37VPKANP"),
    "us-west-1": ("Z368ELLRRE2KJ0", "Z24FKFUX50B4VW"),
    "us-west-2": ("Z1H1FL5HABSF5", "Z18D5FSROUN65G"),
    "ca-central-1": ("ZQSVJUPU6J1EY", "Z2EPGBW3API2WT"),
    "ap-south-1": ("ZP97RAFLXTNZK", "ZVDDRBQ08TROA"),
    "ap-northeast-1": ("Z14GRHDCWA56QT", "Z31USIVHYNEOWT"),
    "ap-northeast-2": ("ZWKZPGTI48KDX", "ZIBE1TIR4HY56"),
    "ap-southeast-1": ("Z1LMS91P8CMLE5", "ZKVM4W9LS7TM"),
    "ap-southeast-2": ("Z1GM3OXH4ZPM65", "ZCT6FZBF4DROD"),
    "eu-central-1": ("Z215JYRZR1TBD5", "Z3F0SRJ5LGBH90"),
    "eu-west-1": ("Z32O12XQLNTSW2", "Z2IFOLAFXWLO4F"),
    "eu-west-2": ("ZHURV8PSTC4K8", "ZD4D7Y8KGAS4G"),
    "eu-west-3": ("Z3Q77PNBQS71R4", "Z1CMS0P5QUZ6D5"),
    "eu-north-1": ("Z23TAZ6LKFMNIO", "Z1UDT6IFJ4EJM"),
    "sa-east-1": ("Z2P70J7HTTTPLU", "ZTK26PT1VY4CU"),
}


def elb_hosted_zone(hostname: str) -> str | None:
    """The canonical hosted zone of the load balancer at ``hostname`` (any case, with or without its final
    dot, ``dualstack.`` prefixed or not), or ``None`` when it is no load balancer of a region in the table."""
    labels = hostname.strip().lower().rstrip(".").split(".")
    if len(labels) < 5 or labels[-2:] != ["amazonaws", "com"]:
        return None
    if labels[-3] == "elb" and labels[-4] in _ZONES:  # <name>.<region>.elb.amazonaws.com
        return _ZONES[labels[-4]][0]
    if labels[-4] == "elb" and labels[-3] in _ZONES:  # <name>.elb.<region>.amazonaws.com
        return _ZONES[labels[-3]][1]
    return None
