"""Starts and stops the local control plane: etcd, kube-apiserver and kwok, plus the native baseline
and the provider simulator that plays the virtual nodes' serverless provider.

Every process is started detached, its PID recorded in the cluster's state directory, and stopped
by that PID (after checking the PID still runs our binary). etcd's data and the whole state
directory live on tmpfs (/dev/shm), because the storm is an etcd write benchmark otherwise.
`up` is idempotent: a cluster whose processes are alive and whose apiserver answers is reused.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from jobsched.devcluster import build, certs
from jobsched.devcluster.provider_limits import ProviderLimits

KWOK_CONFIG = Path(__file__).with_name("kwok.yaml")
CORE_PROCESSES = ("etcd", "kube-apiserver", "kwok")
NATIVE_PROCESSES = ("kube-controller-manager", "kube-scheduler")
PROVIDER_PROCESS = "provider-sim"
PROVIDER_MODULE = "jobsched.devcluster.provider"
START_TIMEOUT_S = 90.0


def state_root() -> Path:
    override = os.environ.get("JOBSCHED_STATE")
    if override:
        return Path(override)
    shm = Path("/dev/shm")
    return (shm if shm.is_dir() else Path(build.cache_root())) / "jobsched"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ClusterState:
    """What `up` started, persisted as state.json so `down` and later `up`s find it."""

    name: str
    directory: str
    apiserver_port: int
    etcd_port: int
    etcd_peer_port: int
    kwok_port: int
    token: str
    pids: dict[str, int] = field(default_factory=dict)
    # The command each process runs; a NUL separates a program from its leading arguments, as in
    # /proc/PID/cmdline ("python\0-m\0jobsched.devcluster.provider" for the provider simulator).
    binaries: dict[str, str] = field(default_factory=dict)
    native_settings: dict[str, int] = field(default_factory=dict)
    apiserver_args: list[str] = field(default_factory=list)  # extra flags, kept for restarts
    provider: dict[str, object] = field(default_factory=dict)  # ProviderLimits record; empty: no simulator

    @property
    def provider_limits(self) -> ProviderLimits | None:
        """The provider simulator's limits if it is configured: its virtual nodes are not kwok's."""
        return ProviderLimits.from_record(self.provider) if self.provider else None

    @property
    def dir(self) -> Path:
        return Path(self.directory)

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.apiserver_port}"

    @property
    def kubeconfig(self) -> Path:
        return self.dir / "kubeconfig"

    def save(self) -> None:
        tmp = self.dir / "state.json.tmp"
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(self.dir / "state.json")

    @classmethod
    def load(cls, name: str) -> ClusterState | None:
        path = state_root() / name / "state.json"
        if not path.exists():
            return None
        return cls(**json.loads(path.read_text()))


def _say(message: str) -> None:
    print(f"[dev-cluster] {message}", file=sys.stderr, flush=True)


def _pid_runs(pid: int, binary: str) -> bool:
    """True if pid is alive and runs the command we started (guards against PID reuse)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return bool(binary) and cmdline.startswith(binary.encode() + b"\0")


def _spawn(state: ClusterState, name: str, args: list[str]) -> None:
    binary = state.binaries[name]
    log = open(state.dir / f"{name}.log", "ab")  # noqa: SIM115 - the child owns it after fork
    with log:
        proc = subprocess.Popen(
            [*binary.split("\0"), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=state.dir,
        )
    state.pids[name] = proc.pid
    state.save()
    # Until the child has exec'd, /proc shows our own command line; wait so PID checks are exact.
    deadline = time.monotonic() + 5
    while not _pid_runs(proc.pid, binary) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)


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


