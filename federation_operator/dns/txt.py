"""TXT data in presentation format, as DNS APIs send and list it: quoted character-strings with escapes.

One TXT value (the operator's unquoted text) is written as character-strings of at most 255 octets, each
quoted, ``"`` and ``\\`` escaped with a backslash, and every octet outside printable ASCII escaped as three
digits: decimal as in RFC 1035 (``\\195``, Cloud DNS) or octal (``\\303``, Route 53's dialect). Reading
undoes it: the strings (quoted, or bare words) are unescaped and joined into one value, so what is read back
equals what was planned. The RFC 2136 adapter sends character-strings as octets (:func:`split_txt`), without
this text form.

Pure code: no I/O, no DNS library.
"""

from __future__ import annotations

from typing import Final, Literal

__all__ = ["MAX_STRING_OCTETS", "Radix", "parse_txt", "render_txt", "split_txt", "unescape_at"]

MAX_STRING_OCTETS: Final = 255
"""What one TXT character-string holds (its length is one octet)."""

Radix = Literal[8, 10]
"""How an escaped octet's three digits are read: 10 (RFC 1035, ``\\DDD``) or 8 (Route 53, ``\\ooo``)."""

_DIGITS: Final = {8: frozenset("01234567"), 10: frozenset("0123456789")}


def split_txt(text: str) -> list[bytes]:
    """``text`` as TXT character-strings: its UTF-8 octets in pieces of 255 at most (one empty for ``""``)."""
    raw = text.encode()
    return [raw[i : i + MAX_STRING_OCTETS] for i in range(0, len(raw), MAX_STRING_OCTETS)] or [b""]


def render_txt(text: str, *, radix: Radix = 10) -> str:
    """One TXT value in presentation format (``"..." "..."``), octets escaped with ``radix`` digits."""
    return " ".join(f'"{"".join(_escape(octet, radix) for octet in chunk)}"' for chunk in split_txt(text))


def parse_txt(value: str, *, radix: Radix = 10) -> str:
    """The text of one TXT value in presentation format: its character-strings unescaped and joined.

    Strings are usually quoted; an unquoted one runs to the next blank.
    """
    out = bytearray()
    i, end = 0, len(value)
    while i < end:
        if value[i].isspace():
            i += 1
        else:
            i = _read_string(value, i, radix, out)
    return out.decode(errors="backslashreplace")


def unescape_at(text: str, i: int, *, radix: Radix = 10) -> tuple[int, int]:
    """The octet escaped at ``text[i]`` (a backslash) and the index after the escape.

    Three digits of ``radix`` worth at most 255 are an octet's value; otherwise the character after the
    backslash stands for itself (``\\"``, ``\\\\``, ``\\q``). A backslash before a non-ASCII character, which
    no server lists, stays a backslash and the character follows as usual.
    """
    digits = text[i + 1 : i + 4]
    if len(digits) == 3 and set(digits) <= _DIGITS[radix] and int(digits, radix) <= 0xFF:
        return int(digits, radix), i + 4
    escaped = text[i + 1].encode()
    if len(escaped) == 1:
        return escaped[0], i + 2
    return 0x5C, i + 1


def _read_string(value: str, i: int, radix: Radix, out: bytearray) -> int:
    """Append the octets of the character-string starting at ``value[i]`` to ``out``; the index after it."""
    end = len(value)
    quoted = value[i] == '"'
    i += quoted
    while i < end:
        char = value[i]
        if (quoted and char == '"') or (not quoted and char.isspace()):
            return i + 1
        if char == "\\" and i + 1 < end:
            octet, i = unescape_at(value, i, radix=radix)
            out.append(octet)
            continue
        out += char.encode()
        i += 1
    return i


def _escape(octet: int, radix: Radix) -> str:
    if octet in (0x22, 0x5C):  # " and \
        return f"\\{chr(octet)}"
    if 0x20 <= octet <= 0x7E:
        return chr(octet)
    return f"\\{octet:03o}" if radix == 8 else f"\\{octet:03d}"
