"""batch/v1 CronJob schedules, read and evaluated exactly as Kubernetes does.

jobsched's own ConfigMap entries use croniter with jobsched's DST rules (`jobsched.core.cronslots`).
An adopted CronJob must instead fire on the very slots the native CronJob controller would pick, so
this package ports what decides them: robfig/cron v3.0.1's standard parser and Next (`parse`,
`spec`, over Go's string and time rules in `gotext` and `gotime`), kube-apiserver's validation of
`spec.schedule`, and the controller's choice of the slot to fire (`controller`). It is checked
against vectors generated from the Go code (tests/vectors/robfig).

The interface:

* `parse_batch_schedule(text)` → `BatchSchedule`, or CronSpecError with kube-apiserver's reason for
  anything a new CronJob may not hold (TZ= prefixes included). Cached.
* `BatchSchedule.next_after(after, zone)` → the first fire time strictly after `after`, aware UTC.
  `zone` is spec.timeZone, or kube-controller-manager's local zone for CronJobs without one.
* `most_recent_schedule_time(schedule, zone, earliest, now, starting_deadline_seconds=...)` → the
  controller's `MostRecent` (slot, its estimated count, none/few/many); `earliest` is
  lastScheduleTime, else creationTimestamp. With the deadline it is the slot to fire now.
* `latest_at_or_before(schedule, zone, at)` → the last fire time at or before `at`.
* All of them raise `UnfireableSchedule` (a CronSpecError) for schedules the API accepts but that
  never fire (``0 0 30 2 *``), where the controller reports InvalidSchedule.

`CronEntry(dialect="batch/v1")` makes `cronslots` use all this for an entry.
"""

from jobsched.core.batchcron.controller import MostRecent, latest_at_or_before, most_recent_schedule_time
from jobsched.core.batchcron.parse import parse_batch_schedule
from jobsched.core.batchcron.spec import BatchSchedule, UnfireableSchedule

__all__ = [
    "BatchSchedule",
    "MostRecent",
    "UnfireableSchedule",
    "latest_at_or_before",
    "most_recent_schedule_time",
    "parse_batch_schedule",
]
