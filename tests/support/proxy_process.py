"""A FaultProxy in a process of its own, so a storm's traffic through it never shares an event loop
with the harness that measures the storm (or with jobsched).

    python -m tests.support.proxy_process --cluster NAME --plan '{"rate_429": 0.05}' \\
        --kubeconfig /tmp/proxy.kubeconfig --counts /tmp/proxy-counts.json

It writes the kubeconfig (the cluster's, with `server` pointing at the proxy), prints `ready URL` on
stdout once it listens, and on SIGTERM or SIGINT writes its fault counts as JSON and exits 0.
`ProxyProcess` starts and stops it from a test or the chaos suite.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio

from jobsched.devcluster.state import ClusterState
from tests.support.faultproxy import FaultPlan, FaultProxy

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0


def plan_to_json(plan: FaultPlan) -> str:
    data = dataclasses.asdict(plan)
    if plan.methods is not None:
        data["methods"] = sorted(plan.methods)
    return json.dumps(data)


def plan_from_json(text: str) -> FaultPlan:
    data = json.loads(text)
    if data.get("methods") is not None:
        data["methods"] = frozenset(data["methods"])
    return FaultPlan(**data)


async def _serve(state: ClusterState, plan: FaultPlan, seed: int, kubeconfig: Path, counts: Path) -> None:
    async with FaultProxy(state, plan, seed=seed) as proxy:
        proxy.write_kubeconfig(kubeconfig)
        print(f"ready {proxy.url}", flush=True)
        try:
            with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                async for _ in signals:
                    break
        finally:
            await anyio.Path(counts).write_text(json.dumps(dict(proxy.counts)))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.proxy_process", description=__doc__)
    parser.add_argument("--cluster", required=True, help="devcluster name (its state under /dev/shm)")
    parser.add_argument("--plan", required=True, help="FaultPlan fields as JSON")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--kubeconfig", type=Path, required=True, help="where to write the proxy's kubeconfig"
    )
    parser.add_argument("--counts", type=Path, required=True, help="where to write fault counts at exit")
    args = parser.parse_args(argv)
    state = ClusterState.load(args.cluster)
    if state is None:
        print(f"cluster {args.cluster!r} is not up", file=sys.stderr)
        return 1
    anyio.run(_serve, state, plan_from_json(args.plan), args.seed, args.kubeconfig, args.counts)
    return 0


class ProxyProcess:
    """Starts the proxy process and stops it; `counts` holds its fault counts after stop()."""

    def __init__(self, state: ClusterState, plan: FaultPlan, workdir: Path, seed: int = 0) -> None:
        self.state = state
        self.plan = plan
        self.seed = seed
        self.kubeconfig = workdir / "proxy.kubeconfig"
        self._counts_path = workdir / "proxy-counts.json"
        self._log = workdir / "proxy.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.counts: dict[str, int] = {}

    def start(self) -> None:
        command = [
            sys.executable,
            "-m",
            "tests.support.proxy_process",
            f"--cluster={self.state.name}",
            f"--plan={plan_to_json(self.plan)}",
            f"--seed={self.seed}",
            f"--kubeconfig={self.kubeconfig}",
            f"--counts={self._counts_path}",
        ]
        with self._log.open("ab") as log:
            self._proc = subprocess.Popen(
                command,
                stdout=subprocess.PIPE,
                stderr=log,
                stdin=subprocess.DEVNULL,
                cwd=REPO_ROOT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                start_new_session=True,
            )
        assert self._proc.stdout is not None
        deadline = time.monotonic() + READY_TIMEOUT_S
        line = b""
        while time.monotonic() < deadline and self._proc.poll() is None:
            line = self._proc.stdout.readline()
            if line.startswith(b"ready "):
                self.url = line.split()[1].decode()
                return
        tail = self._log.read_text(errors="replace")[-2000:]
        self.stop()
        raise RuntimeError(f"fault proxy did not start (last output {line!r}); log:\n{tail}")

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self) -> dict[str, int]:
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        with contextlib.suppress(OSError, ValueError):
            loaded: Any = json.loads(self._counts_path.read_text())
            self.counts = {str(k): int(v) for k, v in loaded.items()}
        return self.counts


if __name__ == "__main__":
    sys.exit(main())
