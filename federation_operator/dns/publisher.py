"""The DNS publishing loop of one zone: desired record sets per FederatedService in, provider changes out.

Reconciles hand their FederatedService's desired records to `submit`; the loop coalesces whatever arrived
since its last round (bursts of shard changes become one plan), plans the changes for the dirty owners
against its view of the zone, and applies them in as few provider calls as the provider allows. After each
round it tells every owner involved (`on_result`), so their status can say what was published.

Its view of the zone is read from the provider once at start (and again after a stale plan or an error),
then kept up to date by applying its own plans to it: a quiet zone costs no provider call at all.

The partition guard lives here too: while `frozen`, what health says is not applied and the zone stays as
last published, because when every member is unreachable at once it is this operator that is cut off, not
the whole world that failed. Withdrawals are the exception: a deleted FederatedService's records go even
then, since that is what a user asked for, not what a health signal claimed.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable

from federation_operator.dns.provider import DnsProvider
from federation_operator.domain.errors import FederationError, PermanentError, TransientError
from federation_operator.domain.keys import Key
from federation_operator.domain.records import PublishResult, RecordSet
from federation_operator.observability.metrics import Metrics
from federation_operator.planning.zone_diff import ZoneIndex, plan_zone_changes_into

__all__ = ["Publisher"]

log = logging.getLogger(__name__)

PERMANENT_RETRY_SECONDS = 60.0


def owner_of(key: Key) -> str:
    return f"{key[0]}/{key[1]}"


class Publisher:
    """One zone, one loop (`run`), fed by `submit`/`withdraw` from the event loop's thread."""

    def __init__(
        self,
        provider: DnsProvider,
        *,
        federation: str,
        on_result: Callable[[Key], None],
        coalesce_seconds: float = 0.02,
        metrics: Metrics | None = None,
        provider_name: str | None = None,
        stopping: Callable[[], bool] = lambda: False,
    ) -> None:
        self.provider = provider
        # True once the operator began to stop: no round is applied from then on.
        self._stopping = stopping
        self.federation = federation
        self.zone = provider.zone
        self._on_result = on_result
        self._coalesce = coalesce_seconds
        self._desired: dict[Key, tuple[RecordSet, ...]] = {}
        self._results: dict[Key, PublishResult] = {}
        self._dirty: set[Key] = set()
        self._wake = asyncio.Event()
        self._zone: ZoneIndex | None = None
        self._frozen = False
        self._withdrawn: dict[Key, asyncio.Event] = {}
        self.provider_calls = 0
        self.rounds = 0
        self._metrics = metrics
        # The `provider` label: the name it was configured by (rfc2136, route53, ...).
        self._provider_name = provider_name or type(provider).__name__

    # --- inputs ---------------------------------------------------------------------------------------

    def submit(self, key: Key, records: tuple[RecordSet, ...]) -> None:
        """The records `key` should have now; nothing happens if that is what was last submitted.

        (An owner whose last round failed permanently is retried on a timer, not on every resubmission,
        so an unfixable record cannot turn each status update into another provider call.)
        """
        if self._desired.get(key) == records and (key in self._results or key in self._dirty):
            return
        self._desired[key] = records
        self._dirty.add(key)
        self._wake.set()

    async def withdraw(self, key: Key) -> None:
        """Delete every record of `key` and wait until the provider confirmed it (FederatedService deletion).

        Callers bound the wait (`asyncio.timeout`): a provider that keeps failing keeps this waiting.
        """
        done = self._withdrawn.setdefault(key, asyncio.Event())
        self._desired[key] = ()
        self._dirty.add(key)
        self._wake.set()
        await done.wait()
        self._withdrawn.pop(key, None)
        self._desired.pop(key, None)
        self._results.pop(key, None)

    def _redirty(self, keys: list[Key]) -> None:
        self._dirty.update(k for k in keys if k in self._desired)
        self._wake.set()

    def forget(self, key: Key) -> None:
        self._desired.pop(key, None)
        self._results.pop(key, None)
        self._dirty.discard(key)

    def set_frozen(self, frozen: bool) -> bool:
        """Partition guard on/off; returns True when this call changed it."""
        if frozen == self._frozen:
            return False
        self._frozen = frozen
        if self._metrics is not None:
            self._metrics.set_dns_frozen(frozen)
        log.warning("DNS publishing %s", "frozen (partition guard)" if frozen else "resumed")
        if not frozen:
            self._wake.set()
        return True

    @property
    def frozen(self) -> bool:
        return self._frozen

    def result(self, key: Key) -> PublishResult | None:
        return self._results.get(key)

    @property
    def ready(self) -> bool:
        """True once the zone has been read: before that, nothing can be planned."""
        return self._zone is not None

    # --- the loop ---------------------------------------------------------------------------------------

    async def _read(self) -> None:
        self._zone = ZoneIndex(await self.provider.records())
        self._count_calls(1)

    def _count_calls(self, calls: int) -> None:
        self.provider_calls += calls
        if self._metrics is not None:
            self._metrics.count_dns_calls(self._provider_name, calls)

    def _count_error(self, exc: BaseException) -> None:
        if self._metrics is not None:
            self._metrics.count_dns_error(self._provider_name, exc)

    async def run(self) -> None:
        backoff = 0.2
        while True:
            try:
                if self._zone is None:
                    await self._read()
                    log.info("DNS zone %s read: %d record sets", self.zone, len(self._zone or ()))
                await self._wake.wait()
                self._wake.clear()
                if self._stopping():
                    return
                # A short window lets a burst of changes (many shards flipping at once) share one plan.
                await asyncio.sleep(self._coalesce)
                # Frozen: only withdrawals (deleted FederatedServices) go through; the rest stays dirty.
                keys = sorted(self._dirty & self._withdrawn.keys() if self._frozen else self._dirty)
                if not keys:
                    continue
                await self._round(keys)
                backoff = 0.2
            except asyncio.CancelledError:
                raise
            except FederationError as exc:
                self._count_error(exc)
                self._zone = None  # re-read before planning again: the plan may have been half applied
                log.warning("DNS zone %s: %s; retrying in %.1fs", self.zone, exc, backoff)
                await asyncio.sleep(backoff * (1 + random.random()))
                backoff = min(backoff * 2, 30.0)
                self._wake.set()
            except Exception as exc:
                self._count_error(exc)
                self._zone = None
                log.exception("DNS zone %s: unexpected error; retrying in %.1fs", self.zone, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                self._wake.set()

    async def _round(self, keys: list[Key]) -> None:
        assert self._zone is not None
        if self._stopping():
            # Stopping: members look gone because we are disconnecting them, not because they failed.
            # (Nothing below awaits before the provider call, so a plan that passes here came from a
            # whole federation.)
            return
        self._dirty.difference_update(keys)
        desired = {owner_of(k): self._desired.get(k, ()) for k in keys}
        # The index now holds the zone as this plan leaves it; if the plan is not applied, it is re-read.
        changes, conflicts = plan_zone_changes_into(
            self._zone, desired, federation=self.federation, zone=self.zone
        )
        self.rounds += 1
        try:
            if not changes.is_empty:
                log.info("DNS zone %s: applying\n%s", self.zone, changes)
                self._count_calls(await self.provider.apply(changes))
                if self._metrics is not None:
                    self._metrics.count_dns_changes(self._provider_name, changes)
        except PermanentError as exc:
            self._count_error(exc)
            self._zone = None
            # Retrying at once cannot help (a refused key, a record the provider rejects): report it on each
            # owner, and try again later in case someone fixed the cause.
            for key in keys:
                self._results[key] = PublishResult(self._desired.get(key, ()), error=str(exc))
                self._on_result(key)
            asyncio.get_running_loop().call_later(PERMANENT_RETRY_SECONDS, self._redirty, keys)
            return
        except TransientError:
            # Including a stale plan: the loop re-reads the zone and plans these owners again.
            self._dirty.update(keys)
            raise
        for key in keys:
            found = conflicts.get(owner_of(key), ())
            self._results[key] = PublishResult(self._desired.get(key, ()), conflicts=found)
            if key in self._withdrawn and not self._desired.get(key):
                self._withdrawn[key].set()
            self._on_result(key)
