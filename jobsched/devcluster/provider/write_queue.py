"""Bounded-concurrency API writes for the provider simulator, with retries and an outcome callback.

Status patches for a burst of launches go out through a fixed number of workers on one connection
pool (raw JSON), so a thousand pods cost a thousand small requests and never a thousand tasks. 429,
5xx and transport errors are retried with jittered backoff by the client; a 409 (a write that raced
another) is retried here. The caller learns each write's outcome through a callback, on the event loop.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import anyio
import structlog

from jobsched.kube.client import KubeClient, Response

log = structlog.get_logger(__name__)

CONFLICT_ATTEMPTS = 5
REQUEST_TIMEOUT_S = 15.0
STRATEGIC_MERGE = "application/strategic-merge-patch+json"
MERGE = "application/merge-patch+json"


@dataclass(frozen=True, slots=True)
class Write:
    method: str
    path: str
    body: Any
    content_type: str = "application/json"
    done: Callable[[Response | None], None] | None = None  # None as the argument: every attempt failed
    what: str = ""  # for the log: which object and why


class WriteQueue:
    def __init__(self, client: KubeClient, workers: int) -> None:
        self._client = client
        self._workers = workers
        self._send, self._receive = anyio.create_memory_object_stream[Write](math.inf)
        self.failed = 0

    @property
    def depth(self) -> int:
        return self._receive.statistics().current_buffer_used

    def put(self, write: Write) -> None:
        self._send.send_nowait(write)

    async def run(self) -> None:
        async with anyio.create_task_group() as tg:
            for _ in range(self._workers):
                tg.start_soon(self._work)

    async def _work(self) -> None:
        async for write in self._receive:
            response = await self._carry_out(write)
            if write.done is not None:
                write.done(response)

    async def _carry_out(self, write: Write) -> Response | None:
        delay = 0.05
        for attempt in range(CONFLICT_ATTEMPTS):
            try:
                response = await self._client.request_retrying(
                    write.method,
                    write.path,
                    write.body,
                    timeout=REQUEST_TIMEOUT_S,
                    content_type=write.content_type,
                )
            except (aiohttp.ClientError, TimeoutError) as err:
                self.failed += 1
                log.warning("provider write failed in transport", what=write.what, error=str(err))
                return None
            if response.status != 409 or attempt == CONFLICT_ATTEMPTS - 1:
                if not response.ok and response.status not in (404, 409):
                    log.warning(
                        "provider write refused",
                        what=write.what,
                        status=response.status,
                        message=response.message(),
                    )
                return response
            await anyio.sleep(delay * (0.5 + random.random()))
            delay *= 2
        raise AssertionError("unreachable")
