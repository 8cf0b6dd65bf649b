"""Parsing a tenant's ConfigMap in a worker process, inside a budget of time and memory.

ConfigMaps are tenant input, and the event loop that parses them also binds storms. So parsing never
runs on it: the ConfigMap source sends the raw object to a worker process (anyio.to_process) with a
deadline, and the worker caps its own address space. A parse that runs out of time is killed with its
worker; one that runs out of memory fails in the worker. Either way only that ConfigMap is affected:
it gets a Problem (an Event), and every other entry keeps firing.

Entries travel back pickled (jobsched.core.cronentry registers how their frozen templates pickle).
"""

from __future__ import annotations

import resource
from typing import Final

import orjson

from jobsched.core.cronentry import CronEntry, Problem
from jobsched.core.cronspec import configmap_ref, parse_configmap

# The worker's address-space cap. Generous for a 1 MiB ConfigMap (parsing one takes tens of MB) and far
# below what would hurt the node; the worker imports ~60 MB of libraries before parsing anything.
WORKER_ADDRESS_SPACE: Final = 2 << 30


_limited = False


def _limit_memory() -> None:
    global _limited
    if _limited:
        return
    _limited = True
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = WORKER_ADDRESS_SPACE if hard == resource.RLIM_INFINITY else min(WORKER_ADDRESS_SPACE, hard)
    if soft == resource.RLIM_INFINITY or soft > cap:
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))


def parse_raw(raw: bytes, scheduler_name: str) -> tuple[list[CronEntry], list[Problem]]:
    """A raw ConfigMap's JSON to entries and problems (in whichever process or thread calls it)."""
    obj = orjson.loads(raw)
    try:
        return parse_configmap(obj, scheduler_name)
    except MemoryError:
        namespace, name = configmap_ref(obj)
        problem = Problem(
            f"{namespace}/{name}", None, "data", "too large to parse: over the parser's memory budget"
        )
        return [], [problem]


def parse_in_worker(raw: bytes, scheduler_name: str) -> tuple[list[CronEntry], list[Problem]]:
    """Runs in a worker process only: caps the process's address space first (never call it in the
    scheduler's own process, whose children would inherit the cap)."""
    _limit_memory()
    return parse_raw(raw, scheduler_name)
