"""Kubernetes resource quantities as canonical integers, so fitting is plain integer arithmetic.

The API hands out quantities as strings ("100m", "64Mi", "1.5", "2e3"). Scheduling compares and sums
them thousands of times per burst, so they are parsed once, exactly (Fraction, never float), into
ints: CPU in millicores, everything else (memory, storage, pods, hugepages, extended resources) in
base units. Both round up, as the API server does when it canonicalises a quantity.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Mapping
from fractions import Fraction
from typing import Final

Resources = Mapping[str, int]

CPU: Final = "cpu"
MEMORY: Final = "memory"
EPHEMERAL_STORAGE: Final = "ephemeral-storage"
PODS: Final = "pods"

_SUFFIX_FACTORS: Final[Mapping[str, Fraction]] = {
    "": Fraction(1),
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 10**3),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
    "Ki": Fraction(2**10),
    "Mi": Fraction(2**20),
    "Gi": Fraction(2**30),
    "Ti": Fraction(2**40),
    "Pi": Fraction(2**50),
    "Ei": Fraction(2**60),
}

# Sign, decimal number, then either a suffix or a decimal exponent (Kubernetes' quantity grammar).
_QUANTITY: Final = re.compile(
    r"(?P<number>[+-]?(?:\d+\.?\d*|\.\d+))(?:(?P<suffix>[KMGTPE]i|[numkMGTPE])|[eE](?P<exp>[+-]?\d+))?"
)


def parse_quantity(value: str | int | float) -> Fraction:
    """The exact value of a quantity; raises ValueError naming the quantity if it is malformed."""
    if isinstance(value, bool):
        raise ValueError(f"invalid quantity {value!r}: expected a string or a number")
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"invalid quantity {value!r}: not finite")
        return Fraction(str(value))
    if not isinstance(value, str):
        raise ValueError(f"invalid quantity {value!r}: expected a string or a number")
    match = _QUANTITY.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"invalid quantity {value!r}")
    number = Fraction(match["number"])
    if match["exp"] is not None:
        exponent = int(match["exp"])
        if abs(exponent) > 64:
            raise ValueError(f"invalid quantity {value!r}: exponent out of range")
        return number * Fraction(10) ** exponent
    return number * _SUFFIX_FACTORS[match["suffix"] or ""]


@functools.lru_cache(maxsize=8192)
def canonical(name: str, value: str | int | float) -> int:
    """A quantity of resource `name` as an int: millicores for cpu, base units otherwise, rounded up.

    Cached: a burst repeats the same few quantities thousands of times.
    """
    exact = parse_quantity(value)
    if exact < 0:
        raise ValueError(f"invalid quantity {value!r} for {name}: negative")
    if name == CPU:
        exact *= 1000
    return math.ceil(exact)


def parse_resources(raw: Mapping[str, str | int | float] | None) -> dict[str, int]:
    """A Kubernetes resource list (requests, allocatable, overhead) as canonical ints."""
    if not raw:
        return {}
    return {name: canonical(name, value) for name, value in raw.items()}


def add(left: Resources, right: Resources) -> dict[str, int]:
    total = dict(left)
    for name, amount in right.items():
        total[name] = total.get(name, 0) + amount
    return total


def sub(left: Resources, right: Resources) -> dict[str, int]:
    rest = dict(left)
    for name, amount in right.items():
        rest[name] = rest.get(name, 0) - amount
    return rest


def add_into(target: dict[str, int], amounts: Resources, sign: int = 1) -> None:
    """Adds (sign=1) or removes (sign=-1) amounts in place: the cache's incremental bookkeeping."""
    for name, amount in amounts.items():
        target[name] = target.get(name, 0) + sign * amount


def maximum(left: Resources, right: Resources) -> dict[str, int]:
    """Per-resource max, for the init-container rule."""
    larger = dict(left)
    for name, amount in right.items():
        if amount > larger.get(name, 0):
            larger[name] = amount
    return larger


def insufficient(request: Resources, free: Resources) -> list[str]:
    """The names of requested resources (amount > 0) that `free` cannot cover, in request order."""
    return [name for name, amount in request.items() if amount > 0 and amount > free.get(name, 0)]


def fits(request: Resources, free: Resources) -> bool:
    return not insufficient(request, free)


def total(many: Iterable[Resources]) -> dict[str, int]:
    summed: dict[str, int] = {}
    for amounts in many:
        add_into(summed, amounts)
    return summed
