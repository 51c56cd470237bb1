"""Alias tenancy: the federation's own names are never aliases, and a namespace claims only its domains."""

from __future__ import annotations

import pytest

from federation_operator.planning.tenancy import plan_alias_refusal


def refusal(*aliases: str, namespace: str = "shop", grants: dict[str, tuple[str, ...]] | None = None) -> str:
    error = plan_alias_refusal(
        aliases, namespace=namespace, federation="myfed", domain="example.com", alias_domains=grants or {}
    )
    return "" if error is None else str(error)


@pytest.mark.parametrize(
    "alias",
    [
        pytest.param("victim.prod.myfed.svc.example.com", id="global-tier"),
        pytest.param("victim.prod.myfed.svc.us-central1.example.com.", id="region-tier"),
        pytest.param("victim.prod.myfed.svc.us-central1-a.example.com", id="zone-tier"),
        pytest.param("myfed.svc.example.com", id="the-tier-itself"),
        pytest.param("deep.victim.prod.myfed.svc.example.com", id="below-a-name"),
    ],
)
def test_the_federations_own_names_are_never_aliases_even_with_a_grant(alias: str) -> None:
    message = refusal(alias, grants={"*": ("example.com",)})
    assert message.startswith("spec.dns.aliases[0]: ")
    assert "falls under the federation's own names" in message


@pytest.mark.parametrize(
    "alias",
    [
        pytest.param("shop.example.com", id="the-namespace-subtree"),
        pytest.param("www.shop.example.com.", id="below-it"),
        pytest.param("shop.myfed.example.com", id="another-federation-word-is-fine-elsewhere"),
    ],
)
def test_a_namespace_owns_its_own_subtree_by_default(alias: str) -> None:
    if alias.startswith("shop.myfed"):
        assert "outside the alias domains of namespace shop" in refusal(alias)
    else:
        assert refusal(alias) == ""


def test_anything_else_needs_a_grant_and_the_refusal_names_field_and_domains() -> None:
    message = refusal("nginx.shop.example.com", "nginx.acme.com")
    assert message == (
        "spec.dns.aliases[1]: nginx.acme.com is outside the alias domains of namespace shop "
        "(shop.example.com); a cluster admin grants more with the operator's alias_domains setting"
    )
    assert refusal("nginx.acme.com", grants={"shop": ("acme.com",)}) == ""
    assert refusal("nginx.acme.com", grants={"*": ("acme.com",)}) == ""
    assert "outside" in refusal("nginx.acme.com", grants={"other": ("acme.com",)})
    # A grant is a whole label boundary: acme.com does not grant notacme.com.
    assert "outside" in refusal("www.notacme.com", grants={"shop": ("acme.com",)})


def test_a_squatter_in_another_namespace_is_refused() -> None:
    # evil/squat asking for the federated name prod/victim will need, and for prod's own subtree.
    message = refusal("victim.prod.myfed.svc.example.com", "victim.prod.example.com", namespace="evil")
    assert "spec.dns.aliases[0]" in message
    assert (
        "spec.dns.aliases[1]: victim.prod.example.com is outside the alias domains of namespace evil"
        in message
    )


def test_with_several_zones_a_namespace_owns_its_subtree_in_each() -> None:
    def several(alias: str) -> str:
        error = plan_alias_refusal(
            [alias],
            namespace="shop",
            federation="myfed",
            domain="example.com",
            alias_domains={},
            zones=("example.com.", "acme.com."),
        )
        return "" if error is None else str(error)

    assert several("www.shop.acme.com") == ""
    assert several("www.shop.example.com") == ""
    assert "(shop.example.com, shop.acme.com)" in several("nginx.acme.com")
