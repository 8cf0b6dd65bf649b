"""What the per-entry metrics say about one cron entry, from its status: kube-state-metrics' CronJob
series (`kube_cronjob_status_last_schedule_time`, `..._last_successful_time`, `kube_cronjob_next_schedule_time`,
`kube_cronjob_status_active`) for entries that are no CronJob, plus how many slots fired since it last
succeeded, which an alert on "not succeeded in its last N slots" needs and PromQL cannot compute.

Pure, so the exact meaning of each number is a table test: the runtime only exports what this returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from jobsched.core.cronentry import CronEntry
from jobsched.core.cronplan import EntryStatus
from jobsched.core.cronslots import next_slot

# slots_since_success stops counting here: alerts ask about a few slots, and counting is not free.
SLOTS_SINCE_SUCCESS_CAP: Final = 100


@dataclass(frozen=True, slots=True)
class EntrySample:
    """One entry's per-entry metric values; times are epoch seconds, None when unknown (not exported)."""

    last_schedule: float | None
    last_success: float | None
    next_schedule: float | None
    active: int
    slots_since_success: int


def _seconds(moment: datetime | None) -> float | None:
    return moment.timestamp() if moment is not None else None


def slots_between_count(entry: CronEntry, since: datetime, until: datetime, cap: int) -> int:
    """How many of the entry's slots lie in (since, until], counting at most `cap`."""
    count = 0
    slot = next_slot(entry, since)
    while slot <= until and count < cap:
        count += 1
        slot = next_slot(entry, slot)
    return count


def entry_sample(
    entry: CronEntry, status: EntryStatus | None, now: datetime, cap: int = SLOTS_SINCE_SUCCESS_CAP
) -> EntrySample:
    """The metric values of `entry`, as of `now`.

    - next_schedule: kube-state-metrics' meaning, the slot after the last one fired (after the entry was
      first tracked when none fired yet, after `now` when not even that is known). It lies in the past
      while a slot is overdue: missed, skipped (concurrencyPolicy Forbid), or not yet created. None while
      the entry is suspended, since nothing is due then.
    - slots_since_success: the slots fired after the last success (after tracking began if none
      succeeded yet), up to and including the last one fired, which may still be running; capped.
    """
    status = status or EntryStatus()
    last = status.last_schedule_time
    base = last or status.tracked_since or now
    following = None if entry.suspend else next_slot(entry, base).timestamp()
    since = status.last_successful_time or status.tracked_since
    unsuccessful = 0
    if last is not None:
        if since is None:
            unsuccessful = 1  # fired once at least, never succeeded, and nothing says since when
            since = last
        if since < last:
            unsuccessful = slots_between_count(entry, since, last, cap)
    return EntrySample(
        _seconds(last), _seconds(status.last_successful_time), following, len(status.active), unsuccessful
    )
