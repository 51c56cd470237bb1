"""A member's discovery Services (the ExternalName Services its CoreDNS answers federated names from).

Written with the same calls as the member Services (`apply_service_exchange`, `delete_service_exchange`: the
member role already allows them in every namespace); read here, once per member connection, so that a
restarted operator knows what each member holds and rewrites nothing that is already right.
"""

from __future__ import annotations

from typing import Any

from federation_operator.domain.errors import TransientError
from federation_operator.kube.transport import Exchange, Request, api_path, response_error

__all__ = ["fetch_discovery_services_exchange"]


def fetch_discovery_services_exchange(namespace: str, label_selector: str) -> Exchange[dict[str, str]]:
    """Every Service in ``namespace`` matching ``label_selector``: name -> externalName ("" if none).

    A namespace that does not exist holds none (the API lists an empty collection for it).
    """
    what = f"list Services in {namespace}"
    held: dict[str, str] = {}
    token = ""
    while True:
        query: list[tuple[str, str | int | bool]] = [("labelSelector", label_selector), ("limit", 500)]
        if token:
            query.append(("continue", token))
        response = yield Request("GET", api_path("v1", "services", namespace=namespace), what, query=query)
        if response.status != 200:
            raise response_error(response, what)
        try:
            page: Any = response.json()
        except ValueError:
            raise TransientError(f"{what}: the member answered with malformed JSON") from None
        for item in page.get("items") or []:
            meta, spec = item.get("metadata") or {}, item.get("spec") or {}
            held[str(meta.get("name"))] = str(spec.get("externalName") or "")
        token = str((page.get("metadata") or {}).get("continue") or "")
        if not token:
            return held
