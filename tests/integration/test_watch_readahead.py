"""A watch whose reader is busy is read ahead into memory, so the apiserver never waits on it.

The apiserver gives each resource's watchers one shared dispatch budget (50 ms a second, at most
100 ms): a watcher that does not take its events spends it for all of them, and is then closed. A
scheduler busy binding a storm must not be that watcher. Time bounds are hang guards, not timing
assertions.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator

import anyio
import orjson
import pytest

from jobsched.kube.client import WATCH_READ_BUFSIZE, KubeClient

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

MAPS = 1500
PAYLOAD = "x" * 3000  # 1,500 events of ~3.4 KB: several MB, more than the kernel's socket buffers


async def test_a_watch_not_read_for_a_while_keeps_its_stream_and_misses_nothing(
    kube: KubeClient, namespace: str
) -> None:
    assert MAPS * (len(PAYLOAD) + 600) < 2 * WATCH_READ_BUFSIZE  # it all fits in the read-ahead
    cms = f"/api/v1/namespaces/{namespace}/configmaps"
    listed = await kube.get_json(cms)
    params = {"watch": "true", "resourceVersion": listed["metadata"]["resourceVersion"]}
    seen: set[str] = set()
    with anyio.fail_after(120):
        stream = kube.stream_lines(cms, params, read_timeout=60)
        assert isinstance(stream, AsyncGenerator)  # closed when the test stops reading early
        async with contextlib.aclosing(stream) as lines:
            # Open the watch with a first event, then stop reading while the rest are written.
            await kube.request("POST", cms, {"metadata": {"name": "first"}, "data": {"k": "v"}})
            first = orjson.loads(await anext(lines))
            assert first["object"]["metadata"]["name"] == "first"
            limiter = anyio.CapacityLimiter(32)

            async def create(i: int) -> None:
                async with limiter:
                    body = {"metadata": {"name": f"cm-{i:05d}"}, "data": {"k": PAYLOAD}}
                    resp = await kube.request_retrying("POST", cms, body)
                    assert resp.ok, resp.message()

            async with anyio.create_task_group() as tg:
                for i in range(MAPS):
                    tg.start_soon(create, i)
            await anyio.sleep(2)  # still not reading: the apiserver would have given up on us by now
            async for line in lines:
                event = orjson.loads(line)
                if event["type"] == "ADDED":
                    seen.add(event["object"]["metadata"]["name"])
                if len(seen) == MAPS:
                    break
    # The same stream carried every event: the apiserver did not close it as unresponsive.
    assert len(seen) == MAPS
