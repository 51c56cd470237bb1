"""Provider options: checking the string options a provider is configured with, and reading numbers from them.

Options come as strings, from the settings file, the environment or a Secret. A missing required option, an
unknown one or a number that is none fails fast with a ``PermanentError`` naming the provider and the option.
Used by the factory and by each adapter's builder; imports no adapter, so adapters can import it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from federation_operator.domain.errors import PermanentError

__all__ = ["check_options", "number_option"]

NumberT = TypeVar("NumberT", int, float)


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
