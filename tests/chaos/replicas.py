"""A jobsched "Deployment" for chaos runs: N `jobsched run --leader-elect` processes, each restarted
when it exits, as a ReplicaSet would replace a dead pod.

A replacement gets a new identity (`r0-g2` is replica 0's second generation), as a new pod gets a new
name, so it never inherits the Lease its predecessor held: it has to wait out leaseDuration like any
other candidate. Every exit is recorded with its code and time, so a scenario can say what happened
(a SIGKILL shows as -9, a leader that could not renew exits 1).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import anyio

from bench.lib.systems import spawn

RESTART_DELAY_S = 1.0  # a ReplicaSet needs about this long to notice and start a replacement
STOP_GRACE_S = 10.0


@dataclass
class Replica:
    slot: int
    generation: int
    identity: str  # its leader-election identity
    proc: subprocess.Popen[bytes]
    started: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class Exit:
    identity: str
    code: int
    at: float  # monotonic


class Replicas:
    def __init__(self, count: int, kubeconfig: Path, config: Path, workdir: Path, prefix: str) -> None:
        self.count = count
        self.kubeconfig = kubeconfig
        self.config = config
        self.workdir = workdir
        self.prefix = prefix  # makes identities unique across runs sharing a cluster
        self.live: dict[int, Replica] = {}
        self.exits: list[Exit] = []
        self._stopping = False

    def _spawn(self, slot: int, generation: int) -> Replica:
        identity = f"{self.prefix}-r{slot}-g{generation}"
        command = [
            sys.executable,
            "-m",
            "jobsched",
            "run",
            f"--kubeconfig={self.kubeconfig}",
            f"--config={self.config}",
            "--leader-elect",
            f"--identity={identity}",
            "--port=0",
        ]
        proc = spawn(command, self.workdir / f"{identity}.log")
        replica = Replica(slot, generation, identity, proc)
        self.live[slot] = replica
        return replica

    def start(self) -> None:
        for slot in range(self.count):
            self._spawn(slot, 1)

    def by_identity(self, identity: str) -> Replica | None:
        return next((r for r in self.live.values() if r.identity == identity), None)

    def kill(self, identity: str, sig: signal.Signals = signal.SIGKILL) -> bool:
        replica = self.by_identity(identity)
        if replica is None or replica.proc.poll() is not None:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(replica.proc.pid, sig)
        return True

    def pids(self) -> list[int]:
        return [r.proc.pid for r in self.live.values() if r.proc.poll() is None]

    async def supervise(self) -> None:
        """Replaces every replica that exits, RESTART_DELAY_S after the exit. Runs until cancelled."""
        while True:
            await anyio.sleep(0.1)
            for slot, replica in list(self.live.items()):
                code = replica.proc.poll()
                if code is None or self._stopping:
                    continue
                exited = Exit(replica.identity, code, time.monotonic())
                self.exits.append(exited)
                del self.live[slot]
                await anyio.sleep(RESTART_DELAY_S)
                if not self._stopping:
                    self._spawn(slot, replica.generation + 1)

    def stop(self) -> None:
        """SIGTERM to every replica (they hand the Lease back), SIGKILL after STOP_GRACE_S."""
        self._stopping = True
        for replica in self.live.values():
            if replica.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(replica.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for replica in self.live.values():
            try:
                replica.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(replica.proc.pid, signal.SIGKILL)
                replica.proc.wait()
        self.live.clear()
