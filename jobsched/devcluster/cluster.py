"""Starts and stops the local control plane: etcd, kube-apiserver and kwok, plus the native baseline
and the provider simulator that plays the virtual nodes' serverless provider.

Every process is started detached, its PID recorded in the cluster's state directory, and stopped
by that PID (after checking the PID still runs our binary). etcd's data and the whole state
directory live on tmpfs (/dev/shm), because the storm is an etcd write benchmark otherwise.
`up` is idempotent: a cluster whose processes are alive and whose apiserver answers is reused.
"""

from __future__ import annotations

import base64
import json
import secrets
import shutil
import signal
import ssl
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from jobsched.devcluster import build, certs
from jobsched.devcluster.processes import pid_runs, say, spawn, stop, tcp_open, wait_until
from jobsched.devcluster.provider.limits import ProviderLimits
from jobsched.devcluster.state import ClusterState, free_port, state_root

KWOK_CONFIG = Path(__file__).with_name("kwok.yaml")
CORE_PROCESSES = ("etcd", "kube-apiserver", "kwok")
NATIVE_PROCESSES = ("kube-controller-manager", "kube-scheduler")
PROVIDER_PROCESS = "provider-sim"
PROVIDER_MODULE = "jobsched.devcluster.provider"


def _ssl_context(state: ClusterState) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(state.dir / "pki" / "ca.crt"))


def api_get(state: ClusterState, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """A tiny synchronous GET against the apiserver, for readiness checks and CLI chores."""
    req = urllib.request.Request(state.server + path, headers={"Authorization": f"Bearer {state.token}"})
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=_ssl_context(state)) as resp:
            return int(resp.status), bytes(resp.read())
    except urllib.error.HTTPError as err:
        return int(err.code), bytes(err.read())


def api_send(state: ClusterState, method: str, path: str, body: Mapping[str, object]) -> tuple[int, bytes]:
    req = urllib.request.Request(
        state.server + path,
        method=method,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {state.token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30, context=_ssl_context(state)) as resp:
            return int(resp.status), bytes(resp.read())
    except urllib.error.HTTPError as err:
        return int(err.code), bytes(err.read())


def _write_kubeconfig(state: ClusterState, path: Path, token: str, user: str) -> None:
    ca = base64.b64encode((state.dir / "pki" / "ca.crt").read_bytes()).decode()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": state.name, "cluster": {"server": state.server, "certificate-authority-data": ca}}
        ],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": state.name, "context": {"cluster": state.name, "user": user}}],
        "current-context": state.name,
    }
    path.write_text(json.dumps(config, indent=2))
    path.chmod(0o600)


def is_healthy(state: ClusterState) -> bool:
    if not all(n in state.pids and pid_runs(state.pids[n], state.binaries[n]) for n in CORE_PROCESSES):
        return False
    try:
        return api_get(state, "/readyz")[0] == 200
    except (OSError, ssl.SSLError):
        return False


def up(
    name: str = "dev", apiserver_args: tuple[str, ...] = (), provider: ProviderLimits | None = None
) -> ClusterState:
    """Starts (or reuses) the named cluster and returns its state.

    apiserver_args are appended to kube-apiserver's flags (e.g. --watch-cache=false, which makes
    watches read etcd directly, so a compacted resourceVersion answers 410 at once). With provider,
    the provider simulator plays the virtual nodes with those limits (see start_provider); without,
    a reused cluster keeps the simulator it was configured with.
    """
    existing = ClusterState.load(name)
    if existing is not None and is_healthy(existing):
        say(f"cluster {name!r} already up at {existing.server}")
        wanted = provider or existing.provider_limits
        if wanted is not None:
            start_provider(existing, wanted)
        return existing
    if existing is not None:
        down(name)
    binaries = build.ensure_built()
    started = time.monotonic()
    directory = state_root() / name
    shutil.rmtree(directory, ignore_errors=True)
    (directory / "pki").mkdir(parents=True)
    certs.ensure_pki(directory / "pki")
    state = ClusterState(
        name=name,
        directory=str(directory),
        apiserver_port=free_port(),
        etcd_port=free_port(),
        etcd_peer_port=free_port(),
        kwok_port=free_port(),
        token=secrets.token_hex(24),
        binaries={k: str(v) for k, v in binaries.items()},
        apiserver_args=list(apiserver_args),
    )
    (directory / "tokens.csv").write_text(f'{state.token},admin,admin-uid,"system:masters"\n')
    state.save()
    try:
        _start_etcd(state)
        _start_apiserver(state)
        _write_kubeconfig(state, state.kubeconfig, state.token, "admin")
        _start_kwok(state)
        if provider is not None:
            start_provider(state, provider)
    except BaseException:
        down(name)
        raise
    say(f"cluster {name!r} up in {time.monotonic() - started:.1f}s at {state.server}")
    return state


