"""The storm being measured: how many crons, on which nodes, firing when.

A Scenario is read once from the command line and shared by every system, so jobsched, the native
pipeline and the raw ceiling are measured on the same nodes, with the same pods, in the same run.
Cron has minute resolution, so a system driven by cron fires on a minute boundary; `fire_time`
picks the next boundary that leaves enough lead for set-up (creating thousands of objects).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from jobsched.core.vocabulary import BENCH_LABEL
from jobsched.devcluster.nodes import REGULAR_SHAPE, VIRTUAL_SHAPE, NodeShape, node_body
from jobsched.devcluster.provider.limits import ProviderLimits

NODE_PREFIX = "bench-"
# Setup rates measured on 2 cores, with margin: CronJob/ConfigMap writes and jobsched's pre-staging.
SETUP_OBJECTS_PER_S = 150.0
BASE_LEAD_S = 15.0


@dataclass(frozen=True)
class Scenario:
    crons: int = 1000
    virtual_nodes: int = 100
    regular_nodes: int = 20
    virtual_capacity_pods: int | None = None  # None: every virtual node keeps VIRTUAL_SHAPE's pods
    run_seconds: float = 30.0
    repeats: int = 1
    lead_s: float | None = None  # None: default_lead()
    deadline_s: float | None = None  # None: default_deadline()
    fire_at: datetime | None = None  # the first run's fire time; None: next minute boundary
    # The provider simulator plays the virtual nodes with these limits when any is given (the others
    # then default to 20 launches/s, burst 100, no quota); None for all: kwok plays them.
    virtual_launch_rate: float | None = None
    virtual_launch_burst: int | None = None
    virtual_quota_pods: int | None = None

    def __post_init__(self) -> None:
        self.provider_limits()  # raises ValueError (LimitsError) naming a bad limit
        if self.crons < 1:
            raise ValueError("crons: must be at least 1")
        if self.virtual_nodes < 0 or self.regular_nodes < 0 or self.virtual_nodes + self.regular_nodes < 1:
            raise ValueError("virtual_nodes/regular_nodes: need at least one node")
        if self.virtual_capacity_pods is not None and self.virtual_capacity_pods < 0:
            raise ValueError("virtual_capacity_pods: must not be negative")
        if self.repeats < 1:
            raise ValueError("repeats: must be at least 1")
        if self.fire_at is not None and self.fire_at.tzinfo is None:
            raise ValueError("fire_at: must carry a time zone")

    @property
    def lead(self) -> float:
        """Seconds between the start of a system's set-up and its fire time, at least."""
        if self.lead_s is not None:
            return self.lead_s
        return BASE_LEAD_S + self.crons / SETUP_OBJECTS_PER_S

    @property
    def deadline(self) -> float:
        """Seconds after fire by which every slot must have a bound pod, else it is missed.

        Generous: native at defaults drains 1,000 pods in about two minutes (≈ 10 pods/s).
        """
        if self.deadline_s is not None:
            return self.deadline_s
        return 60.0 + 0.15 * self.crons

    def virtual_pod_limits(self) -> list[int]:
        """The pods limit of each virtual node, so the virtual domain holds virtual_capacity_pods."""
        if self.virtual_capacity_pods is None:
            return [VIRTUAL_SHAPE.pods] * self.virtual_nodes
        base, extra = divmod(self.virtual_capacity_pods, max(self.virtual_nodes, 1))
        return [base + (1 if i < extra else 0) for i in range(self.virtual_nodes)]

    def provider_limits(self) -> ProviderLimits | None:
        """The provider simulator's limits, or None when kwok plays the virtual nodes."""
        given = (self.virtual_launch_rate, self.virtual_launch_burst, self.virtual_quota_pods)
        if all(value is None for value in given):
            return None
        defaults = ProviderLimits()
        return ProviderLimits(
            launch_rate=defaults.launch_rate
            if self.virtual_launch_rate is None
            else self.virtual_launch_rate,
            launch_burst=defaults.launch_burst
            if self.virtual_launch_burst is None
            else self.virtual_launch_burst,
            quota_pods=self.virtual_quota_pods or 0,
        )

    def node_bodies(self) -> list[dict[str, Any]]:
        bodies = []
        by_kwok = self.provider_limits() is None
        for i, pods in enumerate(self.virtual_pod_limits()):
            shape = NodeShape(VIRTUAL_SHAPE.cpu, VIRTUAL_SHAPE.memory, pods)
            bodies.append(node_body(f"{NODE_PREFIX}virtual-{i:04d}", "virtual", shape, by_kwok=by_kwok))
        for i in range(self.regular_nodes):
            bodies.append(node_body(f"{NODE_PREFIX}regular-{i:04d}", "regular", REGULAR_SHAPE))
        for body in bodies:
            body["metadata"]["labels"][BENCH_LABEL] = "true"
        return bodies

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["fire_at"] = rfc3339(self.fire_at) if self.fire_at else None
        data["lead_s"] = round(self.lead, 1)
        data["deadline_s"] = self.deadline
        data["virtual_capacity_pods"] = sum(self.virtual_pod_limits())
        return data


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_fire_at(text: str) -> datetime:
    """An RFC 3339 time ("2025-01-01T00:00:00Z") or an offset from now ("+45s")."""
    if text.startswith("+"):
        return datetime.now(UTC) + timedelta(seconds=float(text[1:].rstrip("s")))
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def fire_time(now: datetime, lead_s: float, minute_aligned: bool) -> datetime:
    """The first instant at least lead_s after now: a minute boundary for cron, else a whole second."""
    earliest = now + timedelta(seconds=lead_s)
    if minute_aligned:
        floor = earliest.replace(second=0, microsecond=0)
        return floor if floor == earliest else floor + timedelta(minutes=1)
    return earliest.replace(microsecond=0) + timedelta(seconds=1 if earliest.microsecond else 0)


def cron_schedule(moment: datetime) -> str:
    """A daily five-field schedule for moment's minute, in UTC."""
    utc = moment.astimezone(UTC)
    if utc.second or utc.microsecond:
        raise ValueError(f"cron fires on minute boundaries; {rfc3339(utc)} is not one")
    return f"{utc.minute} {utc.hour} * * *"


def entry_names(crons: int) -> list[str]:
    width = max(5, math.ceil(math.log10(crons + 1)))
    return [f"storm-{i:0{width}d}" for i in range(crons)]
