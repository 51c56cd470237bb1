"""The shutdown gate: once the operator begins to stop, nothing it plans reaches a member or the DNS provider.

Stopping tears the operator down piece by piece: kopf stops the MemberCluster daemons, each daemon
disconnects its member, and reconciles still running would then see a federation with no members and plan
to withdraw every record. So the gate closes first — on SIGTERM/SIGINT, before kopf hears of it, and at the
latest when the first daemon learns that the operator is exiting — and every path that writes (a member
Service, a DNS change, a FederatedService status) asks it before writing. What was applied before it closed
was planned from a whole federation; what is planned after it closed is dropped, and the next replica
plans it again from the real state.
"""

from __future__ import annotations

import logging

from federation_operator.domain.errors import TransientError

__all__ = ["ShutdownGate", "ShuttingDownError"]

log = logging.getLogger(__name__)


class ShuttingDownError(TransientError):
    """A write refused because the operator is stopping (the next replica makes it, if still needed)."""


class ShutdownGate:
    """Open while the operator runs; closed (for good) once it begins to stop. Used from the event loop."""

    def __init__(self) -> None:
        self._reason: str | None = None

    def close(self, reason: str) -> None:
        if self._reason is None:
            self._reason = reason
            log.info("stopping (%s): no further member writes, DNS changes or status writes", reason)

    def is_closed(self) -> bool:
        return self._reason is not None

    def check(self, what: str) -> None:
        """Raise ShuttingDownError instead of doing `what` once the gate is closed."""
        if self._reason is not None:
            raise ShuttingDownError(f"not {what}: the operator is stopping ({self._reason})")
