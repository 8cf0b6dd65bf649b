"""The process's watches: one per resource, each event decoded once and handed to every consumer.

The scheduler and the cron engine both follow pods. Rather than each keeping a watch and decoding every
pod twice, one pod watch feeds a `PodFeed`, which turns each event into one `PodRecord` and gives it to
both. Nodes go to the scheduler; namespaces, ConfigMaps, CronJobs and Jobs to the engine. The selectors follow
from who listens: the scheduler alone needs only non-terminal pods, the engine alone only its slot
pods, together every pod. CronJobs are watched only with the managed label (adopted ones).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import anyio

from jobsched.core.convert import PodRecord
from jobsched.core.vocabulary import ENTRY_LABEL
from jobsched.kube.client import KubeClient
from jobsched.kube.informer import Informer, Resource, informer_for
from jobsched.runtime.cron.engine import CronEngine
from jobsched.runtime.scheduling.scheduler import Scheduler
from jobsched.settings import Settings

NON_TERMINAL = "status.phase!=Succeeded,status.phase!=Failed"


class PodConsumer(Protocol):
    def pods_replaced(self, records: list[PodRecord]) -> None: ...

    def pod_changed(self, event_type: str, record: PodRecord) -> None: ...


class PodFeed:
    """The pod watch's handler: decodes each event once and fans it out, in a fixed order."""

    def __init__(self, consumers: Sequence[PodConsumer], extra_dimensions: Mapping[str, str]) -> None:
        self._consumers = tuple(consumers)
        self._extra = extra_dimensions

    def replace(self, items: list[dict[str, Any]]) -> None:
        records = [PodRecord(item, self._extra) for item in items]
        for consumer in self._consumers:
            consumer.pods_replaced(records)

    def apply(self, event_type: str, obj: dict[str, Any]) -> None:
        record = PodRecord(obj, self._extra)
        for consumer in self._consumers:
            consumer.pod_changed(event_type, record)


class Watches:
    """Builds and runs the informers of whichever parts the process has."""

    def __init__(
        self,
        client: KubeClient,
        settings: Settings,
        scheduler: Scheduler | None = None,
        engine: CronEngine | None = None,
    ) -> None:
        informers: list[Informer] = []
        pod_consumers: list[PodConsumer] = []
        if scheduler is not None:
            informers.append(informer_for(client, Resource.NODES, scheduler))
            pod_consumers.append(scheduler)
        if engine is not None:
            cron = settings.cron
            informers.append(
                informer_for(
                    client, Resource.NAMESPACES, engine.namespaces, label_selector=cron.namespace_label
                )
            )
            # The label's key, not key=value: the status ConfigMaps carry the same key (value "status").
            informers.append(
                informer_for(
                    client, Resource.CONFIGMAPS, engine.configmaps, label_selector=cron.configmap_label_key
                )
            )
            informers.append(informer_for(client, Resource.JOBS, engine.jobs, label_selector=ENTRY_LABEL))
            if engine.cronjobs is not None:
                informers.append(
                    informer_for(
                        client, Resource.CRONJOBS, engine.cronjobs, label_selector=cron.cronjob_label
                    )
                )
            pod_consumers.append(engine.pods)
        if pod_consumers:
            field_selector = NON_TERMINAL if engine is None else None
            label_selector = ENTRY_LABEL if scheduler is None else None
            feed = PodFeed(pod_consumers, settings.extra_dimensions)
            informers.append(
                informer_for(
                    client, Resource.PODS, feed, label_selector=label_selector, field_selector=field_selector
                )
            )
        self.informers = tuple(informers)

    def informer(self, resource: Resource) -> Informer:
        return next(i for i in self.informers if i.name == resource.value)

    def synced(self) -> bool:
        return all(informer.synced.is_set() for informer in self.informers)

    async def run(self) -> None:
        async with anyio.create_task_group() as tg:
            for informer in self.informers:
                tg.start_soon(informer.run)
