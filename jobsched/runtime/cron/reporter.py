"""How the cron engine tells users what happened: Warning and Normal Events on the source object of an
entry, a structured log line, and the matching metric. One place, so that every report names the
entry and field the same way and a problem is reported once per version of its source.
"""

from __future__ import annotations

import structlog

from jobsched.core.cronentry import CronEntry, Problem
from jobsched.core.cronplan import field_label
from jobsched.kube.events import EventRecord, EventWriter, ObjectRef
from jobsched.runtime.cron.sources import SourceDocument
from jobsched.runtime.entry_metrics import MISSED_BY_EVENT
from jobsched.runtime.metrics import Metrics

log = structlog.get_logger(__name__)

PROBLEM_EVENTS = 20  # Events (and log lines) per version of a source; the rest are counted in one more


def problem_note(problem: Problem) -> str:
    who = f"entry {problem.entry}: " if problem.entry else ""
    return f"{who}field {problem.field}: {problem.message}"


class Reporter:
    def __init__(self, events: EventWriter, metrics: Metrics, namespace_label: str) -> None:
        self._events = events
        self._metrics = metrics
        self._namespace_label = namespace_label
        self._reported: set[tuple[ObjectRef, str]] = (
            set()
        )  # (source, resourceVersion) whose problems were told
        self._disabled: set[ObjectRef] = set()  # sources told that their namespace has not opted in

    def entry(
        self, ref: ObjectRef, entry: CronEntry, type_: str, reason: str, note: str, action: str = "Scheduling"
    ) -> None:
        """An Event about one entry, on its source object (and, when it says a slot did not run, a
        count of that entry's missed slots)."""
        if reason in MISSED_BY_EVENT:
            self._metrics.entries.missed(ref, entry.name, MISSED_BY_EVENT[reason])
        self.event(ref, type_, reason, note, action)

    def event(self, ref: ObjectRef, type_: str, reason: str, note: str, action: str = "Scheduling") -> None:
        """An Event on a source object (an adopted CronJob's, also once handed back)."""
        self._events.emit(EventRecord(ref, type_, reason, action, note))

    def count(self, outcome: str) -> None:
        self._metrics.cron_fires.labels(outcome=outcome).inc()

    def invalid(self, ref: ObjectRef, entry: CronEntry, field: str, message: str) -> None:
        """An entry the cluster showed to be invalid (a missing service account, a rejected template);
        the slot being staged does not run."""
        self._metrics.cron_invalid.labels(field=field_label(field)).inc()
        self._metrics.entries.missed(ref, entry.name, "invalid")
        log.warning(
            "invalid cron entry",
            source=f"{ref.namespace}/{ref.name}",
            entry=entry.name,
            field=field,
            message=message,
        )
        self.entry(
            ref,
            entry,
            "Warning",
            "InvalidCronEntry",
            f"entry {entry.name}: field {field}: {message}",
            "Validating",
        )

    def problems(self, document: SourceDocument) -> None:
        """A document's problems, once per version of it: every one counted, the first few logged and
        written as Events, then one Event saying how many more (a ConfigMap with thousands of bad entries
        must cost a bounded number of writes, not one each)."""
        seen = (document.ref, document.resource_version)
        if not document.problems or seen in self._reported:
            return
        self._reported.add(seen)
        for problem in document.problems:
            self._metrics.cron_invalid.labels(field=field_label(problem.field)).inc()
        told = document.problems[:PROBLEM_EVENTS]
        for problem in told:
            log.warning(
                "invalid cron entry",
                source=problem.configmap,
                entry=problem.entry,
                field=problem.field,
                message=problem.message,
            )
            self._events.emit(
                EventRecord(
                    document.ref, "Warning", document.problem_reason, "Validating", problem_note(problem)
                )
            )
        more = len(document.problems) - len(told)
        if more > 0:
            ref = document.ref
            note = (
                f"{more} more problems in {ref.kind} {ref.namespace}/{ref.name} (showing the first"
                f" {len(told)}); `jobsched validate` lists them all"
            )
            log.warning("more invalid cron entries", source=f"{ref.namespace}/{ref.name}", more=more)
            self._events.emit(EventRecord(ref, "Warning", "InvalidCronEntry", "Validating", note))

    def namespace_not_enabled(self, document: SourceDocument) -> None:
        if document.ref in self._disabled:
            return
        self._disabled.add(document.ref)
        self._metrics.cron_invalid.labels(field="namespace").inc()
        ref = document.ref
        note = (
            f"namespace {ref.namespace} has not opted in to jobsched"
            f" (label {self._namespace_label}); none of this {ref.kind}'s entries run"
        )
        log.warning("cron source in a namespace that has not opted in", source=f"{ref.namespace}/{ref.name}")
        self._events.emit(EventRecord(ref, "Warning", "NamespaceNotEnabled", "Validating", note))

    def namespace_enabled(self, document: SourceDocument) -> None:
        self._disabled.discard(document.ref)

    def forget_gone(self, present: set[ObjectRef]) -> None:
        """Drops what was told about sources that no longer exist (a new one of the same name is news)."""
        self._reported = {seen for seen in self._reported if seen[0] in present}
        self._disabled &= present
