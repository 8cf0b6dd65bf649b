"""The fault proxy against the real control plane, seen through jobsched's own KubeClient and Informer.

Time bounds (anyio.fail_after) are hang guards, not timing assertions.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest
import yaml

from jobsched.devcluster.state import ClusterState
from jobsched.kube.client import KubeClient, TransportError
from jobsched.kube.informer import Informer
from tests.support.faultproxy import FaultPlan, FaultProxy

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def aclosing(stream: AsyncIterator[bytes]) -> contextlib.aclosing[AsyncGenerator[bytes]]:
    """stream_lines is an async generator; close it when the reader stops early."""
    assert isinstance(stream, AsyncGenerator)
    return contextlib.aclosing(stream)


def configmap(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}}


@contextlib.asynccontextmanager
async def through_proxy(
    control_plane: ClusterState, plan: FaultPlan, tmp_path: Path, seed: int = 0
) -> AsyncIterator[tuple[FaultProxy, KubeClient]]:
    async with FaultProxy(control_plane, plan, seed=seed) as proxy:
        kubeconfig = proxy.write_kubeconfig(tmp_path / "proxy.kubeconfig")
        async with KubeClient.connect(str(kubeconfig)) as client:
            yield proxy, client


async def read_watch(client: KubeClient, path: str, params: dict[str, str], until: str) -> list[Any]:
    """Watch events until one whose type is `until` (or the stream ends)."""
    events: list[Any] = []
    with anyio.fail_after(60):
        async with aclosing(client.stream_lines(path, params, read_timeout=60)) as lines:
            async for line in lines:
                events.append(orjson.loads(line))
                if events[-1]["type"] == until:
                    break
    return events


async def test_without_faults_requests_and_watches_pass_through(
    control_plane: ClusterState, kube: KubeClient, namespace: str, tmp_path: Path
) -> None:
    cms = f"/api/v1/namespaces/{namespace}/configmaps"
    async with through_proxy(control_plane, FaultPlan(), tmp_path) as (proxy, client):
        config = yaml.safe_load((tmp_path / "proxy.kubeconfig").read_text())
        admin = yaml.safe_load(control_plane.kubeconfig.read_text())
        assert config["clusters"][0]["cluster"]["server"] == proxy.url
        assert proxy.url.startswith("https://127.0.0.1:")
        assert config["users"] == admin["users"]
        ca = "certificate-authority-data"
        assert config["clusters"][0]["cluster"][ca] == admin["clusters"][0]["cluster"][ca]

        listed = await client.get_json(cms)
        assert listed["items"] == []
        resp = await client.request("POST", cms, configmap("a"))
        assert resp.status == 201, resp.message()
        assert (await client.get_json(f"{cms}/a"))["data"] == {"k": "v"}

        # From the list's resourceVersion the ADDED event of "a" arrives whenever the watch starts;
        # the DELETED event after it is live, so it proves the stream is not buffered.
        params = {"watch": "true", "resourceVersion": listed["metadata"]["resourceVersion"]}
        events: list[Any] = []
        with anyio.fail_after(60):
            async with aclosing(client.stream_lines(cms, params, read_timeout=60)) as lines:
                async for line in lines:
                    events.append(orjson.loads(line))
                    if events[-1]["type"] == "ADDED":
                        resp = await client.request("DELETE", f"{cms}/a")
                        assert resp.status == 200, resp.message()
                    if events[-1]["type"] == "DELETED":
                        break
        assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
            ("ADDED", "a"),
            ("DELETED", "a"),
        ]
        assert (await client.request("GET", f"{cms}/a")).status == 404
        assert proxy.counts == {"forwarded": 6}


async def test_every_request_gets_429_with_retry_after_but_watches_pass(
    control_plane: ClusterState, namespace: str, tmp_path: Path
) -> None:
    cms = f"/api/v1/namespaces/{namespace}/configmaps"
    async with through_proxy(control_plane, FaultPlan(rate_429=1.0), tmp_path) as (proxy, client):
        for method, body in [("GET", None), ("POST", configmap("x")), ("DELETE", None)] * 2:
            resp = await client.request(method, cms, body)
            assert resp.status == 429
            assert resp.retry_after == 1.0
            assert resp.json() == {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Failure",
                "reason": "TooManyRequests",
                "code": 429,
                "message": "injected by faultproxy",
            }
        assert proxy.counts["429"] == 6
        # Watches are spared unless include_watches: this one is forwarded and ends on its timeout.
        assert await read_watch(client, cms, {"watch": "1", "timeoutSeconds": "1"}, until="-") == []
        assert proxy.counts == {"429": 6, "forwarded": 1}
        # Nothing got through.
        proxy.plan.rate_429 = 0.0
        assert (await client.get_json(cms))["items"] == []

        proxy.plan.rate_429 = 1.0
        proxy.plan.include_watches = True
        with pytest.raises(Exception, match="HTTP 429"):
            await read_watch(client, cms, {"watch": "true"}, until="-")
        assert proxy.counts["429"] == 7


async def test_500_hits_only_the_planned_methods(
    control_plane: ClusterState, namespace: str, tmp_path: Path
) -> None:
    cms = f"/api/v1/namespaces/{namespace}/configmaps"
    plan = FaultPlan(rate_500=1.0, methods=frozenset({"POST"}))
    async with through_proxy(control_plane, plan, tmp_path) as (proxy, client):
        for i in range(4):
            resp = await client.request("POST", cms, configmap(f"c{i}"))
            assert resp.status == 500
            assert resp.retry_after is None
            assert resp.json()["reason"] == "InternalError"
            assert resp.json()["code"] == 500
            assert (await client.request("GET", cms)).status == 200
        assert proxy.counts == {"500": 4, "forwarded": 4}
        assert (await client.get_json(cms))["items"] == []


async def test_fault_decisions_are_reproducible_by_seed(
    control_plane: ClusterState, namespace: str, tmp_path: Path
) -> None:
    cms = f"/api/v1/namespaces/{namespace}/configmaps"
    runs = []
    for seed in (7, 7, 8):
        async with through_proxy(control_plane, FaultPlan(rate_429=0.3, rate_500=0.3), tmp_path, seed) as (
            _,
            client,
        ):
            runs.append([(await client.request("GET", cms)).status for _ in range(30)])
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]
    assert set(runs[0]) == {200, 429, 500}


async def test_timeout_fault_holds_then_drops_the_connection(
    control_plane: ClusterState, namespace: str, tmp_path: Path
) -> None:
    cms = f"/api/v1/namespaces/{namespace}/configmaps"
    async with through_proxy(control_plane, FaultPlan(rate_timeout=1.0, timeout_s=60), tmp_path) as (
        proxy,
        client,
    ):
        # The client gives up first: it sees a timeout.
        with pytest.raises(TransportError):
            await client.request("GET", cms, timeout=1.0)
        assert proxy.counts["timeout"] == 1
        # The proxy gives up first: the connection is dropped without a response. (A POST, because
        # aiohttp quietly retries an idempotent request once when a reused connection drops.)
        proxy.plan.timeout_s = 0.2
        with pytest.raises(TransportError):
            await client.request("POST", cms, configmap("dropped"), timeout=60)
        assert proxy.counts["timeout"] == 2
        proxy.plan.rate_timeout = 0.0
        assert (await client.get_json(cms))["items"] == []
        assert proxy.counts == {"timeout": 2, "forwarded": 1}


async def test_watch_expires_with_410_after_real_events(
    control_plane: ClusterState, namespace: str, tmp_path: Path
) -> None:
    cms = f"/api/v1/namespaces/{namespace}/configmaps"
    async with through_proxy(control_plane, FaultPlan(watch_expire_after_s=2.0), tmp_path) as (proxy, client):
        rv = (await client.get_json(cms))["metadata"]["resourceVersion"]
        for name in ("a", "b"):
            assert (await client.request("POST", cms, configmap(name))).status == 201
        # From rv the two ADDED events are due at once; the stream ends after the ERROR event.
        events = await read_watch(client, cms, {"watch": "true", "resourceVersion": rv}, until="-")
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events[:2]] == [
        ("ADDED", "a"),
        ("ADDED", "b"),
    ]
    assert events[2:] == [
        {
            "type": "ERROR",
            "object": {
                "kind": "Status",
                "apiVersion": "v1",
                "status": "Failure",
                "message": "too old resource version: injected by faultproxy",
                "reason": "Expired",
                "code": 410,
            },
        }
    ]
    assert proxy.counts == {"forwarded": 4, "watch_expired": 1}


class Names:
    """An informer handler that keeps the names it currently sees."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def replace(self, items: list[dict[str, Any]]) -> None:
        self.names = {i["metadata"]["name"] for i in items}

    def apply(self, event_type: str, obj: dict[str, Any]) -> None:
        if event_type == "DELETED":
            self.names.discard(obj["metadata"]["name"])
        else:
            self.names.add(obj["metadata"]["name"])


