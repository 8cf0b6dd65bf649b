"""Registers the `image` marker, so that `pytest -m image` (or `pytest tests/image`) selects these tests."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "image: builds the container image with buildah and runs it (root, buildah, debootstrap)"
    )
