"""What a ConfigMap full of problems costs: every problem counted, a bounded number of Events."""

from __future__ import annotations

from jobsched.core.cronentry import Problem
from jobsched.kube.events import EventRecord, ObjectRef
from jobsched.runtime.cron.reporter import PROBLEM_EVENTS, Reporter
from jobsched.runtime.cron.sources import SourceDocument
from jobsched.runtime.metrics import Metrics


class Events:
    def __init__(self) -> None:
        self.emitted: list[EventRecord] = []

    def emit(self, record: EventRecord) -> None:
        self.emitted.append(record)


def test_thousands_of_problems_cost_a_bounded_number_of_events_and_are_all_counted() -> None:
    events, metrics = Events(), Metrics()
    reporter = Reporter(events, metrics, "jobsched.io/enabled=true")  # type: ignore[arg-type]
    ref = ObjectRef("ConfigMap", "tenant", "hostile", "u1")
    problems = tuple(
        Problem("tenant/hostile", f"e{i}", f"data[a.yaml].entries[{i}].myKey{i}", "unknown field")
        for i in range(3000)
    )
    document = SourceDocument(ref, "7", (), problems)
    reporter.problems(document)
    reporter.problems(document)  # the same version again: nothing new
    assert len(events.emitted) == PROBLEM_EVENTS + 1
    assert "2980 more problems in ConfigMap tenant/hostile" in events.emitted[-1].note
    counted = metrics.registry.get_sample_value("jobsched_cron_invalid_entries_total", {"field": "entries"})
    assert counted == 3000  # every one counted, under a label jobsched chose, not the tenant's key
    reporter.problems(SourceDocument(ref, "8", (), problems[:1]))  # a new version is news
    assert len(events.emitted) == PROBLEM_EVENTS + 2
