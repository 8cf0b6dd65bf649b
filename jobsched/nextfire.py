"""`jobsched next FILE... [--count N]`: when will these entries fire, in UTC and in their own zone?

Runs the engine's own parser and slot math offline, so what it prints is what the engine will do,
DST rules included. Entries with problems are skipped here; `jobsched validate` explains them.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import UTC, datetime

import yaml

from jobsched.core.cronslots import next_slot
from jobsched.core.cronspec import YAML_LOADER, CronEntry, parse_configmap
from jobsched.core.naming import rfc3339
from jobsched.validate import configmap_documents


def entries_in(paths: Sequence[str]) -> tuple[list[CronEntry], list[str]]:
    """The valid entries of every ConfigMap in paths, and one error line per unreadable file."""
    entries: list[CronEntry] = []
    errors: list[str] = []
    for path in paths:
        try:
            with open(path, encoding="utf-8") as handle:
                docs = list(configmap_documents(yaml.load_all(handle.read(), Loader=YAML_LOADER)))
        except (OSError, UnicodeDecodeError, yaml.YAMLError, RecursionError) as exc:
            errors.append(f"{path}: {' '.join(str(exc).split())}")
            continue
        for doc in docs:
            entries.extend(parse_configmap(doc)[0])
    return entries, errors


def next_fires(entry: CronEntry, after: datetime, count: int) -> list[datetime]:
    slots: list[datetime] = []
    moment = after
    for _ in range(count):
        moment = next_slot(entry, moment)
        slots.append(moment)
    return slots


def main(paths: Sequence[str], count: int = 5, after: datetime | None = None) -> int:
    start = after or datetime.now(UTC)
    entries, errors = entries_in(paths)
    for line in errors:
        print(f"error: {line}", file=sys.stderr)
    for entry in entries:
        label = f"{entry.namespace}/{entry.configmap}/{entry.name}"
        if entry.suspend:
            print(f"{label}  suspended")
            continue
        for slot in next_fires(entry, start, count):
            local = slot.astimezone(entry.zone)
            print(f"{label}  {rfc3339(slot)}  {local.isoformat()} ({entry.time_zone})")
    return 1 if errors else 0