async def wait_for(check: Callable[[], bool], within_s: float = 60) -> None:
    """Polls check; the bound is a hang guard."""
    with anyio.fail_after(within_s):
        while True:
            if check():
                return
            await anyio.sleep(0.05)


async def test_informer_relists_on_injected_expiry_and_keeps_seeing_objects(
    control_plane: ClusterState, kube: KubeClient, namespace: str, tmp_path: Path
) -> None:
    cms = f"/api/v1/namespaces/{namespace}/configmaps"
    async with through_proxy(control_plane, FaultPlan(watch_expire_after_s=1.0), tmp_path) as (proxy, client):
        seen = Names()
        informer = Informer(client, cms, seen, name="chaos")
        async with anyio.create_task_group() as tg:
            tg.start_soon(informer.run)
            await wait_for(lambda: informer.synced.is_set())
            assert (await kube.request("POST", cms, configmap("before"))).status == 201
            await wait_for(lambda: "before" in seen.names)
            await wait_for(lambda: informer.stats.expired >= 1 and informer.stats.lists >= 2)
            # After the relist, new objects and deletions still arrive.
            assert (await kube.request("POST", cms, configmap("after"))).status == 201
            assert (await kube.request("DELETE", f"{cms}/before")).status == 200
            await wait_for(lambda: seen.names == {"after"})
            await wait_for(lambda: informer.stats.expired >= 2)
            assert (await kube.request("POST", cms, configmap("later"))).status == 201
            await wait_for(lambda: seen.names == {"after", "later"})
            tg.cancel_scope.cancel()
        assert proxy.counts["watch_expired"] >= 2
        assert informer.stats.errors == 0, informer.stats.last_error


