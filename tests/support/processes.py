"""Processes a test starts and talks to: free loopback ports, plain HTTP GETs, and `jobsched run`."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import anyio
import yaml
from anyio.abc import Process

from jobsched.devcluster.state import ClusterState


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return int(resp.status), resp.read().decode()
    except urllib.error.HTTPError as err:
        return int(err.code), err.read().decode()


class JobschedProcess:
    """Starts `jobsched run` processes (scheduler and cron engine) on one config, logging to tmp_path."""

    def __init__(self, control_plane: ClusterState, tmp_path: Path, config: dict[str, Any]) -> None:
        self.kubeconfig = str(control_plane.kubeconfig)
        self.tmp_path = tmp_path
        self.config = tmp_path / "jobsched.yaml"
        self.config.write_text(yaml.safe_dump(config))
        self.started: list[tuple[Process, Path]] = []
        self.port = 0

    async def start(self) -> Process:
        self.port = free_port()
        log = self.tmp_path / f"jobsched-{len(self.started)}.log"
        with log.open("wb") as out:
            proc = await anyio.open_process(
                [sys.executable, "-m", "jobsched", "run", "--config", str(self.config),
                 "--kubeconfig", self.kubeconfig, "--port", str(self.port)],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        self.started.append((proc, log))
        return proc

    async def wait_ready(self, proc: Process) -> None:
        with anyio.fail_after(60):
            while True:
                assert proc.returncode is None, self.started[-1][1].read_text()
                with contextlib.suppress(OSError):
                    if http_get(self.port, "/readyz")[0] == 200:
                        return
                await anyio.sleep(0.2)

    def metric(self, sample: str) -> float:
        """The value of one sample line of the newest process's /metrics (0 if absent)."""
        status, text = http_get(self.port, "/metrics")
        assert status == 200
        for line in text.splitlines():
            if line.startswith(sample + " "):
                return float(line.split()[-1])
        return 0.0

    async def stop_all(self) -> None:
        for proc, _ in self.started:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
                with anyio.move_on_after(15):
                    await proc.wait()
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
