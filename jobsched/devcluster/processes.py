"""The dev cluster's processes: started detached with their PID recorded, checked by PID and command line
(so a reused PID is never mistaken for ours), waited on until ready, and stopped by PID."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from jobsched.devcluster.state import ClusterState

START_TIMEOUT_S = 90.0


def say(message: str) -> None:
    print(f"[dev-cluster] {message}", file=sys.stderr, flush=True)


def pid_runs(pid: int, binary: str) -> bool:
    """True if pid is alive and runs the command we started (guards against PID reuse)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return bool(binary) and cmdline.startswith(binary.encode() + b"\0")


def spawn(state: ClusterState, name: str, args: list[str]) -> None:
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
    while not pid_runs(proc.pid, binary) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)


def wait_until(what: str, check: Callable[[], bool], state: ClusterState, proc_name: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if not pid_runs(state.pids[proc_name], state.binaries[proc_name]):
            log_tail = (state.dir / f"{proc_name}.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{proc_name} exited during start-up; last log lines:\n{log_tail}")
        with contextlib.suppress(OSError, ssl.SSLError):
            if check():
                return
        time.sleep(0.2)
    raise RuntimeError(
        f"{what} not ready after {START_TIMEOUT_S:.0f}s; see {state.dir / (proc_name + '.log')}"
    )


def tcp_open(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        return True


def stop(state: ClusterState, names: tuple[str, ...], sig: signal.Signals = signal.SIGTERM) -> None:
    victims = {n: state.pids[n] for n in names if n in state.pids}
    for n, pid in victims.items():
        if pid_runs(pid, state.binaries.get(n, "")):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
    deadline = time.monotonic() + 10
    for n, pid in victims.items():
        while pid_runs(pid, state.binaries.get(n, "")) and time.monotonic() < deadline:
            time.sleep(0.05)
        if pid_runs(pid, state.binaries.get(n, "")):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)  # reap our own child (a no-op error for others)
        state.pids.pop(n, None)
    state.save()


def running_pids(state: ClusterState) -> Iterator[tuple[str, int]]:
    for n, pid in state.pids.items():
        if pid_runs(pid, state.binaries.get(n, "")):
            yield n, pid
