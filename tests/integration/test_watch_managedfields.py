"""The informer's watch events arrive without metadata.managedFields and otherwise exactly as the
apiserver stored the object: the cut relies on the apiserver's field order, checked here against a real
one. Time bounds are hang guards."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from jobsched.kube.client import KubeClient
from jobsched.kube.informer import Informer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.changed = anyio.Event()

    def replace(self, items: list[dict[str, Any]]) -> None:
        pass

    def apply(self, event_type: str, obj: dict[str, Any]) -> None:
        self.events.append((event_type, obj))
        self.changed.set()


def stored(obj: dict[str, Any]) -> dict[str, Any]:
    """What a GET returns, less managedFields."""
    metadata = {k: v for k, v in obj["metadata"].items() if k != "managedFields"}
    return {**obj, "metadata": metadata}


async def test_pod_and_configmap_events_come_whole_but_for_their_managed_fields(
    kube: KubeClient, namespace: str
) -> None:
    pods, cms = f"/api/v1/namespaces/{namespace}/pods", f"/api/v1/namespaces/{namespace}/configmaps"
    recorders = {path: Recorder() for path in (pods, cms)}
    bodies = {
        pods: {
            "metadata": {"name": "p", "labels": {"a": "1"}},
            "spec": {"schedulerName": "nobody", "containers": [{"name": "c", "image": "busybox"}]},
        },
        cms: {"metadata": {"name": "c", "labels": {"a": "1"}}, "data": {"k": "v"}},
    }
    async with anyio.create_task_group() as tg:
        informers = [Informer(kube, path, recorder, name=path) for path, recorder in recorders.items()]
        for informer in informers:
            tg.start_soon(informer.run)
        with anyio.fail_after(60):
            for informer in informers:
                await informer.synced.wait()
            for path, body in bodies.items():
                recorder = recorders[path]
                name = body["metadata"]["name"]
                assert (await kube.request("POST", path, body)).ok
                # A second writer adds a second managedFields entry.
                patch = {"metadata": {"labels": {"b": "2"}}}
                resp = await kube.request(
                    "PATCH",
                    f"{path}/{name}",
                    patch,
                    params={"fieldManager": "another]},"},
                    content_type="application/merge-patch+json",
                )
                assert resp.ok, resp.message()
                while len(recorder.events) < 2:
                    recorder.changed = anyio.Event()
                    await recorder.changed.wait()
                got = await kube.get_json(f"{path}/{name}")
                assert len(got["metadata"]["managedFields"]) == 2
                assert [kind for kind, _ in recorder.events] == ["ADDED", "MODIFIED"]
                assert all("managedFields" not in obj["metadata"] for _, obj in recorder.events)
                assert recorder.events[-1][1] == stored(got)
        tg.cancel_scope.cancel()
