"""Quantity parsing and resource arithmetic."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobsched.core.resources import add, canonical, fits, insufficient, parse_quantity, parse_resources, sub


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("cpu", "100m", 100),
        ("cpu", "1", 1000),
        ("cpu", "1.5", 1500),
        ("cpu", "0.0001", 1),  # rounds up to a whole millicore
        ("cpu", "2e3", 2_000_000),
        ("cpu", 2, 2000),
        ("cpu", 0.25, 250),
        ("cpu", "250000n", 1),
        ("memory", "64Mi", 64 * 2**20),
        ("memory", "1Gi", 2**30),
        ("memory", "500k", 500_000),
        ("memory", "1.5", 2),
        ("memory", "1M", 1_000_000),
        ("memory", "1E", 10**18),
        ("memory", "1Ei", 2**60),
        ("memory", "1e3", 1000),
        ("memory", "+12", 12),
        ("pods", "110", 110),
        ("nvidia.com/gpu", "2", 2),
        ("hugepages-2Mi", "4Mi", 4 * 2**20),
        ("ephemeral-storage", "10G", 10**10),
        ("memory", ".5Ki", 512),
    ],
)
def test_canonical(name: str, text: str | int | float, expected: int) -> None:
    assert canonical(name, text) == expected


@pytest.mark.parametrize("text", ["", "abc", "1.2.3", "10 Mi", "1Qi", "m", "1e", "--1", "1e999"])
def test_bad_quantities_name_the_value(text: str) -> None:
    with pytest.raises(ValueError, match="invalid quantity"):
        parse_quantity(text)


def test_negative_quantity_is_rejected() -> None:
    with pytest.raises(ValueError, match="negative"):
        canonical("memory", "-1Mi")


def test_parse_resources() -> None:
    assert parse_resources({"cpu": "250m", "memory": "1Gi"}) == {"cpu": 250, "memory": 2**30}
    assert parse_resources(None) == {}


def test_arithmetic() -> None:
    left = {"cpu": 1000, "memory": 10}
    right = {"cpu": 250, "pods": 1}
    assert add(left, right) == {"cpu": 1250, "memory": 10, "pods": 1}
    assert sub(left, right) == {"cpu": 750, "memory": 10, "pods": -1}
    assert fits({"cpu": 1000, "memory": 0}, left)
    assert not fits({"cpu": 1001}, left)
    assert insufficient({"cpu": 2000, "memory": 5, "gpu": 1}, left) == ["cpu", "gpu"]


@given(st.integers(min_value=0, max_value=10**12))
def test_millicores_round_trip(millis: int) -> None:
    assert canonical("cpu", f"{millis}m") == millis


@given(st.fractions(min_value=0, max_value=10**6), st.sampled_from(["", "k", "Ki", "Mi", "m"]))
def test_rounds_up_exactly(value: Fraction, suffix: str) -> None:
    text = f"{float(value):.6f}{suffix}"
    exact = parse_quantity(text)
    assert canonical("memory", text) == -(-exact.numerator // exact.denominator)
    assert canonical("memory", text) >= exact
