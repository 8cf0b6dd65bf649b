"""Every `jobsched.io/` name jobsched reads or writes: labels, annotations, the finalizer, field managers.

One module, so that a reader can see the whole contract with the cluster at a glance and no two modules
ever spell a name differently. Names that users set (the opt-in labels) have their defaults here too; the
settings read the configured values.
"""

from __future__ import annotations

from typing import Final

PREFIX: Final = "jobsched.io/"

# --- opt-in (set by users; the settings may name other labels) -------------------------------------
NAMESPACE_OPT_IN_LABEL: Final = PREFIX + "enabled"  # on a Namespace: "true" lets jobsched create there
CRON_CONFIGMAP_LABEL: Final = PREFIX + "cron"  # on a ConfigMap: "true" marks it as holding cron entries
STATUS_CONFIGMAP_VALUE: Final = (
    "status"  # CRON_CONFIGMAP_LABEL's value on the status ConfigMaps jobsched writes
)
# On a batch/v1 CronJob: "true" hands its slots to jobsched (docs/cronjob-migration.md); removing it
# hands them back to the native CronJob controller.
MANAGED_CRONJOB_LABEL: Final = PREFIX + "managed"

# --- on the objects created for a slot --------------------------------------------------------------
ENTRY_LABEL: Final = PREFIX + "entry"  # "<source>.<entry>", or a hashed form of it (naming.label_value)
CONFIGMAP_LABEL: Final = PREFIX + "configmap"  # the source ConfigMap's name (label-safe)
SCHEDULED_TIME_ANNOTATION: Final = PREFIX + "scheduled-time"  # the slot, RFC 3339 UTC
DOMAINS_ANNOTATION: Final = (
    PREFIX + "domains"
)  # the pod's domain chain, "virtual,regular" (also on a CronJob)
# The scheduler orders its queue by this; spec.priority is not used because the Priority admission
# plugin rejects pods that set it without a matching priorityClassName.
PRIORITY_ANNOTATION: Final = PREFIX + "priority"
TRACKING_FINALIZER: Final = PREFIX + "tracking"  # a slot pod keeps it until its outcome is recorded
# On a pod that runs a slot again after its first pod failed before it started (a provider failure):
# the name of that first pod. A re-run is never run again.
RERUN_OF_ANNOTATION: Final = PREFIX + "rerun-of"

# On a Job jobsched made for an adopted CronJob: the CronJob's lastScheduleTime before this slot was
# claimed ("" for none), restored if the slot is called off before it fires (suspend, schedule edit).
PREVIOUS_SCHEDULE_ANNOTATION: Final = PREFIX + "previous-schedule-time"

# --- batch/v1's own names, which an adopted CronJob's Jobs carry as the native controller's do ----------
CRONJOB_SCHEDULED_TIMESTAMP: Final = "batch.kubernetes.io/cronjob-scheduled-timestamp"

# --- manual runs (`jobsched trigger`) ------------------------------------------------------------------
# On a Pod or Job a user asked for with `jobsched trigger`: when, RFC 3339 UTC. It carries the entry's
# labels but no scheduled-time annotation: a manual run is no slot (lastScheduleTime is unchanged).
MANUAL_ANNOTATION: Final = PREFIX + "manual"

# --- status ConfigMaps ---------------------------------------------------------------------------------
STATUS_FOR_LABEL: Final = PREFIX + "status-for"  # on a status ConfigMap: its source ConfigMap's name
STATUS_SUFFIX: Final = "-jobsched-status"  # a status ConfigMap is named "<source>-jobsched-status"

# --- who writes --------------------------------------------------------------------------------------
REPORTING_CONTROLLER: Final = PREFIX + "scheduler"  # events.k8s.io reportingController
STATUS_FIELD_MANAGER: Final = "jobsched-cron"  # server-side apply of status ConfigMaps

# --- dev cluster and bench ---------------------------------------------------------------------------
DEV_NODE_LABEL: Final = PREFIX + "dev-node"  # "virtual" or "regular" on the dev cluster's kwok nodes
BENCH_LABEL: Final = PREFIX + "bench"  # on every object a benchmark creates, for clean-up
