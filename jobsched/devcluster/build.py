"""Builds the local control plane's binaries from Go modules and caches them by version.

There is no Docker engine and no release download here, so kube-apiserver, kube-scheduler,
kube-controller-manager and kubectl come from the small Go module in deploy/local/kube (which pins
k8s.io/kubernetes and its staging modules), etcd from deploy/local/etcd, and kwok from
`go install`. Each component lands in ``$JOBSCHED_CACHE/bin/<component>-<version>-<gomod hash>/``,
so a version bump or a go.mod change builds afresh and everything else starts in seconds.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

KWOK_MODULE = "sigs.k8s.io/kwok"
KWOK_VERSION = "v0.8.0"


def cache_root() -> Path:
    """Where built binaries live: outside the repo, shared by every clone on the machine."""
    override = os.environ.get("JOBSCHED_CACHE")
    if override:
        return Path(override)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "jobsched"


def go_modules_dir() -> Path:
    """deploy/local in the source tree (the package is installed editable from it)."""
    override = os.environ.get("JOBSCHED_GO_MODULES")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "deploy" / "local"


@dataclass(frozen=True)
class Component:
    """One cached build: the binaries it yields and the version that keys the cache."""

    name: str
    version: str
    binaries: tuple[str, ...]
    key: str

    @property
    def directory(self) -> Path:
        return cache_root() / "bin" / f"{self.name}-{self.version}-{self.key}"

    def path(self, binary: str) -> Path:
        return self.directory / binary

    def is_built(self) -> bool:
        return all(self.path(b).is_file() for b in self.binaries)


def _required_version(gomod: Path, module: str) -> str:
    match = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", gomod.read_text(), re.M)
    if match is None:
        raise RuntimeError(f"{gomod}: no require line for {module}")
    return match.group(1)


def _gomod_key(*files: Path) -> str:
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.read_bytes())
    return digest.hexdigest()[:10]


def kube_component() -> Component:
    mod = go_modules_dir() / "kube"
    return Component(
        name="kubernetes",
        version=_required_version(mod / "go.mod", "k8s.io/kubernetes"),
        binaries=("kube-apiserver", "kube-scheduler", "kube-controller-manager", "kubectl"),
        key=_gomod_key(mod / "go.mod", mod / "go.sum"),
    )


def etcd_component() -> Component:
    mod = go_modules_dir() / "etcd"
    return Component(
        name="etcd",
        version=_required_version(mod / "go.mod", "go.etcd.io/etcd/server/v3"),
        binaries=("etcd",),
        key=_gomod_key(mod / "go.mod", mod / "go.sum"),
    )


def kwok_component() -> Component:
    key = hashlib.sha256(f"{KWOK_MODULE}@{KWOK_VERSION}".encode()).hexdigest()[:10]
    return Component(name="kwok", version=KWOK_VERSION, binaries=("kwok",), key=key)


def all_components() -> tuple[Component, ...]:
    return (etcd_component(), kube_component(), kwok_component())


def _say(message: str) -> None:
    print(f"[dev-cluster] {message}", file=sys.stderr, flush=True)


def _run_go(args: list[str], cwd: Path | None, component: Component, gobin: Path | None = None) -> None:
    """Runs a go command, printing one progress line per 50 compiled packages."""
    env = dict(os.environ)
    if gobin is not None:
        env["GOBIN"] = str(gobin)
    else:
        env.setdefault("GOFLAGS", "-mod=mod")
    env.setdefault("CGO_ENABLED", "0")
    started = time.monotonic()
    proc = subprocess.Popen(
        ["go", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    tail: list[str] = []
    packages = 0
    for line in proc.stdout:
        tail = [*tail[-40:], line.rstrip()]
        if not line.startswith(("go: downloading", "#")):
            packages += 1
            if packages % 50 == 0:
                _say(f"{component.name}: {packages} packages compiled ({time.monotonic() - started:.0f}s)")
    code = proc.wait()
    if code != 0:
        raise RuntimeError(f"building {component.name} failed (go {' '.join(args)}):\n" + "\n".join(tail))


def _kube_version_ldflags(version: str) -> str:
    """Stamps the release into the binaries, which otherwise report v0.0.0-master."""
    major, minor = version.lstrip("v").split(".")[:2]
    flags = ""
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += f" -X {pkg}.gitVersion={version} -X {pkg}.gitMajor={major} -X {pkg}.gitMinor={minor}"
        flags += f" -X {pkg}.gitTreeState=clean"
    return flags


def build(component: Component) -> None:
    """Builds one component into its cache directory (atomically: a partial build is never used)."""
    staging = component.directory.with_name(component.directory.name + ".partial")
    staging.mkdir(parents=True, exist_ok=True)
    _say(f"building {component.name} {component.version} (first build takes minutes; cached after)")
    started = time.monotonic()
    if component.name == "kwok":
        # Outside any module, so the module's own go.mod (not ours) decides its dependencies.
        _run_go(["install", "-v", f"{KWOK_MODULE}/cmd/kwok@{KWOK_VERSION}"], Path("/"), component, staging)
    else:
        mod = go_modules_dir() / ("kube" if component.name == "kubernetes" else "etcd")
        target = "./cmd/..." if component.name == "kubernetes" else "."
        out = staging if component.name == "kubernetes" else staging / "etcd"
        ldflags = "-s -w" + (
            _kube_version_ldflags(component.version) if component.name == "kubernetes" else ""
        )
        _run_go(["build", "-v", "-trimpath", f"-ldflags={ldflags}", "-o", str(out), target], mod, component)
    if not component.directory.exists():
        staging.rename(component.directory)
    _say(f"built {component.name} in {time.monotonic() - started:.0f}s -> {component.directory}")


def ensure_built() -> dict[str, Path]:
    """Builds whatever is missing and returns binary name -> path for every component."""
    paths: dict[str, Path] = {}
    for component in all_components():
        if not component.is_built():
            build(component)
        for binary in component.binaries:
            paths[binary] = component.path(binary)
    return paths
