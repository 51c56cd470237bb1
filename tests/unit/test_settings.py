"""Operator settings: defaults, config file, environment precedence, errors naming the setting, and TSIG
algorithms in BIND's spellings (unknown ones refused at start-up)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from federation_operator.dns.factory import make_provider
from federation_operator.dns.options import tsig_algorithm
from federation_operator.domain.errors import PermanentError
from federation_operator.settings import SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("FEDOP_"):
            monkeypatch.delenv(name)


def test_defaults() -> None:
    settings = load_settings()
    assert settings.federation_name == "myfederation"
    assert settings.unreachable_grace_seconds == 40.0


def test_file_then_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("federationName: fromfile\nworkers: 3\n")
    assert load_settings(config).federation_name == "fromfile"
    monkeypatch.setenv("FEDOP_FEDERATION_NAME", "fromenv")
    settings = load_settings(config)
    assert settings.federation_name == "fromenv"
    assert settings.workers == 3


@pytest.mark.parametrize(
    ("env", "value", "named"),
    [
        pytest.param("FEDOP_FEDERATION_NAME", "Not_A_Label", "FEDOP_FEDERATION_NAME", id="bad-name"),
        pytest.param("FEDOP_WORKERS", "0", "FEDOP_WORKERS", id="zero-workers"),
        pytest.param(
            "FEDOP_UNREACHABLE_GRACE_SECONDS", "soon", "FEDOP_UNREACHABLE_GRACE_SECONDS", id="not-number"
        ),
        pytest.param("FEDOP_FEDERATON_NAME", "typo", "FEDOP_FEDERATON_NAME", id="unknown-setting"),
    ],
)
def test_bad_settings_fail_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, named: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(SettingsError, match=named):
        load_settings()


def test_bad_config_file_is_named(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("- not\n- a mapping\n")
    with pytest.raises(SettingsError, match=str(config)):
        load_settings(config)


def test_leader_election_settings() -> None:
    assert load_settings().leader_election is False
    settings = load_settings(leader_election=True, leader_election_namespace="fedop-system")
    assert settings.lease_name == "federation-operator-myfederation"
    assert (settings.lease_duration_seconds, settings.renew_deadline_seconds) == (15.0, 10.0)
    assert settings.retry_period_seconds == 2.0


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        pytest.param({"leader_election": True}, "leader_election_namespace", id="no-namespace"),
        pytest.param(
            {"renew_deadline_seconds": 20}, "renew_deadline_seconds", id="renew-deadline-past-lease"
        ),
        pytest.param({"retry_period_seconds": 10}, "renew_deadline_seconds", id="retry-past-renew-deadline"),
    ],
)
def test_bad_leader_election_settings_are_named(overrides: dict[str, object], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        load_settings(**overrides)


def test_alias_domains_come_from_a_json_object(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().alias_domains == {}
    monkeypatch.setenv("FEDOP_ALIAS_DOMAINS", '{"prod": ["acme.com"], "*": ["shared.example.com"]}')
    assert load_settings().alias_domains == {"prod": ("acme.com",), "*": ("shared.example.com",)}


@pytest.mark.parametrize(
    "value",
    [
        pytest.param('{"Prod": ["acme.com"]}', id="not-a-namespace"),
        pytest.param('{"prod": ["acme..com"]}', id="not-a-domain"),
        pytest.param('["acme.com"]', id="not-an-object"),
    ],
)
def test_bad_alias_domains_are_named(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("FEDOP_ALIAS_DOMAINS", value)
    with pytest.raises(SettingsError, match=r"(?i)alias_domains"):
        load_settings()


@pytest.mark.parametrize(
    ("provider", "resync", "expected"),
    [
        ("rfc2136", None, 60.0),  # a SOA query per check: cheap
        ("inmemory", None, 60.0),
        ("route53", None, 300.0),  # a full paged read per check
        ("clouddns", None, 300.0),
        ("route53", 30, 30.0),
    ],
)
def test_dns_resync_interval_defaults_by_provider(provider: str, resync: int | None, expected: float) -> None:
    overrides: dict[str, object] = {"dns_provider": provider, "dns_zone": "example.com"}
    if resync is not None:
        overrides["dns_resync_seconds"] = resync
    assert load_settings(**overrides).effective_dns_resync_seconds == expected


def test_dns_resync_interval_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEDOP_DNS_RESYNC_SECONDS", "0")
    with pytest.raises(SettingsError, match="FEDOP_DNS_RESYNC_SECONDS"):
        load_settings()


@pytest.mark.parametrize(
    ("spelled", "wire"),
    [
        ("hmac-sha256", "hmac-sha256."),
        ("HMAC-SHA256.", "hmac-sha256."),
        ("hmac-md5", "hmac-md5.sig-alg.reg.int."),
        ("hmac-md5.sig-alg.reg.int", "hmac-md5.sig-alg.reg.int."),
        ("HMAC-MD5.SIG-ALG.REG.INT.", "hmac-md5.sig-alg.reg.int."),
        ("hmac-sha512", "hmac-sha512."),
    ],
)
def test_tsig_algorithms_are_accepted_as_bind_spells_them(
    monkeypatch: pytest.MonkeyPatch, spelled: str, wire: str
) -> None:
    monkeypatch.setenv("FEDOP_DNS_PROVIDER", "rfc2136")
    monkeypatch.setenv("FEDOP_DNS_ZONE", "example.com")
    monkeypatch.setenv("FEDOP_DNS_OPTIONS", f'{{"server": "127.0.0.1", "key_algorithm": "{spelled}"}}')
    assert load_settings().dns_options["key_algorithm"] == spelled
    assert tsig_algorithm(spelled) == wire
    built = make_provider(
        "rfc2136",
        zone="example.com",
        options={"server": "127.0.0.1", "key_name": "k", "key_secret": "AAAA", "key_algorithm": spelled},
    )
    assert "k" in repr(built)


@pytest.mark.parametrize("spelled", ["hmac-sha3-256", "gss-tsig", "sha256", ""])
def test_an_unknown_tsig_algorithm_fails_at_start_up_naming_the_option(
    monkeypatch: pytest.MonkeyPatch, spelled: str
) -> None:
    monkeypatch.setenv("FEDOP_DNS_PROVIDER", "rfc2136")
    monkeypatch.setenv("FEDOP_DNS_ZONE", "example.com")
    monkeypatch.setenv("FEDOP_DNS_OPTIONS", f'{{"server": "127.0.0.1", "key_algorithm": "{spelled}"}}')
    with pytest.raises(SettingsError, match="key_algorithm"):
        load_settings()
    # From a Secret (not seen by the settings): refused when the provider is built, not at the first request.
    with pytest.raises(PermanentError, match="option key_algorithm"):
        make_provider(
            "rfc2136",
            zone="example.com",
            options={"server": "127.0.0.1", "key_name": "k", "key_secret": "AAAA", "key_algorithm": spelled},
        )


ZONES = (
    '[{"zone": "example.com", "provider": "rfc2136", "options": {"server": "127.0.0.1"}},'
    ' {"zone": "example.com", "provider": "inmemory", "mirror": "standby"},'
    ' {"zone": "acme.com", "provider": "route53", "credentialsSecret": "fedop-system/aws"}]'
)


def test_a_single_zone_is_a_list_of_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEDOP_DNS_PROVIDER", "rfc2136")
    monkeypatch.setenv("FEDOP_DNS_ZONE", "example.com")
    monkeypatch.setenv("FEDOP_DNS_OPTIONS", '{"server": "127.0.0.1"}')
    monkeypatch.setenv("FEDOP_DNS_CREDENTIALS_SECRET", "fedop-system/bind")
    settings = load_settings()
    [target] = settings.dns_targets
    assert (target.zone, target.provider, target.options) == (
        "example.com",
        "rfc2136",
        {"server": "127.0.0.1"},
    )
    assert (target.credentials_secret, target.mirror_name) == ("fedop-system/bind", "rfc2136")
    assert settings.federation_zone == "example.com"
    assert load_settings(dns_provider=None).dns_targets == ()  # DNS off


def test_several_zones_with_a_mirror(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEDOP_DNS_ZONES", ZONES)
    settings = load_settings()
    assert [t.label for t in settings.dns_targets] == [
        "example.com (rfc2136)",
        "example.com (standby)",
        "acme.com (route53)",
    ]
    assert settings.dns_targets[2].credentials_secret == "fedop-system/aws"
    assert settings.federation_zone == "example.com"  # the first entry's, unless dns_zone says
    monkeypatch.setenv("FEDOP_DNS_ZONE", "acme.com")
    assert load_settings().federation_zone == "acme.com"
    # Each zone's drift check follows its own provider's default.
    assert (settings.dns_resync_seconds_for("rfc2136"), settings.dns_resync_seconds_for("route53")) == (
        60,
        300,
    )


@pytest.mark.parametrize(
    ("env", "named"),
    [
        pytest.param(
            {"FEDOP_DNS_ZONES": '[{"zone": "example.com", "provider": "bind"}]'},
            r"FEDOP_DNS_ZONES\[0\]\.provider: .*unknown provider 'bind'",
            id="unknown-provider",
        ),
        pytest.param(
            {"FEDOP_DNS_ZONES": '[{"zone": "not a zone", "provider": "inmemory"}]'},
            r"FEDOP_DNS_ZONES\[0\]\.zone",
            id="bad-zone",
        ),
        pytest.param(
            {"FEDOP_DNS_ZONES": '[{"zone": "a.com", "provider": "inmemory", "server": "x"}]'},
            r"FEDOP_DNS_ZONES\[0\]\.server",
            id="unknown-key",
        ),
        pytest.param(
            {
                "FEDOP_DNS_ZONES": (
                    '[{"zone": "a.com", "provider": "inmemory"}, {"zone": "a.com.", "provider": "inmemory"}]'
                )
            },
            r"dns_zones\[1\]\.mirror: zone a.com. is already published as mirror 'inmemory'",
            id="same-mirror-twice",
        ),
        pytest.param(
            {"FEDOP_DNS_ZONES": '[{"zone": "a.com", "provider": "inmemory"}]', "FEDOP_DNS_ZONE": "b.com"},
            r"FEDOP_DNS_ZONE: .*b.com is not among dns_zones \(a.com\)",
            id="federation-zone-unmanaged",
        ),
        pytest.param(
            {
                "FEDOP_DNS_ZONES": '[{"zone": "a.com", "provider": "inmemory"}]',
                "FEDOP_DNS_OPTIONS": '{"a": "b"}',
            },
            r"FEDOP_DNS_OPTIONS: .*applies to the zone of dns_provider, which is unset",
            id="options-without-provider",
        ),
        pytest.param(
            {
                "FEDOP_DNS_PROVIDER": "inmemory",
                "FEDOP_DNS_ZONE": "a.com",
                "FEDOP_DNS_ZONES": '[{"zone": "a.com", "provider": "inmemory"}]',
            },
            r"dns_zones\[0\]\.mirror: zone a.com is already published as mirror 'inmemory'",
            id="mirror-of-the-single-zone-unnamed",
        ),
        pytest.param(
            {
                "FEDOP_DNS_ZONES": (
                    '[{"zone": "a.com", "provider": "rfc2136", "options": {"key_algorithm": "sha1"}}]'
                )
            },
            r"dns_zones\[0\]\.options\.key_algorithm",
            id="bad-tsig-algorithm",
        ),
    ],
)
def test_bad_dns_zones_fail_naming_the_entry(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], named: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=named):
        load_settings()


def test_more_zones_beside_the_single_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """The one-zone settings stay as they are; dns_zones adds zones (and mirrors) beside them."""
    monkeypatch.setenv("FEDOP_DNS_PROVIDER", "rfc2136")
    monkeypatch.setenv("FEDOP_DNS_ZONE", "example.com")
    monkeypatch.setenv("FEDOP_DNS_OPTIONS", '{"server": "127.0.0.1"}')
    monkeypatch.setenv(
        "FEDOP_DNS_ZONES",
        '[{"zone": "acme.com", "provider": "rfc2136", "options": {"server": "127.0.0.2"}},'
        ' {"zone": "example.com", "provider": "rfc2136", "mirror": "secondary",'
        ' "options": {"server": "::1"}}]',
    )
    settings = load_settings()
    assert [(t.label, t.options["server"]) for t in settings.dns_targets] == [
        ("example.com (rfc2136)", "127.0.0.1"),
        ("acme.com (rfc2136)", "127.0.0.2"),
        ("example.com (secondary)", "::1"),
    ]
    assert settings.federation_zone == "example.com"