async def test_leaving_the_context_closes_open_streams_and_leaks_no_task(
    control_plane: ClusterState, namespace: str, tmp_path: Path
) -> None:
    cms = f"/api/v1/namespaces/{namespace}/configmaps"
    before = asyncio.all_tasks()
    outcome: dict[str, str] = {}
    plan = FaultPlan(rate_timeout=1.0, timeout_s=300, methods=frozenset({"POST"}))
    async with contextlib.AsyncExitStack() as stack:
        proxy = await stack.enter_async_context(FaultProxy(control_plane, plan))
        kubeconfig = proxy.write_kubeconfig(tmp_path / "proxy.kubeconfig")
        client = await stack.enter_async_context(KubeClient.connect(str(kubeconfig)))

        async def watch() -> None:
            try:
                await read_watch(client, cms, {"watch": "true", "timeoutSeconds": "300"}, until="-")
                outcome["watch"] = "ended"
            except TransportError:
                outcome["watch"] = "cut"

        async def held() -> None:
            try:
                await client.request("POST", cms, configmap("held"), timeout=300)
                outcome["held"] = "answered"
            except TransportError:
                outcome["held"] = "dropped"

        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                tg.start_soon(watch)
                tg.start_soon(held)
                await wait_for(lambda: proxy.counts == {"forwarded": 1, "timeout": 1})
                await wait_for(lambda: len(proxy._handlers) == 2)
                # Leave the proxy's context while both are open (the stack's exit later is a no-op).
                await proxy.__aexit__(None, None, None)
        assert outcome["held"] == "dropped"
        assert outcome["watch"] in ("ended", "cut")
        assert not proxy._handlers
    leftover = {t for t in asyncio.all_tasks() - before if t is not asyncio.current_task() and not t.done()}
    assert leftover == set()
