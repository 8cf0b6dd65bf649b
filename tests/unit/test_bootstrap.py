"""deploy/local/bootstrap.sh is safe to source in an interactive shell: it leaves no shell option set and
returns (never exits) when something is missing. Run in a scratch copy with stand-in tools, so no
virtualenv is built here."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BASH = shutil.which("bash") or "/bin/bash"

# What the sourcing shell prints after it: its option flags, pipefail, and that it is still alive.
AFTER = 'echo "status=$? flags=$- pipefail=$(shopt -qo pipefail && echo on || echo off) alive"'


def _scratch(tmp_path: Path, *, with_go: bool) -> tuple[Path, dict[str, str]]:
    """A repository-shaped directory whose .venv is already installed, and PATH with stand-in tools."""
    root = tmp_path / "repo"
    (root / "jobsched").mkdir(parents=True)
    (root / "deploy" / "local").mkdir(parents=True)
    shutil.copy(REPO / "deploy/local/bootstrap.sh", root / "deploy/local/bootstrap.sh")
    (root / "pyproject.toml").write_text("")
    venv_bin = root / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "python").write_text("#!/bin/sh\nexit 0\n")
    (venv_bin / "python").chmod(0o755)
    stamp = root / ".venv" / ".jobsched-installed"
    stamp.write_text("")
    os.utime(root / "pyproject.toml", (1_000_000, 1_000_000))  # older than the stamp: nothing to install
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in ("openssl", *(["go"] if with_go else [])):
        (tools / tool).write_text("#!/bin/sh\nexit 0\n")
        (tools / tool).chmod(0o755)
    return root, {"PATH": str(tools), "HOME": str(tmp_path)}


def _source(root: Path, env: dict[str, str], before: str = "") -> str:
    script = f"{before}\nsource deploy/local/bootstrap.sh\n{AFTER}\n"
    done = subprocess.run(
        [BASH, "--norc", "-c", script], cwd=root, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip() + done.stderr


@pytest.mark.parametrize("with_go", [True, False], ids=["ready", "go-missing"])
def test_sourcing_sets_no_shell_option(tmp_path: Path, with_go: bool) -> None:
    root, env = _scratch(tmp_path, with_go=with_go)
    out = _source(root, env)
    flags = out.split("flags=")[1].split()[0]
    assert not {"e", "u"} & set(flags), out
    assert "pipefail=off" in out
    assert "alive" in out


def test_a_missing_tool_returns_1_and_keeps_the_shell(tmp_path: Path) -> None:
    root, env = _scratch(tmp_path, with_go=False)
    out = _source(root, env)
    assert "status=1" in out
    assert "go is required" in out


def test_ready_puts_the_venv_first_on_path_once_and_leaves_no_function(tmp_path: Path) -> None:
    root, env = _scratch(tmp_path, with_go=True)
    twice = "source deploy/local/bootstrap.sh; source deploy/local/bootstrap.sh"
    script = f'{twice}; echo "$PATH"; declare -F'
    done = subprocess.run([BASH, "--norc", "-c", script], cwd=root, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split(":") == [str(root / ".venv/bin"), env["PATH"]]
    assert not any("_jobsched_bootstrap" in line for line in lines[1:])


def test_a_caller_with_errexit_still_stops_on_failure(tmp_path: Path) -> None:
    """tests/run.sh and bench/demo.sh run under `set -euo pipefail`: a failed bootstrap stops them."""
    root, env = _scratch(tmp_path, with_go=False)
    done = subprocess.run(
        [BASH, "--norc", "-c", "set -euo pipefail; source deploy/local/bootstrap.sh; echo continued"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert "continued" not in done.stdout


def test_executed_instead_of_sourced_exits_1(tmp_path: Path) -> None:
    root, env = _scratch(tmp_path, with_go=False)
    done = subprocess.run(
        [BASH, "deploy/local/bootstrap.sh"], cwd=root, env=env, capture_output=True, text=True
    )
    assert done.returncode == 1
    assert "go is required" in done.stderr
