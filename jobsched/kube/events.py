"""Kubernetes Events, written late and aggregated so a storm never doubles its API writes.

kube-scheduler writes one Event per scheduled pod, which at the fire second halves the bind rate.
Here events are queued; the writer sleeps while the binder reports a burst in progress and then
drains the queue with a small number of requests in flight. Identical events (same object, reason
and message) collapse into one with a count. If the queue overflows, the oldest Normal events go
first and each one dropped is reported to `on_drop` (the runtime counts it in a metric).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import anyio
import structlog

from jobsched.core.vocabulary import REPORTING_CONTROLLER
from jobsched.kube import paths
from jobsched.kube.client import KubeClient, TransportError

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class ObjectRef:
    kind: str
    namespace: str
    name: str
    uid: str = ""
    api_version: str = "v1"


@dataclass(frozen=True, slots=True)
class EventRecord:
    regarding: ObjectRef
    type: str  # Normal or Warning
    reason: str  # Scheduled, FailedScheduling, InvalidCronEntry, ...
    action: str  # Binding, Scheduling, Validating, ...
    note: str


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


NOTE_MAX_BYTES = 1024  # the apiserver's limit, counted in UTF-8 bytes, not characters


def _fit_note(note: str) -> str:
    """The note cut to fit, never inside a multi-byte character (a longer one is refused with 422)."""
    encoded = note.encode()
    if len(encoded) <= NOTE_MAX_BYTES:
        return note
    return encoded[:NOTE_MAX_BYTES].decode(errors="ignore")


def event_body(record: EventRecord, count: int, instance: str) -> dict[str, object]:
    ref = record.regarding
    regarding: dict[str, str] = {"kind": ref.kind, "namespace": ref.namespace, "name": ref.name}
    if ref.uid:
        regarding["uid"] = ref.uid
    if ref.api_version:
        regarding["apiVersion"] = ref.api_version
    body: dict[str, object] = {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": f"{ref.name[:200]}.{uuid.uuid4().hex[:16]}", "namespace": ref.namespace},
        "eventTime": _now(),
        "reportingController": REPORTING_CONTROLLER,
        "reportingInstance": instance,
        "action": record.action,
        "reason": record.reason,
        "regarding": regarding,
        "note": _fit_note(record.note),
        "type": record.type,
    }
    if count > 1:
        body["series"] = {"count": count, "lastObservedTime": _now()}
    return body


class EventWriter:
    """Queue of events, flushed when the binder is quiet."""

    def __init__(
        self,
        client: KubeClient,
        instance: str,
        busy: Callable[[], bool] = lambda: False,
        max_queue: int = 50_000,
        in_flight: int = 4,
        on_drop: Callable[[], None] = lambda: None,
    ) -> None:
        self._client = client
        self._instance = instance
        self.busy = busy
        self._max_queue = max_queue
        self._in_flight = in_flight
        self._on_drop = on_drop
        self._queue: OrderedDict[EventRecord, int] = OrderedDict()
        self._wake = anyio.Event()

    def emit(self, record: EventRecord) -> None:
        if record in self._queue:
            self._queue[record] += 1
            return
        if len(self._queue) >= self._max_queue:
            self._drop_one()
        self._queue[record] = 1
        self._wake.set()

    def _drop_one(self) -> None:
        for rec in self._queue:
            if rec.type == "Normal":
                del self._queue[rec]
                break
        else:
            self._queue.popitem(last=False)
        self._on_drop()

    @property
    def pending(self) -> int:
        return len(self._queue)

    async def run(self) -> None:
        """Runs until cancelled."""
        while True:
            if not self._queue:
                self._wake = anyio.Event()
                await self._wake.wait()
            while self.busy():  # noqa: ASYNC110 - the binder's flag is polled, not signalled
                await anyio.sleep(0.25)
            batch: list[tuple[EventRecord, int]] = []
            while self._queue and len(batch) < 256:
                batch.append(self._queue.popitem(last=False))
            # A few workers share the batch: a task per event would cost more than its write.
            pending = iter(batch)
            async with anyio.create_task_group() as tg:
                for _ in range(min(self._in_flight, len(batch))):
                    tg.start_soon(self._write_all, pending)

    async def _write_all(self, pending: Iterator[tuple[EventRecord, int]]) -> None:
        for record, count in pending:
            await self._write(record, count)

    async def _write(self, record: EventRecord, count: int) -> None:
        path = paths.events(record.regarding.namespace)
        try:
            resp = await self._client.request_retrying(
                "POST", path, event_body(record, count, self._instance), attempts=3, timeout=10
            )
        except TransportError as err:
            log.warning(
                "event write failed", reason=record.reason, object=record.regarding.name, error=repr(err)
            )
            return
        if not resp.ok:
            log.warning(
                "event rejected",
                reason=record.reason,
                object=f"{record.regarding.namespace}/{record.regarding.name}",
                status=resp.status,
                message=resp.message(),
            )
