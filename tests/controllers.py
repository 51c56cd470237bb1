"""A FederatedServiceController with nothing behind it, for unit tests: no host (its API client is None),
events dropped, an empty store and member registry; whatever a test needs instead is passed in."""

from __future__ import annotations

from typing import Any, cast

from federation_operator.controllers.federated_service import (
    FederatedServiceController,
    FederatedServiceStore,
)
from federation_operator.controllers.member_cache import MemberRegistry
from federation_operator.kube.client import ClusterClient
from federation_operator.planning.reconcile import Federation

__all__ = ["bare_controller"]


def bare_controller(federation: Federation, **parts: Any) -> FederatedServiceController:
    """The controller of ``federation``; ``parts`` (``send``, ``publisher``, ``registry``, ``calls``, ...)
    replace or add to the defaults."""
    defaults: dict[str, Any] = {
        "registry": MemberRegistry(federation.name, enqueue=lambda _key: None, enqueue_all=lambda: None),
        "store": FederatedServiceStore(),
        "host_api": cast(ClusterClient, None),
        "emit": cast(Any, lambda *_args: None),
    }
    return FederatedServiceController(federation=federation, **{**defaults, **parts})
