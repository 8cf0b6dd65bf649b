"""The cluster-wide install, checked against the real control plane (issue 6, "Done when").

A platform team installs jobsched with one `kubectl apply -k deploy/` and has to be able to trust it, so
these tests hold the manifests and the trust model to what docs/trust-model.md promises:

- the apiserver accepts the whole of deploy/ (a server-side dry run) and the kustomize build is the
  Deployment we mean to ship;
- `jobsched run`, authenticated as the deploy's ServiceAccount with a TokenRequest token and nothing but
  the RBAC in deploy/base/rbac.yaml (leader election on), runs a 200-entry storm to completion. A verb
  missing from the ClusterRole shows up here as a 403 and a storm that never binds;
- the same identity cannot read Secrets, creates nothing in a namespace that did not opt in (an Event on
  the ConfigMap says so, and the process keeps running), and entries whose template names another
  namespace or a ServiceAccount that does not exist are rejected with an Event naming entry and field,
  while the good entries beside them fire;
- an apiserver refusal (403) of a create becomes a CreateForbidden Event, never a crash; and a storm's
  ServiceAccount check costs one GET per account (these two run the engine in-process on a shifted clock).

The process test waits for a real minute boundary (see test_cron_e2e). Everything runs in the test's own
namespaces with its own scheduler name and nodes; the cluster-scoped RBAC objects are deleted afterwards.
Time bounds are hang guards, not timing assertions.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml
from anyio.abc import Process

from bench.lib.kubeops import strip_pod_finalizers
from jobsched.core.cronspec import parse_configmap
from jobsched.core.naming import slot_object_name
from jobsched.core.vocabulary import ENTRY_LABEL
from jobsched.devcluster.cluster import _write_kubeconfig
from jobsched.devcluster.state import ClusterState
from jobsched.kube.client import KubeClient
from tests.support.cluster_slice import ClusterSlice
from tests.support.cron import (
    configmap,
    cron_configmap,
    entry,
    fires,
    running,
    shifted_clock,
    slot_pods,
    wait_pods,
    wait_until,
)
from tests.support.processes import JobschedProcess, free_port
from tests.support.storm import BIG_NODE, CONTAINER, coming_slot, storm_configmap, watching

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SYSTEM_NS = "jobsched-system"
STORM = 200


# --- helpers -------------------------------------------------------------------------------------


def kubectl(control_plane: ClusterState, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [control_plane.binaries["kubectl"], f"--kubeconfig={control_plane.kubeconfig}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )


async def akubectl(control_plane: ClusterState, *args: str) -> subprocess.CompletedProcess[str]:
    return await anyio.to_thread.run_sync(lambda: kubectl(control_plane, *args))


async def ensure_namespace(kube: KubeClient, name: str, labels: dict[str, str] | None = None) -> None:
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels or {}}}
    resp = await kube.request("POST", "/api/v1/namespaces", body)
    assert resp.status in (201, 409), resp.message()


RBAC_FILES = ("-f", "deploy/base/serviceaccount.yaml", "-f", "deploy/base/rbac.yaml")


async def jobsched_cli(control_plane: ClusterState, *args: str) -> subprocess.CompletedProcess[str]:
    """The `jobsched` command line as a user runs it, with the admin kubeconfig."""
    command = [sys.executable, "-m", "jobsched", *args, "--kubeconfig", str(control_plane.kubeconfig)]
    return await anyio.to_thread.run_sync(
        lambda: subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    )


async def set_namespace_label(kube: KubeClient, name: str, value: str | None) -> None:
    patch = {"metadata": {"labels": {"jobsched.io/enabled": value}}}
    resp = await kube.request(
        "PATCH", f"/api/v1/namespaces/{name}", patch, content_type="application/merge-patch+json"
    )
    assert resp.ok, resp.message()


async def delete_rbac(control_plane: ClusterState) -> None:
    """The ServiceAccount and RBAC objects of deploy/base, cluster-scoped ones included."""
    done = await akubectl(control_plane, "delete", "--ignore-not-found", "--wait=false", *RBAC_FILES)
    assert done.returncode == 0, done.stderr


def kustomize_build(control_plane: ClusterState, path: str) -> list[dict[str, Any]]:
    built = kubectl(control_plane, "kustomize", path)
    assert built.returncode == 0, built.stderr
    return [doc for doc in yaml.safe_load_all(built.stdout) if doc]


async def events_of(kube: KubeClient, ns: str, configmap_name: str) -> list[dict[str, Any]]:
    reply = await kube.get_json(f"/apis/events.k8s.io/v1/namespaces/{ns}/events")
    return [e for e in reply["items"] if e["regarding"].get("name") == configmap_name]


async def wait_events(
    kube: KubeClient,
    ns: str,
    configmap_name: str,
    check: Callable[[list[dict[str, Any]]], bool],
    within_s: float = 60,
) -> list[dict[str, Any]]:
    with anyio.fail_after(within_s):
        while True:
            found = await events_of(kube, ns, configmap_name)
            if check(found):
                return found
            await anyio.sleep(0.5)


def has_event(reason: str, *parts: str) -> Callable[[list[dict[str, Any]]], bool]:
    def check(events: list[dict[str, Any]]) -> bool:
        return any(
            e["reason"] == reason and e["type"] == "Warning" and all(p in e["note"] for p in parts)
            for e in events
        )

    return check


async def service_account_token(kube: KubeClient) -> str:
    """A short-lived token for jobsched-system/jobsched from the TokenRequest API, as a kubelet mounts."""
    body = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {"expirationSeconds": 3600},
    }
    resp = await kube.request("POST", f"/api/v1/namespaces/{SYSTEM_NS}/serviceaccounts/jobsched/token", body)
    assert resp.status == 201, resp.message()
    token: str = resp.json()["status"]["token"]
    return token


class ServiceAccountProcess(JobschedProcess):
    """`jobsched run --leader-elect` with the ServiceAccount's kubeconfig instead of the admin's."""

    def __init__(
        self, control_plane: ClusterState, tmp_path: Path, config: dict[str, Any], kubeconfig: Path
    ) -> None:
        super().__init__(control_plane, tmp_path, config)
        self.kubeconfig = str(kubeconfig)

    async def start(self) -> Process:
        self.port = free_port()
        log = self.tmp_path / f"jobsched-{len(self.started)}.log"
        with log.open("wb") as out:
            proc = await anyio.open_process(
                [sys.executable, "-m", "jobsched", "run", "--config", str(self.config), "--leader-elect",
                 "--kubeconfig", self.kubeconfig, "--port", str(self.port)],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        self.started.append((proc, log))
        return proc

    def log_text(self) -> str:
        return "\n".join(path.read_text(errors="replace")[-4000:] for _, path in self.started)


# --- the manifests ---------------------------------------------------------------------------------


async def test_server_dry_run_of_deploy_is_accepted(kube: KubeClient, control_plane: ClusterState) -> None:
    """`kubectl apply --dry-run=server -k deploy/` passes the apiserver's validation and admission.

    A server dry run cannot create the namespace its other objects go into, so the namespace is made for
    real first; leftovers of an earlier run are removed so that every other object is "created".
    """
    made = await akubectl(control_plane, "apply", "-f", "deploy/base/namespace.yaml")
    assert made.returncode == 0, made.stderr
    await delete_rbac(control_plane)
    built = kustomize_build(control_plane, "deploy/")
    [configmap_name] = [d["metadata"]["name"] for d in built if d["kind"] == "ConfigMap"]
    dry = await akubectl(control_plane, "apply", "--dry-run=server", "-k", "deploy/")
    assert dry.returncode == 0, dry.stderr
    lines = set(dry.stdout.splitlines())
    expected = {
        "serviceaccount/jobsched",
        "clusterrole.rbac.authorization.k8s.io/jobsched",
        "clusterrole.rbac.authorization.k8s.io/jobsched-cron-writer",
        "clusterrolebinding.rbac.authorization.k8s.io/jobsched",
        "role.rbac.authorization.k8s.io/jobsched-leader-election",
        "rolebinding.rbac.authorization.k8s.io/jobsched-leader-election",
        f"configmap/{configmap_name}",
        "service/jobsched-metrics",
        "deployment.apps/jobsched",
        "poddisruptionbudget.policy/jobsched",
    }
    missing = {name for name in expected if f"{name} created (server dry run)" not in lines}
    assert not missing, dry.stdout
    assert any(re.fullmatch(r"namespace/jobsched-system \w+ \(server dry run\)", line) for line in lines)
    assert len(lines) == len(expected) + 1, dry.stdout
    assert "would violate PodSecurity" not in dry.stderr, dry.stderr
    # The namespace enforces the restricted Pod Security Standard, which admission applies to pods, not
    # to Deployments: a dry-run pod from the Deployment's template shows its replicas would be admitted.
    [deployment] = [d for d in built if d["kind"] == "Deployment"]
    template = deployment["spec"]["template"]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {**template["metadata"], "name": "jobsched-probe"}}
    pod["spec"] = template["spec"]
    resp = await kube.request("POST", f"/api/v1/namespaces/{SYSTEM_NS}/pods", pod, params={"dryRun": "All"})
    assert resp.status == 201, resp.message()
    # Nothing but the namespace was really created.
    resp = await kube.request("GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles/jobsched")
    assert resp.status == 404


async def test_kustomize_build_is_the_deployment_we_ship(control_plane: ClusterState) -> None:
    built = kustomize_build(control_plane, "deploy/")
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for doc in built:
        by_kind.setdefault(doc["kind"], []).append(doc)
    assert all(d["metadata"].get("namespace") == SYSTEM_NS for k, ds in by_kind.items() for d in ds
               if k not in ("Namespace", "ClusterRole", "ClusterRoleBinding"))  # fmt: skip
    [config] = by_kind["ConfigMap"]
    assert config["metadata"]["name"].startswith("jobsched-config-")  # content hash: rolls the pods
    assert config["data"]["jobsched.yaml"] == (ROOT / "config/jobsched.yaml").read_text()
    [deployment] = by_kind["Deployment"]
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "jobsched"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    [container] = pod["containers"]
    assert "--leader-elect" in container["args"]
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
    }
    assert container["image"] == "ghcr.io/jobsched/jobsched:0.1.0"
    assert {"livenessProbe", "readinessProbe", "resources"} <= container.keys()
    [volume] = [v for v in pod["volumes"] if "configMap" in v]
    assert volume["configMap"]["name"] == config["metadata"]["name"]
    assert len(by_kind["PodDisruptionBudget"]) == 1
    assert len(by_kind["Service"]) == 1


@pytest.mark.parametrize("overlay", ["tencent-eks", "virtual-kubelet"])
async def test_overlays_replace_only_the_config(control_plane: ClusterState, overlay: str) -> None:
    base = kustomize_build(control_plane, "deploy/")
    built = kustomize_build(control_plane, f"deploy/overlays/{overlay}")
    [config] = [d for d in built if d["kind"] == "ConfigMap"]
    assert config["data"]["jobsched.yaml"] == (DEPLOY / "overlays" / overlay / "jobsched.yaml").read_text()
    [deployment] = [d for d in built if d["kind"] == "Deployment"]
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    assert config["metadata"]["name"] in [v.get("configMap", {}).get("name") for v in volumes]
    assert sorted((d["kind"], d["metadata"]["name"]) for d in built if d["kind"] != "ConfigMap") == sorted(
        (d["kind"], d["metadata"]["name"]) for d in base if d["kind"] != "ConfigMap"
    )


# --- jobsched as its ServiceAccount ----------------------------------------------------------------


@contextlib.asynccontextmanager
async def deployed_rbac(kube: KubeClient, control_plane: ClusterState, tmp_path: Path) -> AsyncIterator[Path]:
    """Applies the namespace, ServiceAccount and RBAC of deploy/base for real; yields a kubeconfig
    holding a TokenRequest token for that ServiceAccount. Deletes the RBAC objects and the lease after."""
    try:
        applied = await akubectl(control_plane, "apply", "-f", "deploy/base/namespace.yaml", *RBAC_FILES)
        assert applied.returncode == 0, applied.stderr
        token = await service_account_token(kube)
        path = tmp_path / "jobsched-sa.kubeconfig"
        _write_kubeconfig(control_plane, path, token, "jobsched")
        yield path
    finally:
        with anyio.CancelScope(shield=True):
            await kube.request(
                "DELETE", f"/apis/coordination.k8s.io/v1/namespaces/{SYSTEM_NS}/leases/jobsched"
            )
            await delete_rbac(control_plane)


async def test_service_account_runs_a_storm_and_is_refused_the_rest(
    kube: KubeClient, namespace: str, control_plane: ClusterState, tmp_path: Path
) -> None:
    """As the deploy's ServiceAccount, with exactly deploy/'s RBAC: a 200-entry storm binds exactly once in
    a namespace opted in with `jobsched enable`; Secrets are refused; bad entries and a namespace that did
    not opt in get Events; and where jobsched's own check is bypassed (a namespace labelled but without
    the RoleBinding, and kube-system labelled), the apiserver refuses the create with 403, which shows as
    a CreateForbidden Event: least privilege is enforced by RBAC, not only by jobsched. Nothing crashes."""
    bed = ClusterSlice(kube, namespace)
    slot = coming_slot()
    schedule = f"{slot.minute} {slot.hour} * * *"
    spec = {"schedulerName": bed.scheduler_name, "containers": [CONTAINER]}

    def item(name: str, **template: Any) -> dict[str, Any]:
        body = {"spec": {**spec, **template.pop("spec", {})}, **template}
        return {"name": name, "schedule": schedule, "template": body}

    storm = storm_configmap(bed, "storm", slot, [f"e{i:03d}" for i in range(STORM)])
    escape = cron_configmap(
        namespace, "escape", [item("stays-home"), item("breaks-out", metadata={"namespace": "kube-system"})]
    )
    accounts = cron_configmap(
        namespace,
        "accounts",
        [
            item("as-runner", spec={"serviceAccountName": "runner"}),
            item("as-ghost", spec={"serviceAccountName": "ghost"}),
        ],
    )
    closed = f"t-closed-{uuid.uuid4().hex[:8]}"  # exists, but did not opt in
    refused = cron_configmap(closed, "refused", [item("sneaky")])
    # Labelled as if opted in, but nobody created the RoleBinding: only RBAC stands in the way.
    unbound = f"t-unbound-{uuid.uuid4().hex[:8]}"
    unbound_cm = cron_configmap(unbound, "unbound", [item("no-binding")])
    system_cm = cron_configmap("kube-system", f"jobsched-test-{uuid.uuid4().hex[:6]}", [item("escalate")])
    good = parse_configmap(storm, bed.scheduler_name)[0] + parse_configmap(escape, bed.scheduler_name)[0]
    good += [e for e in parse_configmap(accounts, bed.scheduler_name)[0] if e.name == "as-runner"]
    assert len(good) == STORM + 2
    config = {**bed.config(), "cron": {"minLeadSeconds": 12, "maxLeadSeconds": 25, "leadMarginSeconds": 5}}

    await ensure_namespace(kube, closed)
    await ensure_namespace(kube, unbound, {"jobsched.io/enabled": "true"})
    runner = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "runner"}}
    resp = await kube.request("POST", f"/api/v1/namespaces/{namespace}/serviceaccounts", runner)
    assert resp.status == 201, resp.message()
    try:
        async with deployed_rbac(kube, control_plane, tmp_path) as sa_kubeconfig:
            enabled = await jobsched_cli(control_plane, "enable", namespace, "--apply")
            assert enabled.returncode == 0, enabled.stderr
            assert f"namespace {namespace} opted in" in enabled.stdout
            await set_namespace_label(kube, "kube-system", "true")
            await bed.add_node("virtual", BIG_NODE)
            for body in (storm, escape, accounts, refused, unbound_cm, system_cm):
                ns = body["metadata"]["namespace"]
                resp = await kube.request("POST", f"/api/v1/namespaces/{ns}/configmaps", body)
                assert resp.status == 201, resp.message()

            async with KubeClient.connect(str(sa_kubeconfig)) as as_jobsched:
                for path in (f"/api/v1/namespaces/{namespace}/secrets", "/api/v1/secrets"):
                    resp = await as_jobsched.request("GET", path)
                    assert resp.status == 403, (path, resp.status, resp.message())
                    assert "system:serviceaccount:jobsched-system:jobsched" in resp.message()

            jobsched = ServiceAccountProcess(control_plane, tmp_path, config, sa_kubeconfig)
            async with watching(kube, namespace) as watch:
                try:
                    proc = await jobsched.start()
                    await jobsched.wait_ready(proc)
                    await wait_events(kube, closed, "refused", has_event("NamespaceNotEnabled", closed))
                    for ns, cm in ((unbound, unbound_cm), ("kube-system", system_cm)):
                        forbidden = has_event("CreateForbidden", "HTTP 403", f"namespace {ns}")
                        await wait_events(kube, ns, cm["metadata"]["name"], forbidden, within_s=120)
                    await wait_events(
                        kube,
                        namespace,
                        "escape",
                        has_event("InvalidCronEntry", "entry breaks-out", "template.metadata.namespace"),
                    )
                    within = (slot - datetime.now(UTC)).total_seconds() + 90
                    await watch.wait(lambda: len(watch.bound_at) >= len(good), within_s=within)
                    ghost = await wait_events(
                        kube,
                        namespace,
                        "accounts",
                        has_event(
                            "InvalidCronEntry", "entry as-ghost", "template.spec.serviceAccountName", "ghost"
                        ),
                    )
                    assert proc.returncode is None, jobsched.log_text()
                    for ns in (closed, unbound, "kube-system"):
                        assert await slot_pods(kube, ns) == []
                    created = jobsched.metric('jobsched_cron_fires_total{outcome="created"}')
                    rejected = jobsched.metric('jobsched_cron_fires_total{outcome="rejected"}')
                    forbidden_count = jobsched.metric('jobsched_cron_fires_total{outcome="forbidden"}')
                    bound = jobsched.metric('jobsched_binds_total{domain="virtual",outcome="bound"}')
                    invalid_sa = jobsched.metric(
                        'jobsched_cron_invalid_entries_total{field="serviceAccountName"}'
                    )
                    leader = jobsched.metric("jobsched_leader")
                finally:
                    await jobsched.stop_all()
            log_text = jobsched.log_text()
            pods = await bed.pods()
            refusals = [line for line in log_text.splitlines() if "forbidden" in line.lower()]
            assert refusals, log_text
            assert all(unbound in line or "kube-system" in line for line in refusals), refusals
            assert sorted(pods) == sorted(slot_object_name(e, slot) for e in good)
            assert all(p["spec"].get("nodeName") == bed.nodes[0] for p in pods.values())
            labels = [p["metadata"]["labels"][ENTRY_LABEL] for p in pods.values()]
            assert len(set(labels)) == len(good)
            assert (created, bound, rejected, invalid_sa) == (len(good), len(good), 1, 1)
            assert forbidden_count == 2
            assert leader == 1
            [note] = [e["note"] for e in ghost if "as-ghost" in e["note"]]
            assert "does not exist in namespace" in note, note
            # The ServiceAccount created the Lease, renewed it, and handed it back on SIGTERM (update).
            lease = await kube.get_json(
                f"/apis/coordination.k8s.io/v1/namespaces/{SYSTEM_NS}/leases/jobsched"
            )
            assert lease["spec"]["leaseDurationSeconds"] == 1, lease["spec"]
    finally:
        with anyio.CancelScope(shield=True):
            for ns in (namespace, closed, unbound):
                await kube.request("DELETE", f"/api/v1/namespaces/{ns}/configmaps")
            await kube.request(
                "DELETE", f"/api/v1/namespaces/kube-system/configmaps/{system_cm['metadata']['name']}"
            )
            await set_namespace_label(kube, "kube-system", None)
            await jobsched_cli(control_plane, "disable", namespace, "--apply")
            await strip_pod_finalizers(kube, namespace)
            await kube.request(
                "DELETE", f"/api/v1/namespaces/{namespace}/pods", params={"gracePeriodSeconds": "0"}
            )
            await kube.request("DELETE", f"/api/v1/namespaces/{namespace}/serviceaccounts/runner")
            await kube.request("DELETE", f"/api/v1/namespaces/{closed}")
            await kube.request("DELETE", f"/api/v1/namespaces/{unbound}")
            await bed.remove_nodes()


# --- refusals and the ServiceAccount check, in-process ---------------------------------------------


async def test_create_forbidden_is_an_event_not_a_crash(kube: KubeClient, namespace: str) -> None:
    """A 403 on create (here a ResourceQuota admits no pods) is reported on the ConfigMap; the engine runs on."""
    quota = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "no-pods"},
        "spec": {"hard": {"pods": "0"}},
    }
    resp = await kube.request("POST", f"/api/v1/namespaces/{namespace}/resourcequotas", quota)
    assert resp.status == 201, resp.message()
    # Admission enforces status.hard, which the resource-quota controller fills in; none runs here.
    status = {"status": {"hard": {"pods": "0"}, "used": {"pods": "0"}}}
    resp = await kube.request(
        "PATCH",
        f"/api/v1/namespaces/{namespace}/resourcequotas/no-pods/status",
        status,
        content_type="application/merge-patch+json",
    )
    assert resp.status == 200, resp.message()
    clock, slot = shifted_clock(5)
    try:
        body = cron_configmap(namespace, "quota", [entry("a"), entry("b"), entry("c")])
        async with configmap(kube, body), running(kube, clock) as [(engine, metrics)]:
            events = await wait_events(kube, namespace, "quota", lambda es: len(es) >= 3)
            await wait_until(clock, slot + timedelta(seconds=1))
            assert fires(metrics, "forbidden") == 3
            assert await slot_pods(kube, namespace) == []
            assert engine.entries, "the engine still holds its entries"
        for event in events:
            assert (event["type"], event["reason"]) == ("Warning", "CreateForbidden")
            assert "HTTP 403" in event["note"], event["note"]
            assert f"namespace {namespace}" in event["note"], event["note"]
    finally:
        await kube.request("DELETE", f"/api/v1/namespaces/{namespace}/resourcequotas/no-pods")


async def test_missing_service_account_is_rejected_at_staging_with_one_get(
    kube: KubeClient, namespace: str
) -> None:
    """20 entries name a missing account, 10 an existing one: 11 pods, 20 Events, and two GETs in all."""
    runner = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "runner"}}
    resp = await kube.request("POST", f"/api/v1/namespaces/{namespace}/serviceaccounts", runner)
    assert resp.status == 201, resp.message()

    def named(name: str, account: str) -> dict[str, Any]:
        item = entry(name)
        item["template"]["spec"]["serviceAccountName"] = account
        return item

    entries = [named(f"ghost-{i}", "ghost") for i in range(20)]
    entries += [named(f"runner-{i}", "runner") for i in range(10)] + [entry("plain")]
    clock, slot = shifted_clock(8)
    try:
        async with (
            configmap(kube, cron_configmap(namespace, "sa", entries)),
            running(kube, clock) as [(engine, metrics)],
        ):
            found = await wait_pods(kube, namespace, 11)
            assert clock() < slot, "the check happened while staging, before T"
            events = await wait_events(kube, namespace, "sa", lambda es: len(es) >= 20)
            assert engine.accounts.requests == 2
        assert sorted(p["metadata"]["labels"][ENTRY_LABEL] for p in found) == sorted(
            [f"sa.runner-{i}" for i in range(10)] + ["sa.plain"]
        )
        assert fires(metrics, "rejected") == 20
        invalid = metrics.registry.get_sample_value(
            "jobsched_cron_invalid_entries_total", {"field": "serviceAccountName"}
        )
        assert invalid == 20
        notes = sorted(e["note"] for e in events)
        assert all(e["reason"] == "InvalidCronEntry" and e["type"] == "Warning" for e in events)
        assert notes[0].startswith(
            "entry ghost-0: field template.spec.serviceAccountName: service account 'ghost'"
        )
    finally:
        await strip_pod_finalizers(kube, namespace)
        await kube.request(
            "DELETE", f"/api/v1/namespaces/{namespace}/pods", params={"gracePeriodSeconds": "0"}
        )
        await kube.request("DELETE", f"/api/v1/namespaces/{namespace}/serviceaccounts/runner")
