"""The controller plans with the DNS provider's limits as they are at each reconcile, not as at start-up."""

from __future__ import annotations

import asyncio

from federation_operator.dns.inmemory import InMemoryProvider
from federation_operator.dns.publisher import Publisher
from federation_operator.domain.records import ProviderLimits
from federation_operator.planning.reconcile import Federation
from tests.controllers import bare_controller


def test_a_provider_whose_limits_change_is_planned_with_the_new_ones() -> None:
    async def scenario() -> None:
        publisher = Publisher(InMemoryProvider("example.com"), federation="fed", on_result=lambda _key: None)
        controller = bare_controller(Federation(name="fed", domain="example.com"), publisher=publisher)
        assert controller._current_federation().limits == ProviderLimits()
        # As when Cloud DNS has read its project's quotas, or a new credentials Secret brought a provider.
        lower = ProviderLimits(max_values_per_set=20, max_record_sets=500)
        publisher.replace_provider(InMemoryProvider("example.com", limits=lower))
        assert controller._current_federation().limits == lower
        assert controller._current_federation() is controller._current_federation()  # no copy per call

    asyncio.run(scenario())