def _start_etcd(state: ClusterState) -> None:
    peer = f"http://127.0.0.1:{state.etcd_peer_port}"
    client = f"http://127.0.0.1:{state.etcd_port}"
    spawn(
        state,
        "etcd",
        [
            "--name=default",
            f"--data-dir={state.dir / 'etcd'}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=default={peer}",
            "--listen-metrics-urls=",
            "--quota-backend-bytes=8589934592",
            "--unsafe-no-fsync",
            "--log-level=warn",
        ],
    )
    wait_until("etcd", lambda: tcp_open(state.etcd_port), state, "etcd")


def _start_apiserver(state: ClusterState) -> None:
    pki = state.dir / "pki"
    spawn(
        state,
        "kube-apiserver",
        [
            f"--etcd-servers=http://127.0.0.1:{state.etcd_port}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={state.apiserver_port}",
            f"--cert-dir={pki}",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            f"--token-auth-file={state.dir / 'tokens.csv'}",
            "--authorization-mode=RBAC",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            "--api-audiences=https://kubernetes.default.svc.cluster.local",
            "--service-cluster-ip-range=10.96.0.0/16",
            # TaintNodesByCondition would leave kwok nodes tainted not-ready for good: no node
            # lifecycle controller runs here to lift it. Tests add that taint explicitly.
            "--disable-admission-plugins=ServiceAccount,TaintNodesByCondition",
            "--endpoint-reconciler-type=none",
            "--max-requests-inflight=3000",
            "--max-mutating-requests-inflight=2000",
            "--profiling=false",
            "--event-ttl=1h",
            "--v=1",
            *state.apiserver_args,
        ],
    )
    wait_until("kube-apiserver", lambda: api_get(state, "/readyz")[0] == 200, state, "kube-apiserver")


def _start_kwok(state: ClusterState) -> None:
    spawn(
        state,
        "kwok",
        [
            f"--kubeconfig={state.kubeconfig}",
            f"--config={KWOK_CONFIG}",
            "--manage-all-nodes=false",
            "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            f"--server-address=127.0.0.1:{state.kwok_port}",
            "--node-ip=127.0.0.1",
        ],
    )
    wait_until("kwok", lambda: tcp_open(state.kwok_port), state, "kwok")


