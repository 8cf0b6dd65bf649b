"""What becomes of a cron pod whose node is gone: jobsched's own PodGC, for the pods it owns.

The apiserver accepts a Binding to any node name, so a node deleted while a storm binds to it (or
just after) leaves pods bound to nothing: no kubelet will ever start them, and a pod that was running
there will never report an end. kube-controller-manager's PodGC deletes such pods and a Job
controller makes new ones; a cron pod in pod mode has no controller but jobsched, so jobsched does it:
- a pod that never started is replaced: deleted, and its slot created again under the same name
  (it never ran, so running it now is still "once");
- a pod that had started is recorded as Failed with reason NodeLost, as PodGC does: it did run, and
  running it again would be a second run of its slot.
A node counts as gone only when the scheduler's synced node cache has lacked it for a grace period
(cron.nodeLossGraceSeconds, 40 s by default like PodGC's quarantine): a watch that lags behind a new
node never condemns its pods, and a node object deleted while its kubelet still runs comes back (the
kubelet registers it again) and runs them itself, instead of jobsched running the slot a second time.
"""

from __future__ import annotations

import enum

from jobsched.core.cronruns import RunRecord


class LossAction(enum.Enum):
    REPLACE = "replace"
    FAIL = "fail"


def loss_action(run: RunRecord) -> LossAction | None:
    """For a run whose node is gone: what to do, or None when there is nothing to do."""
    if run.kind != "Pod" or run.done or run.deleting or not run.node:
        return None
    return LossAction.FAIL if run.started else LossAction.REPLACE
