"""Provider options: checking the string options a provider is configured with, and reading numbers from them.

Options come as strings, from the settings file, the environment or a Secret. A missing required option, an
unknown one or a number that is none fails fast with a ``PermanentError`` naming the provider and the option.
Used by the factory and by each adapter's builder; imports no adapter, so adapters can import it.

TSIG algorithm names (:func:`tsig_algorithm`) are checked here too, without dnspython, so that the settings
can refuse an unknown one at start-up, naming the option, instead of the first signed request failing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from federation_operator.domain.errors import PermanentError

__all__ = ["TSIG_ALGORITHMS", "check_options", "number_option", "tsig_algorithm"]

NumberT = TypeVar("NumberT", int, float)

TSIG_ALGORITHMS: Mapping[str, str] = {
    "hmac-md5": "hmac-md5.sig-alg.reg.int.",
    "hmac-md5.sig-alg.reg.int": "hmac-md5.sig-alg.reg.int.",
    "hmac-sha1": "hmac-sha1.",
    "hmac-sha224": "hmac-sha224.",
    "hmac-sha256": "hmac-sha256.",
    "hmac-sha256-128": "hmac-sha256-128.",
    "hmac-sha384": "hmac-sha384.",
    "hmac-sha384-192": "hmac-sha384-192.",
    "hmac-sha512": "hmac-sha512.",
    "hmac-sha512-256": "hmac-sha512-256.",
}
"""Every TSIG algorithm the RFC 2136 provider signs with, by the names BIND's ``key`` statement and
``tsig-keygen -a`` accept (case and a final dot do not matter), → its name on the wire (RFC 8945 §6; HMAC-MD5
keeps its old long name). GSS-TSIG (Kerberos, Active Directory's secure updates) is not supported."""


def tsig_algorithm(raw: str, *, option: str = "key_algorithm") -> str:
    """The wire name of the TSIG algorithm spelled ``raw`` (``hmac-sha256``, ``HMAC-SHA256.``,
    ``hmac-md5.sig-alg.reg.int``...), or a ``PermanentError`` naming ``option`` and the spellings known."""
    spelled = raw.strip().lower().removesuffix(".")
    found = TSIG_ALGORITHMS.get(spelled)
    if found is not None:
        return found
    known = ", ".join(name for name in TSIG_ALGORITHMS if "." not in name)
    if spelled == "gss-tsig":
        raise PermanentError(
            f"DNS provider rfc2136: option {option}={raw!r}: GSS-TSIG is not supported (known: {known})"
        )
    raise PermanentError(
        f"DNS provider rfc2136: option {option}={raw!r} is not a TSIG algorithm (known: {known})"
    )


def check_options(
    provider: str, options: Mapping[str, str], *, required: tuple[str, ...], optional: tuple[str, ...]
) -> None:
    """Raise unless ``options`` hold every ``required`` key (non-empty) and no key beyond ``optional``."""
    missing = [key for key in required if not options.get(key)]
    if missing:
        raise PermanentError(f"DNS provider {provider}: option {missing[0]} is required")
    unknown = sorted(set(options) - set(required) - set(optional))
    if unknown:
        known = ", ".join((*required, *optional)) or "none"
        raise PermanentError(f"DNS provider {provider}: unknown option {unknown[0]} (known: {known})")


def number_option(
    provider: str, options: Mapping[str, str], key: str, kind: type[NumberT], default: NumberT
) -> NumberT:
    """The option ``key`` read as ``kind`` (``int`` or ``float``), or ``default`` when it is not given."""
    raw = options.get(key)
    if raw is None:
        return default
    try:
        return kind(raw)
    except ValueError as exc:
        raise PermanentError(f"DNS provider {provider}: option {key}={raw!r} is not a number") from exc
