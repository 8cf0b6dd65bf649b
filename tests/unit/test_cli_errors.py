"""Every command that talks to a cluster, run without a usable kubeconfig: one line on stderr saying what to
fix, exit 1, never a traceback. Run as real processes (`python -m jobsched`), as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

COMMANDS = [
    ["status"],
    ["status", "-A", "-o", "json"],
    ["trigger", "team-a/crons/nightly"],
    ["release", "-A"],
    ["release", "-n", "team-a", "--dry-run"],
    ["enable", "team-a", "--apply"],
    ["run", "--no-cron", "--port", "0"],
]


def _run(
    args: list[str], home: Path, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")}
    env.update({"HOME": str(home), **(extra_env or {})})
    return subprocess.run(
        [sys.executable, "-m", "jobsched", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def _one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(a) for a in COMMANDS])
def test_no_kubeconfig_anywhere(args: list[str], tmp_path: Path) -> None:
    line = _one_line(_run(args, tmp_path))
    assert line.startswith(f"jobsched {args[0]}: no kubeconfig: set KUBECONFIG or pass --kubeconfig")


@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(a) for a in COMMANDS])
def test_a_kubeconfig_flag_naming_a_missing_file(args: list[str], tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    line = _one_line(_run([*args, "--kubeconfig", str(missing)], tmp_path))
    assert f"kubeconfig {missing} (from --kubeconfig) does not exist" in line


@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(a) for a in COMMANDS])
def test_an_unknown_context(args: list[str], tmp_path: Path) -> None:
    config = tmp_path / "kubeconfig"
    config.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:9"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "here", "context": {"cluster": "c", "user": "u", "namespace": "x"}}],
                "current-context": "here",
            }
        )
    )
    line = _one_line(_run([*args, "--context", "elsewhere"], tmp_path, {"KUBECONFIG": str(config)}))
    assert "elsewhere" in line
