"""Deterministic, valid, collision-free names and label values for cron slots."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jobsched.core.cronentry import CronEntry
from jobsched.core.naming import (
    label_value,
    slot_labels_and_annotations,
    slot_object_name,
)
from jobsched.core.vocabulary import (
    CONFIGMAP_LABEL,
    DOMAINS_ANNOTATION,
    ENTRY_LABEL,
    SCHEDULED_TIME_ANNOTATION,
)

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
MIDNIGHT = datetime(2026, 1, 1, tzinfo=UTC)


def entry(
    configmap: str = "crons", name: str = "report", namespace: str = "batch", kind: str = "Pod"
) -> CronEntry:
    return CronEntry(namespace, configmap, name, "@daily", kind=kind)


def test_short_name_is_readable() -> None:
    name = slot_object_name(entry(), MIDNIGHT)
    assert re.fullmatch(r"crons-report-29453760-[0-9a-f]{10}", name), name
    assert name == slot_object_name(entry(), MIDNIGHT), "deterministic"


def test_any_aware_zone_gives_the_same_name() -> None:
    shanghai = MIDNIGHT.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Shanghai"))
    assert slot_object_name(entry(), shanghai) == slot_object_name(entry(), MIDNIGHT)


def test_dash_ambiguity_does_not_collide() -> None:
    assert slot_object_name(entry("a-b", "c"), MIDNIGHT) != slot_object_name(entry("a", "b-c"), MIDNIGHT)


def test_long_names_are_truncated_with_hash() -> None:
    long_cm = "x" * 200 + ".yaml-crons"
    name = slot_object_name(entry(long_cm, "e" * 63), MIDNIGHT)
    assert len(name) == 63
    assert DNS_LABEL.match(name)
    other = slot_object_name(entry(long_cm, "e" * 62 + "f"), MIDNIGHT)
    assert name[:43] == other[:43]
    assert name != other


def test_job_names_leave_room_for_pod_suffixes() -> None:
    name = slot_object_name(entry("c" * 60, "j" * 60, kind="Job"), MIDNIGHT)
    assert len(name) <= 52


@pytest.mark.parametrize("slot", [datetime(2026, 1, 1), MIDNIGHT + timedelta(seconds=30)])
def test_bad_slots_are_refused(slot: datetime) -> None:
    with pytest.raises(ValueError, match=r"timezone-aware|minute-aligned"):
        slot_object_name(entry(), slot)


def test_labels_and_annotations() -> None:
    e = CronEntry("batch", "crons", "report", "@daily", domains=("virtual", "regular"))
    labels, annotations = slot_labels_and_annotations(e, MIDNIGHT)
    assert labels == {ENTRY_LABEL: "crons.report", CONFIGMAP_LABEL: "crons"}
    assert annotations == {
        SCHEDULED_TIME_ANNOTATION: "2026-01-01T00:00:00Z",
        DOMAINS_ANNOTATION: "virtual,regular",
    }
    assert DOMAINS_ANNOTATION not in slot_labels_and_annotations(entry(), MIDNIGHT)[1]


def test_long_label_values_are_hashed() -> None:
    long = "a" * 62 + "-" + "b" * 100
    value = label_value(long)
    assert len(value) == 63
    assert LABEL_VALUE.match(value)
    assert value != label_value(long + "c")
    assert label_value("short") == "short"


configmap_names = st.from_regex(r"[a-z0-9]([-a-z0-9.]{0,80}[a-z0-9])?", fullmatch=True)
entry_names = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", fullmatch=True)
minutes = st.integers(min_value=0, max_value=5_000_000_000 // 60)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(configmap_names, entry_names, minutes), min_size=2, max_size=30, unique=True))
def test_names_are_valid_and_never_collide(triples: list[tuple[str, str, int]]) -> None:
    names = set()
    entry_values = set()
    for configmap, name, minute in triples:
        e = entry(configmap, name)
        slot = datetime.fromtimestamp(minute * 60, UTC)
        object_name = slot_object_name(e, slot)
        assert len(object_name) <= 63
        assert DNS_LABEL.match(object_name), object_name
        names.add(object_name)
        labels, _ = slot_labels_and_annotations(e, slot)
        assert all(len(v) <= 63 and LABEL_VALUE.match(v) for v in labels.values()), labels
        entry_values.add((configmap, name, labels[ENTRY_LABEL]))
    assert len(names) == len(triples)
    assert len({v for _, _, v in entry_values}) == len({(c, n) for c, n, _ in entry_values})


def test_dense_collision_search() -> None:
    """Many near-identical identities over many slots: still one name each."""
    identities = [("a-b", "c"), ("a", "b-c"), ("a.b", "c"), ("a-b-c", "d"), ("a", "b-c-d")]
    seen = {
        slot_object_name(entry(cm, name), MIDNIGHT + timedelta(minutes=m))
        for cm, name in identities
        for m in range(200)
    }
    assert len(seen) == len(identities) * 200
