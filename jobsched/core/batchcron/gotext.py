"""Go's text and number parsing, exactly as robfig/cron v3.0.1 sees a schedule string.

batch/v1 accepts or refuses a schedule by what Go's standard library does with it, and that differs
from Python's in places that matter for a verdict: `strconv.Atoi` takes ``+5`` but not ``٣`` or
``1_0`` (Python's `int` takes all three), `strings.Fields` splits on Unicode White_Space but not on
the ASCII separators U+001C-U+001F (`str.split` does), `strings.ToLower` maps ``İ`` to ``i``, and
`time.ParseDuration` has its own grammar and overflow rules. The messages are Go's too, so a user
sees what kube-apiserver would say.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

# unicode.IsSpace: Latin-1 spaces plus the White_Space property above Latin-1.
_GO_SPACE = re.compile("[\t\n\v\f\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+")
_MAX_UINT64: Final = (1 << 64) - 1
_INT64_CUTOFF: Final = 1 << 63
_NANOS: Final[Mapping[str, int]] = MappingProxyType(
    {
        "ns": 1,
        "us": 1_000,
        "µs": 1_000,  # U+00B5 micro sign
        "μs": 1_000,  # U+03BC Greek mu
        "ms": 1_000_000,
        "s": 1_000_000_000,
        "m": 60_000_000_000,
        "h": 3_600_000_000_000,
    }
)
_ESCAPES: Final = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


class GoError(ValueError):
    """A Go error; str() is Go's Error() text."""


def fields(text: str) -> list[str]:
    """strings.Fields: `text` split around runs of Go white space, without empty strings."""
    return [part for part in _GO_SPACE.split(text) if part]


def go_list(items: list[str]) -> str:
    """fmt's %s of a []string."""
    return "[" + " ".join(items) + "]"


def to_lower(text: str) -> str:
    """strings.ToLower; Python lowers U+0130 to two runes where Go gives a plain "i"."""
    return "".join("i" if char == "\u0130" else char.lower() for char in text)


def quote(text: str) -> str:
    """strconv.Quote: a double-quoted Go string literal."""
    out = ['"']
    for char in text:
        code = ord(char)
        if char in ('"', "\\"):
            out.append("\\" + char)
        elif char.isprintable():  # Go's IsPrint: categories L, M, N, P, S and the ASCII space
            out.append(char)
        elif char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def atoi(text: str) -> int:
    """strconv.Atoi on a 64-bit platform: an optional sign and ASCII digits, within int64."""

    def fail(reason: str) -> GoError:
        return GoError(f"strconv.Atoi: parsing {quote(text)}: {reason}")

    digits = text[1:] if text[:1] in ("+", "-") else text
    if not digits:
        raise fail("invalid syntax")
    value = 0
    # ParseUint reports whichever comes first while scanning: a bad character or an overflow.
    for char in digits:
        if not "0" <= char <= "9":
            raise fail("invalid syntax")
        value = value * 10 + ord(char) - ord("0")
        if value > _MAX_UINT64:
            raise fail("value out of range")
    negative = text.startswith("-")
    if value >= _INT64_CUTOFF + (1 if negative else 0):
        raise fail("value out of range")
    return -value if negative else value


def _time_quote(text: str) -> str:
    """time's own quote(): non-ASCII and control characters as \\x escapes of their UTF-8 bytes."""
    out = ['"']
    for char in text:
        if ord(char) >= 0x80 or char < " ":
            out.extend(f"\\x{byte:02x}" for byte in char.encode("utf-8", "surrogatepass"))
        else:
            out.append("\\" + char if char in ('"', "\\") else char)
    out.append('"')
    return "".join(out)


def _leading_digits(text: str) -> tuple[str, str]:
    end = 0
    while end < len(text) and "0" <= text[end] <= "9":
        end += 1
    return text[:end], text[end:]


def parse_duration(text: str) -> int:
    """time.ParseDuration, in nanoseconds (may be negative)."""

    def fail(message: str) -> GoError:
        return GoError(f"time: {message} {_time_quote(text)}")

    rest = text
    negative = False
    if rest[:1] in ("+", "-"):
        negative = rest[0] == "-"
        rest = rest[1:]
    if rest == "0":
        return 0
    if not rest:
        raise fail("invalid duration")
    total = 0
    while rest:
        if not (rest[0] == "." or "0" <= rest[0] <= "9"):
            raise fail("invalid duration")
        whole, rest = _leading_digits(rest)
        value = 0
        for char in whole:
            if value > _INT64_CUTOFF // 10:
                raise fail("invalid duration")
            value = value * 10 + ord(char) - ord("0")
            if value > _INT64_CUTOFF:
                raise fail("invalid duration")
        fraction, scale, post = 0, 1.0, False
        if rest[:1] == ".":
            digits, rest = _leading_digits(rest[1:])
            post = bool(digits)
            fraction, scale = _leading_fraction(digits)
        if not whole and not post:
            raise fail("invalid duration")
        end = 0
        while end < len(rest) and not (rest[end] == "." or "0" <= rest[end] <= "9"):
            end += 1
        if end == 0:
            raise fail("missing unit in duration")
        unit_name, rest = rest[:end], rest[end:]
        unit = _NANOS.get(unit_name)
        if unit is None:
            raise fail(f"unknown unit {_time_quote(unit_name)} in duration")
        if value > _INT64_CUTOFF // unit:
            raise fail("invalid duration")
        value *= unit
        if fraction > 0:
            # Go computes this in float64 and truncates: float(f) * (float(unit) / scale).
            value += int(float(fraction) * (float(unit) / scale))
            if value > _INT64_CUTOFF:
                raise fail("invalid duration")
        total += value
        if total > _INT64_CUTOFF:
            raise fail("invalid duration")
    if negative:
        return -total
    if total > _INT64_CUTOFF - 1:
        raise fail("invalid duration")
    return total


def _leading_fraction(digits: str) -> tuple[int, float]:
    """leadingFraction: the digits after a point as (integer, 10**count), precision capped at int64."""
    value, scale = 0, 1.0
    for char in digits:
        if value > (_INT64_CUTOFF - 1) // 10:
            break  # Go stops accumulating; the remaining digits are consumed and ignored
        candidate = value * 10 + ord(char) - ord("0")
        if candidate > _INT64_CUTOFF:
            break
        value = candidate
        scale *= 10
    return value, scale