def _wait_until(what: str, check: Callable[[], bool], state: ClusterState, proc_name: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if not _pid_runs(state.pids[proc_name], state.binaries[proc_name]):
            log_tail = (state.dir / f"{proc_name}.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{proc_name} exited during start-up; last log lines:\n{log_tail}")
        with contextlib.suppress(OSError, ssl.SSLError):
            if check():
                return
        time.sleep(0.2)
    raise RuntimeError(
        f"{what} not ready after {START_TIMEOUT_S:.0f}s; see {state.dir / (proc_name + '.log')}"
    )


def _tcp_open(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        return True


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
    if not all(n in state.pids and _pid_runs(state.pids[n], state.binaries[n]) for n in CORE_PROCESSES):
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
        _say(f"cluster {name!r} already up at {existing.server}")
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
        apiserver_port=_free_port(),
        etcd_port=_free_port(),
        etcd_peer_port=_free_port(),
        kwok_port=_free_port(),
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
    _say(f"cluster {name!r} up in {time.monotonic() - started:.1f}s at {state.server}")
    return state


def _start_etcd(state: ClusterState) -> None:
    peer = f"http://127.0.0.1:{state.etcd_peer_port}"
    client = f"http://127.0.0.1:{state.etcd_port}"
    _spawn(
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
    _wait_until("etcd", lambda: _tcp_open(state.etcd_port), state, "etcd")


def _start_apiserver(state: ClusterState) -> None:
    pki = state.dir / "pki"
    _spawn(
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
    _wait_until("kube-apiserver", lambda: api_get(state, "/readyz")[0] == 200, state, "kube-apiserver")


def _start_kwok(state: ClusterState) -> None:
    _spawn(
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
    _wait_until("kwok", lambda: _tcp_open(state.kwok_port), state, "kwok")


def start_native(state: ClusterState, qps: int = 0, burst: int = 0) -> None:
    """Starts kube-controller-manager (cronjob, job, GC) and kube-scheduler for the native baseline.

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
    _spawn(
        state,
        "kube-controller-manager",
        [
            f"--kubeconfig={state.kubeconfig}",
            "--controllers=cronjob-controller,job-controller,garbage-collector-controller",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            "--secure-port=0",
            "--use-service-account-credentials=false",
            *kcm_qps,
        ],
    )
    _spawn(state, "kube-scheduler", [f"--config={sched_cfg}", "--bind-address=127.0.0.1", "--secure-port=0"])
    state.native_settings = {"qps": qps, "burst": burst}
    state.save()
    time.sleep(1.0)
    for name in NATIVE_PROCESSES:
        if not _pid_runs(state.pids[name], state.binaries[name]):
            tail = (state.dir / f"{name}.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{name} exited at start:\n{tail}")


def _stop(state: ClusterState, names: tuple[str, ...], sig: signal.Signals = signal.SIGTERM) -> None:
    victims = {n: state.pids[n] for n in names if n in state.pids}
    for n, pid in victims.items():
        if _pid_runs(pid, state.binaries.get(n, "")):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
    deadline = time.monotonic() + 10
    for n, pid in victims.items():
        while _pid_runs(pid, state.binaries.get(n, "")) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _pid_runs(pid, state.binaries.get(n, "")):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)  # reap our own child (a no-op error for others)
        state.pids.pop(n, None)
    state.save()


def restart_apiserver(state: ClusterState, crash: bool = False, down_s: float = 0.0) -> float:
    """Stops kube-apiserver (SIGTERM, as a rolling restart would; SIGKILL with crash), keeps it down
    for down_s, starts it again with the same flags and waits until /readyz answers. Returns the
    seconds from the stop to ready. For chaos tests: etcd and what it stores stay as they were."""
    started = time.monotonic()
    _stop(state, ("kube-apiserver",), signal.SIGKILL if crash else signal.SIGTERM)
    time.sleep(down_s)
    _start_apiserver(state)
    return time.monotonic() - started


def stop_native(state: ClusterState) -> None:
    _stop(state, NATIVE_PROCESSES)


def provider_running(state: ClusterState) -> bool:
    pid = state.pids.get(PROVIDER_PROCESS)
    return pid is not None and _pid_runs(pid, state.binaries.get(PROVIDER_PROCESS, ""))


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
    _spawn(
        state,
        PROVIDER_PROCESS,
        [f"--kubeconfig={state.kubeconfig}", f"--ready-file={ready}", *limits.to_args()],
    )
    _wait_until("provider simulator", ready.exists, state, PROVIDER_PROCESS)
    state.provider = limits.to_record()
    state.save()
    quota = f"quota {limits.quota_pods} pods" if limits.quota_pods else "no quota"
    _say(f"provider simulator up: {limits.launch_rate:g} launches/s, burst {limits.launch_burst}, {quota}")


def stop_provider(state: ClusterState) -> None:
    """Stops the provider simulator; virtual nodes created from now on are kwok's again."""
    _stop(state, (PROVIDER_PROCESS,))
    state.provider = {}
    state.save()


def down(name: str = "dev") -> bool:
    """Stops every process `up` started, by PID, and removes the state (etcd data on tmpfs)."""
    state = ClusterState.load(name)
    if state is None:
        return False
    _stop(state, (PROVIDER_PROCESS, *NATIVE_PROCESSES, "kwok", "kube-apiserver", "etcd"))
    shutil.rmtree(state.dir, ignore_errors=True)
    return True


def running_pids(state: ClusterState) -> Iterator[tuple[str, int]]:
    for n, pid in state.pids.items():
        if _pid_runs(pid, state.binaries.get(n, "")):
            yield n, pid
