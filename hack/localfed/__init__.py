"""localfed: the local federation of real Kubernetes control planes (and a local BIND) this project runs on.

Command line: `hack/local-federation up|down|status|...`.
From tests: `LocalFederation(FederationConfig(...))`.
"""

from __future__ import annotations

from .bind import BindServer, start_bind
from .federation import HOST_CLUSTER, ClusterSpec, FederationConfig, LocalFederation, member_specs

__all__ = [
    "HOST_CLUSTER",
    "BindServer",
    "ClusterSpec",
    "FederationConfig",
    "LocalFederation",
    "member_specs",
    "start_bind",
]