def start_native(state: ClusterState, qps: int = 0, burst: int = 0, scheduler: bool = True) -> None:
    """Starts kube-controller-manager (cronjob, job, GC, TTL-after-finished) and kube-scheduler for the
    native baseline; without `scheduler`, kube-controller-manager alone (for adopted CronJobs, whose
    pods jobsched places).

    qps/burst of 0 keep upstream defaults (QPS 50/burst 100 for the scheduler, 20/30 for the
    controller manager); otherwise every client gets that QPS and burst.
    """
    stop_native(state)
    sched_cfg = state.dir / "kube-scheduler.yaml"
    client = f"  qps: {qps}\n  burst: {burst}\n" if qps else ""
    sched_cfg.write_text(
        "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n"
        f"clientConnection:\n  kubeconfig: {state.kubeconfig}\n{client}"
        "leaderElection:\n  leaderElect: false\n"
    )
    kcm_qps = [f"--kube-api-qps={qps}", f"--kube-api-burst={burst}"] if qps else []
    spawn(
        state,
        "kube-controller-manager",
        [
            f"--kubeconfig={state.kubeconfig}",
            "--controllers=cronjob-controller,job-controller,garbage-collector-controller,"
            "ttl-after-finished-controller",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            "--secure-port=0",
            "--use-service-account-credentials=false",
            *kcm_qps,
        ],
    )
    started = ["kube-controller-manager"]
    if scheduler:
        spawn(
            state, "kube-scheduler", [f"--config={sched_cfg}", "--bind-address=127.0.0.1", "--secure-port=0"]
        )
        started.append("kube-scheduler")
    state.native_settings = {"qps": qps, "burst": burst, "scheduler": scheduler}
    state.save()
    time.sleep(1.0)
    for name in started:
        if not pid_runs(state.pids[name], state.binaries[name]):
            tail = (state.dir / f"{name}.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{name} exited at start:\n{tail}")


def restart_apiserver(state: ClusterState, crash: bool = False, down_s: float = 0.0) -> float:
    """Stops kube-apiserver (SIGTERM, as a rolling restart would; SIGKILL with crash), keeps it down
    for down_s, starts it again with the same flags and waits until /readyz answers. Returns the
    seconds from the stop to ready. For chaos tests: etcd and what it stores stay as they were."""
    started = time.monotonic()
    stop(state, ("kube-apiserver",), signal.SIGKILL if crash else signal.SIGTERM)
    time.sleep(down_s)
    _start_apiserver(state)
    return time.monotonic() - started


def stop_native(state: ClusterState) -> None:
    stop(state, NATIVE_PROCESSES)


def provider_running(state: ClusterState) -> bool:
    pid = state.pids.get(PROVIDER_PROCESS)
    return pid is not None and pid_runs(pid, state.binaries.get(PROVIDER_PROCESS, ""))


def start_provider(state: ClusterState, limits: ProviderLimits) -> None:
    """Starts the provider simulator (python -m jobsched.devcluster.provider) with these limits and
    waits until it has synced; records them in the state, so virtual nodes created from now on are
    the simulator's, not kwok's. Idempotent: one already running with the same limits is kept."""
    if state.provider == limits.to_record() and provider_running(state):
        return
    stop_provider(state)
    ready = state.dir / f"{PROVIDER_PROCESS}.ready"
    ready.unlink(missing_ok=True)
    state.binaries[PROVIDER_PROCESS] = "\0".join([sys.executable, "-m", PROVIDER_MODULE])
    spawn(
        state,
        PROVIDER_PROCESS,
        [f"--kubeconfig={state.kubeconfig}", f"--ready-file={ready}", *limits.to_args()],
    )
    wait_until("provider simulator", ready.exists, state, PROVIDER_PROCESS)
    state.provider = limits.to_record()
    state.save()
    quota = f"quota {limits.quota_pods} pods" if limits.quota_pods else "no quota"
    say(f"provider simulator up: {limits.launch_rate:g} launches/s, burst {limits.launch_burst}, {quota}")


def stop_provider(state: ClusterState) -> None:
    """Stops the provider simulator; virtual nodes created from now on are kwok's again."""
    stop(state, (PROVIDER_PROCESS,))
    state.provider = {}
    state.save()


def down(name: str = "dev") -> bool:
    """Stops every process `up` started, by PID, and removes the state (etcd data on tmpfs)."""
    state = ClusterState.load(name)
    if state is None:
        return False
    stop(state, (PROVIDER_PROCESS, *NATIVE_PROCESSES, "kwok", "kube-apiserver", "etcd"))
    shutil.rmtree(state.dir, ignore_errors=True)
    return True
