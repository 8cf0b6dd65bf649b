"""What a running dev cluster is: its name, directory, ports, token and the PIDs of its processes,
persisted as state.json in a state directory on tmpfs, so that `down` and later `up`s find it."""

from __future__ import annotations

import json
import os
import socket
from dataclasses import asdict, dataclass, field
from pathlib import Path

from jobsched.devcluster import build
from jobsched.devcluster.provider.limits import ProviderLimits


def state_root() -> Path:
    override = os.environ.get("JOBSCHED_STATE")
    if override:
        return Path(override)
    shm = Path("/dev/shm")
    return (shm if shm.is_dir() else Path(build.cache_root())) / "jobsched"


def free_port() -> int:
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
