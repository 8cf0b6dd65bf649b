"""Reading /metrics text back with prometheus-client's own parser, which also checks that it is valid."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def sample_value(text: bytes | str, name: str, labels: dict[str, str] | None = None) -> float | None:
    """The value of the sample `name` with exactly `labels` in the exposition `text`, or None."""
    wanted = labels or {}
    for family in text_string_to_metric_families(text.decode() if isinstance(text, bytes) else text):
        for sample in family.samples:
            if sample.name == name and sample.labels == wanted:
                return float(sample.value)
    return None


def family_names(text: bytes | str) -> set[str]:
    """Every sample name the exposition declares (a counter's and histogram's suffixed names included)."""
    names: set[str] = set()
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "info": ("_info",)}
    for family in text_string_to_metric_families(text.decode() if isinstance(text, bytes) else text):
        names.update(family.name + suffix for suffix in suffixes.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names
