"""The leader's sweep for slot pods a provider refused before they started (decisions in core/reruns.py).

Every `cron.rerunSweepSeconds` it looks at the failed slot pods the engine knows. One that failed in a
domain for a reason the domain lists in `neverStartedReasons`, with no container ever started, has its
slot run again once: the stager creates the re-run pod under its deterministic name, on the rest of the
pod's chain after the failed domain, within the slot's starting deadline. Which domain failed is read
from the scheduler's node cache (a process without a scheduler takes the first domain of the chain).
Nothing is remembered between sweeps but what is in flight: whether a slot was re-run is read from the
cluster (the re-run pod exists), so a restart between the failure and the re-run re-runs it once, and a
restart after it never again. Until its re-run exists, the failed pod keeps its tracking finalizer and
is not pruned (`holds`), so the record of the failure outlives a restart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Protocol

import anyio
import structlog

from jobsched.core.cronentry import CronEntry
from jobsched.core.cronruns import RunRecord
from jobsched.core.naming import rfc3339
from jobsched.core.reruns import RerunPlan, Verdict, never_started_failure, rerun_plan
from jobsched.runtime.cron.node_loss import NodeDirectory
from jobsched.runtime.cron.stager import RerunOrder, Stager
from jobsched.runtime.metrics import Metrics
from jobsched.settings import Settings

log = structlog.get_logger(__name__)


class DomainDirectory(Protocol):
    """Which domain a node is in (the scheduler's cache provides it)."""

    def domain_of_node(self, name: str) -> str | None: ...


class ClusterNodes(NodeDirectory, DomainDirectory, Protocol):
    """What the cron engine's sweeps need to know of nodes."""


class ProviderFailureReruns:
    def __init__(
        self,
        settings: Settings,
        nodes: DomainDirectory | None,
        failed_runs: Callable[[], Iterable[RunRecord]],  # the runs that failed (the only ones to sweep)
        entry_of: Callable[[RunRecord], CronEntry | None],
        runs_of: Callable[[CronEntry], Mapping[str, RunRecord]],
        stager: Stager,
        report: Callable[[CronEntry, str, str, str], None],
        metrics: Metrics,
        clock: Callable[[], datetime],
    ) -> None:
        self._settings = settings
        self._nodes = nodes
        self._failed_runs = failed_runs
        self._entry_of = entry_of
        self._runs_of = runs_of
        self._stager = stager
        self._report = report  # (entry, type, reason, note): an Event on the entry's ConfigMap
        self._metrics = metrics
        self._clock = clock
        self._domains = {domain.name: domain for domain in settings.domains}
        self._any_reason = frozenset(r for d in settings.domains for r in d.never_started_reasons)
        self._in_flight: set[str] = set()  # uids whose re-run was handed to the stager
        self._told: set[str] = set()  # uids whose giving up was reported

    def _failed_domain(self, run: RunRecord, chain: tuple[str, ...]) -> str:
        known = self._nodes.domain_of_node(run.node) if self._nodes is not None and run.node else None
        return known or (chain[0] if chain else "")

    def _plan(self, run: RunRecord) -> tuple[CronEntry, str, RerunPlan] | None:
        """The failed domain and the plan for a never-started failure of a known entry, else None."""
        if run.scheduled is None or not never_started_failure(run, self._any_reason):
            return None
        entry = self._entry_of(run)
        if entry is None or entry.kind != "Pod":
            return None
        chain = run.chain or self._settings.default_chain
        failed = self._failed_domain(run, chain)
        domain = self._domains.get(failed)
        if domain is not None and not never_started_failure(run, domain.never_started_reasons):
            return None
        plan = rerun_plan(
            entry,
            run,
            chain=chain,
            failed_domain=failed,
            existing=self._runs_of(entry).keys(),
            now=self._clock(),
            deadline=self._stager.deadline(entry, run.scheduled),
        )
        return entry, failed, plan

    def holds(self, run: RunRecord) -> bool:
        """The run is a failure whose re-run is still to be made: keep its finalizer and its history."""
        planned = self._plan(run)
        return planned is not None and planned[2].verdict is Verdict.RERUN

    def sweep(self) -> int:
        """Hands every due re-run to the stager and reports those given up; returns the re-runs handed."""
        handed = 0
        present: set[str] = set()
        for run in self._failed_runs():
            planned = self._plan(run)
            if planned is None:
                continue
            present.add(run.uid)
            entry, failed, plan = planned
            if plan.verdict is Verdict.RERUN and run.uid not in self._in_flight:
                handed += self._rerun(entry, run, failed, plan)
            elif plan.verdict in (Verdict.TOO_LATE, Verdict.NO_DOMAIN) and run.uid not in self._told:
                self._told.add(run.uid)
                self._give_up(entry, run, failed, plan)
        self._in_flight &= present
        self._told &= present
        return handed

    def _rerun(self, entry: CronEntry, run: RunRecord, failed: str, plan: RerunPlan) -> int:
        slot = run.scheduled
        assert slot is not None

        def created() -> None:
            self._metrics.domain_reruns.labels(failed).inc()
            log.warning(
                "slot pod failed before it started; its slot runs again",
                pod=f"{run.namespace}/{run.name}",
                domain=failed,
                reason=run.reason,
                rerun=plan.name,
                chain=",".join(plan.chain),
            )
            note = (
                f"entry {entry.name}: pod {run.name} failed in domain {failed} before it started "
                f"({run.reason}); running {rfc3339(slot)} again as {plan.name} on {', '.join(plan.chain)}"
            )
            self._report(entry, "Normal", "RerunAfterProviderFailure", note)

        order = RerunOrder(plan.name, plan.chain, run.name, created)
        if not self._stager.rerun(entry, slot, order):
            return 0  # the deadline passed meanwhile: the next sweep reports it
        self._in_flight.add(run.uid)
        return 1

    def _give_up(self, entry: CronEntry, run: RunRecord, failed: str, plan: RerunPlan) -> None:
        slot = rfc3339(run.scheduled) if run.scheduled else "its slot"
        why = (
            "its starting deadline has passed"
            if plan.verdict is Verdict.TOO_LATE
            else f"its domain chain has no domain after {failed}"
        )
        log.warning(
            "slot pod failed before it started; not run again",
            pod=f"{run.namespace}/{run.name}",
            domain=failed,
            reason=run.reason,
            why=why,
        )
        note = f"entry {entry.name}: pod {run.name} failed in domain {failed} before it started ({run.reason}); {slot} is not run again: {why}"
        self._report(entry, "Warning", "ProviderFailed", note)

    async def run(self) -> None:
        period = self._settings.cron.rerun_sweep_s
        while True:
            await anyio.sleep(period)
            try:
                self.sweep()
            except Exception:
                log.exception("re-run sweep failed; trying again next period")
