"""How fast the pods of pre-staged Jobs appear: the rate that sizes a Job storm's lead.

jobsched creates a slot's Job; kube-controller-manager's Job controller creates its pods, at that
controller's own client rate (QPS 20, burst 30 by default, shared with its Events and Job status
writes). A Job storm is staged in time only if its pods exist by the slot, so its lead is sized from the
rate at which those pods were seen to appear (this process's pod watch), not from jobsched's own create
rate. Each storm of Jobs is one sample: its pods seen, over the time from the start of its staging to
the last one seen. Until a sample exists, `cron.assumedJobPodRate` stands in.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

from jobsched.core import cronplan
from jobsched.core.convert import PodRecord

log = structlog.get_logger(__name__)

SAMPLE_WINDOW = timedelta(seconds=60)  # a storm whose pods are still missing this long after its slot ends


@dataclass
class _Storm:
    expected: int
    started: float  # monotonic: when its staging began
    last: float = 0.0  # monotonic: when its latest pod was seen
    seen: set[str] = field(default_factory=set)


class JobPodMeter:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._storms: dict[datetime, _Storm] = {}
        self.rate: float | None = None  # pods/s, EWMA over storms

    def expect(self, instant: datetime, pods: int) -> None:
        """A storm's Jobs are being staged now; `pods` of theirs will appear (parallelism each)."""
        if pods <= 0:
            return
        storm = self._storms.get(instant)
        if storm is None:
            self._storms[instant] = _Storm(pods, self._clock())
        else:
            storm.expected += pods

    def seen(self, event_type: str, record: PodRecord) -> None:
        """A pod of a slot Job, from the pod watch."""
        storm = self._storms.get(record.scheduled) if record.scheduled is not None else None
        if storm is None or event_type == "DELETED" or record.uid in storm.seen:
            return
        storm.seen.add(record.uid)
        storm.last = self._clock()
        if len(storm.seen) >= storm.expected:
            self._finish(record.scheduled)  # type: ignore[arg-type] # not None: the storm was found by it

    def expire(self, now: datetime) -> None:
        """Ends the samples of storms whose pods did not all appear (some Jobs were not created)."""
        for instant in [i for i in self._storms if i + SAMPLE_WINDOW < now]:
            self._finish(instant)

    def _finish(self, instant: datetime) -> None:
        storm = self._storms.pop(instant)
        count = len(storm.seen)
        if count < cronplan.MIN_RATE_SAMPLE or storm.last <= storm.started:
            return
        elapsed = storm.last - storm.started
        self.rate = cronplan.ewma(self.rate, count / elapsed)
        log.info(
            "job pods appeared",
            instant=instant.isoformat(),
            pods=count,
            expected=storm.expected,
            seconds=round(elapsed, 2),
            rate=round(count / elapsed, 1),
            ewma=round(self.rate, 1),
        )
