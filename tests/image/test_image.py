"""The jobsched image, built from the Dockerfile and run, as a cluster would run it.

deploy/image/build.sh builds it with buildah (no daemon, no registry) on a Debian bookworm base that
debootstrap makes from Debian's mirror; both are cached under ~/.cache/jobsched/images, so only the first
build is slow. The tests run the image's own entrypoint inside it, as the image's user: `--version`, and
`validate` on the example ConfigMaps and on a broken one (which must fail, naming entry and field). They
also hold the image to what deploy/ expects of it: its name, its user, where it reads its config.

Without root, buildah or debootstrap the image tests skip and say which is missing (.ci/run installs
them). Select them with `pytest tests/image` or `-m image`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

import jobsched

ROOT = Path(__file__).resolve().parents[2]
BUILD_SH = ROOT / "deploy/image/build.sh"
EXAMPLES = sorted((ROOT / "config/examples").glob("*.yaml"))

# A cold build (debootstrap, then PyPI) takes minutes; this only guards against a hang.
pytestmark = [pytest.mark.image, pytest.mark.timeout(1800)]


def build_sh(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(BUILD_SH), *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )


def missing_builder() -> str | None:
    """Why the image cannot be built here, or None."""
    missing = [tool for tool in ("buildah", "debootstrap") if shutil.which(tool) is None]
    if missing:
        return f"{' and '.join(missing)} not installed (Debian: apt-get install buildah debootstrap)"
    if os.geteuid() != 0:
        return "building the base needs root (debootstrap, buildah's mounts)"
    return None


def deploy_image() -> str:
    """The image deploy/ runs: the `images:` rewrite in deploy/base/kustomization.yaml."""
    kustomization = yaml.safe_load((ROOT / "deploy/base/kustomization.yaml").read_text())
    [image] = kustomization["images"]
    return f"{image['newName']}:{image['newTag']}"


def shipped_deployment() -> dict[str, Any]:
    deployment: dict[str, Any] = yaml.safe_load((ROOT / "deploy/base/deployment.yaml").read_text())
    return deployment


def test_version_flag() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "jobsched.cli", "--version"], capture_output=True, text=True, check=False
    )
    assert (done.returncode, done.stdout) == (0, f"jobsched {jobsched.__version__}\n")


def test_build_tags_the_image_deploy_runs() -> None:
    done = build_sh("tag")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == deploy_image()
    assert deploy_image().endswith(f":{jobsched.__version__}")  # a release bumps both


@pytest.fixture(scope="module")
def image() -> str:
    reason = missing_builder()
    if reason:
        pytest.skip(f"image not built: {reason}")
    built = build_sh("build", timeout=1700)
    assert built.returncode == 0, f"{built.stdout[-3000:]}\n{built.stderr[-3000:]}"
    return deploy_image()


@pytest.fixture(scope="module")
def config(image: str) -> dict[str, Any]:
    """The image's OCI config: user, environment, entrypoint, command."""
    done = build_sh("buildah", "inspect", "--type", "image", image)
    assert done.returncode == 0, done.stderr
    oci_config: dict[str, Any] = json.loads(done.stdout)["OCIv1"]["config"]
    return oci_config


@pytest.fixture(scope="module")
def container(image: str) -> Iterator[str]:
    made = build_sh("buildah", "from", "--pull=never", image)
    assert made.returncode == 0, made.stderr
    name = made.stdout.strip()
    try:
        yield name
    finally:
        build_sh("buildah", "rm", name)


def run_in(
    container: str, command: Sequence[str], volumes: Sequence[str] = ()
) -> subprocess.CompletedProcess[str]:
    """`command` in the container, as the image's user, with host directories mounted read-only."""
    mounts = [f"--volume={volume}:ro" for volume in volumes]
    return build_sh("buildah", "run", *mounts, container, "--", *command)


def test_image_runs_as_the_deployments_user(config: dict[str, Any], container: str) -> None:
    pod = shipped_deployment()["spec"]["template"]["spec"]
    user = f"{pod['securityContext']['runAsUser']}:{pod['securityContext']['runAsGroup']}"
    assert config["User"] == user
    ids = run_in(container, ["id", "-u"])
    assert (ids.returncode, ids.stdout) == (0, f"{pod['securityContext']['runAsUser']}\n"), ids.stderr
    # Its code is not its own to change, read-only root filesystem or not.
    probe = run_in(container, ["python3", "-c", "import os; print(os.access('/opt/jobsched', os.W_OK))"])
    assert (probe.returncode, probe.stdout) == (0, "False\n"), probe.stderr


def test_default_command_reads_the_config_the_deployment_mounts(config: dict[str, Any]) -> None:
    [mount] = [m for m in shipped_deployment()["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
               if m["name"] == "config"]  # fmt: skip
    assert config["Entrypoint"] == ["jobsched"]
    assert config["Cmd"] == ["run", "--config", f"{mount['mountPath']}/jobsched.yaml"]


def test_version_inside(config: dict[str, Any], container: str) -> None:
    done = run_in(container, [*config["Entrypoint"], "--version"])
    assert (done.returncode, done.stdout) == (0, f"jobsched {jobsched.__version__}\n"), done.stderr


def test_validate_the_examples_inside(config: dict[str, Any], container: str) -> None:
    files = [f"/examples/{path.name}" for path in EXAMPLES]
    done = run_in(
        container, [*config["Entrypoint"], "validate", *files], [f"{ROOT / 'config/examples'}:/examples"]
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == ""  # no problems; each file's note goes to stderr
    ok = {line.split(": ")[1] for line in done.stderr.splitlines() if line.endswith(" entries ok")}
    assert ok == set(files), done.stderr


def test_validate_names_the_bad_field_inside(config: dict[str, Any], container: str, tmp_path: Path) -> None:
    bad = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "nightly", "namespace": "batch", "labels": {"jobsched.io/cron": "true"}},
        "data": {
            "crons.yaml": yaml.safe_dump(
                {
                    "entries": [
                        {
                            "name": "broken",
                            "schedule": "61 * * * *",
                            "template": {"spec": {"containers": []}},
                        },
                        {
                            "name": "fine",
                            "schedule": "0 0 * * *",
                            "template": {"spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}},
                        },
                    ]
                }
            )
        },
    }
    (tmp_path / "nightly.yaml").write_text(yaml.safe_dump(bad))
    # The image's user is not root: the file must be readable by others, as a ConfigMap volume is.
    tmp_path.chmod(0o755)
    (tmp_path / "nightly.yaml").chmod(0o644)
    done = run_in(container, [*config["Entrypoint"], "validate", "/in/nightly.yaml"], [f"{tmp_path}:/in"])
    assert done.returncode == 1, done.stdout + done.stderr
    assert (
        "/in/nightly.yaml: batch/nightly: entry broken: data[crons.yaml].entries[0].schedule:" in done.stdout
    )
    assert "entry fine" not in done.stdout
