"""The domain: frozen values and the operator's error hierarchy — what every other layer speaks.

May import: nothing of this package outside ``domain``; of third-party code only pydantic. No I/O here.

- ``keys``: object keys, the API group, the labels and annotations that mark what the federation owns;
- ``specs`` / ``status``: the custom resources' spec and status models (``kube_model`` holds their base);
- ``members``: what the member caches hold (cluster info, observed Services, endpoint summaries, probes);
- ``health``: one health verdict per shard, the value both the status and the DNS records come from;
- ``records``: DNS record sets, change sets and the geo-tiered names; ``ownership``: the TXT ownership codec;
- ``errors``: transient vs permanent failures.
"""
