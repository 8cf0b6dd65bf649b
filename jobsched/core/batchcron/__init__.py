"""batch/v1 CronJob schedules, read and evaluated exactly as Kubernetes does.

jobsched's own ConfigMap entries use croniter with jobsched's DST rules (`jobsched.core.cronslots`).
An adopted CronJob must instead fire on the very slots the native CronJob controller would pick, so
this package ports what decides them: robfig/cron v3.0.1's standard parser and Next (`parse`,
`spec`, over Go's string and time rules in `gotext` and `gotime`), kube-apiserver's validation of
`spec.schedule`, and the controller's choice of the slot to fire (`controller`). It is checked
against vectors generated from the Go code (tests/vectors/robfig).
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
