"""The engine publishes the per-entry series only when something they derive from changed (the planner's
generation), except that an entry without a status depends on the clock and is published every time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from jobsched.core.cronentry import CronEntry
from jobsched.core.cronplan import EntryStatus
from jobsched.runtime.cron.engine import CronEngine
from jobsched.runtime.metrics import Metrics
from jobsched.runtime.parts import Parts
from jobsched.settings import Settings

T = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def engine_and_calls(monkeypatch: pytest.MonkeyPatch) -> tuple[CronEngine, list[int]]:
    metrics = Metrics()
    parts = Parts(None, Settings(), metrics, "test")  # type: ignore[arg-type]  # no I/O here
    assert parts.engine is not None
    calls: list[int] = []
    publish = metrics.entries.publish

    def counting(entries: Any, now: datetime) -> None:
        listed = list(entries)
        calls.append(len(listed))
        publish(listed, now)

    monkeypatch.setattr(metrics.entries, "publish", counting)
    return parts.engine, calls


def test_entries_are_published_again_only_after_a_change(monkeypatch: pytest.MonkeyPatch) -> None:
    engine, calls = engine_and_calls(monkeypatch)
    entry = CronEntry("ns", "crons", "hourly", "@hourly")
    engine.planner.entries = {entry.key: entry}
    engine.planner.set_status(entry.key, EntryStatus(T))
    engine.publish_entry_metrics()
    engine.publish_entry_metrics()
    assert calls == [1]
    engine.planner.set_status(entry.key, EntryStatus(T))  # equal: no change
    engine.publish_entry_metrics()
    assert calls == [1]
    engine.planner.set_status(entry.key, EntryStatus(T, T))
    engine.publish_entry_metrics()
    assert calls == [1, 1]
    assert engine._metrics.entries.samples  # what was published


def test_an_entry_without_a_status_is_published_every_time(monkeypatch: pytest.MonkeyPatch) -> None:
    engine, calls = engine_and_calls(monkeypatch)
    entry = CronEntry("ns", "crons", "hourly", "@hourly")
    engine.planner.entries = {entry.key: entry}
    engine.publish_entry_metrics()
    engine.publish_entry_metrics()
    assert calls == [1, 1]
