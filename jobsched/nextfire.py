"""`jobsched next FILE... [--count N] [--after T]`: when will these entries fire, in UTC and in their zone?

Runs the engine's own parser and slot math offline, so what it prints is what the engine will do,
DST rules included. Files are read as `jobsched validate` reads them, and every problem it would
report is printed too (to stderr), with exit status 1: a bad entry is never skipped silently.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final

from jobsched.core.cronentry import CronEntry
from jobsched.core.cronlimits import show
from jobsched.core.cronslots import next_slot
from jobsched.core.naming import rfc3339
from jobsched.validate import check_file

MAX_COUNT: Final = 1000


def count_arg(text: str) -> int:
    """--count: a whole number from 1 to MAX_COUNT (argparse type)."""
    try:
        count = int(text)
    except ValueError:
        count = 0
    if not 1 <= count <= MAX_COUNT:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to {MAX_COUNT}, got {show(text)}")
    return count


def after_arg(text: str) -> datetime:
    """--after: an RFC 3339 instant; a date, or a time without offset, is read as UTC (argparse type)."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{show(text)} is not an instant such as 2026-03-08T00:00:00Z (or a date, read as UTC)"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def entries_in(paths: Sequence[str]) -> tuple[list[CronEntry], list[str]]:
    """The valid entries of every ConfigMap in paths, and a line for every problem (as validate has it)."""
    entries: list[CronEntry] = []
    problems: list[str] = []
    for path in paths:
        checked = check_file(path)
        entries.extend(checked.entries)
        problems.extend(checked.problems)
    return entries, problems


def next_fires(entry: CronEntry, after: datetime, count: int) -> list[datetime]:
    """The first `count` slots of `entry` after `after`; fewer if the calendar (year 9999) ends first."""
    slots: list[datetime] = []
    moment = after
    try:
        for _ in range(count):
            moment = next_slot(entry, moment)
            slots.append(moment)
    except (ValueError, OverflowError):
        pass  # past year 9999, where datetime ends
    return slots


def main(paths: Sequence[str], count: int = 5, after: datetime | None = None) -> int:
    """Prints fire times to stdout and problems to stderr; 1 if there were problems, else 0."""
    start = after or datetime.now(UTC)
    entries, problems = entries_in(paths)
    for line in problems:
        print(line, file=sys.stderr)
    for entry in entries:
        label = f"{entry.namespace}/{entry.configmap}/{entry.name}"
        if entry.suspend:
            print(f"{label}  suspended")
            continue
        fires = next_fires(entry, start, count)
        for slot in fires:
            local = slot.astimezone(entry.zone)
            print(f"{label}  {rfc3339(slot)}  {local.isoformat()} ({entry.time_zone})")
        if len(fires) < count:
            print(f"{label}  no more fire times before the year 10000")
    return 1 if problems else 0
