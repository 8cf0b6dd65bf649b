"""`jobsched validate`: offline lint of cron ConfigMap files, robust to any input."""

from __future__ import annotations

import glob
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobsched import validate
from jobsched.validate import check_files, main, validate_files

EXAMPLES = sorted(glob.glob(str(Path(__file__).parents[2] / "config" / "examples" / "*.yaml")))

GOOD = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: crons
  namespace: batch
  labels: {jobsched.io/cron: "true"}
data:
  crons.yaml: |
    entries:
      - name: ok
        schedule: "@hourly"
        template: {spec: {containers: [{name: c, image: busybox}]}}
"""


def write(tmp_path: Path, text: str | bytes, name: str = "cm.yaml") -> str:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return str(path)


def test_examples_are_valid() -> None:
    assert len(EXAMPLES) >= 3
    assert validate_files(EXAMPLES) == []
    assert main(EXAMPLES) == 0


def test_good_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([write(tmp_path, GOOD)]) == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert "batch/crons: 1 entries ok" in err


def test_problem_line_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, GOOD.replace('"@hourly"', '"0 0 0 * * *"'))
    assert main([path]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"{path}: batch/crons: entry ok: data[crons.yaml].entries[0].schedule: "
        "6 fields given: seconds are not supported, use 5 fields (minute first)"
    ]


def test_unlabelled_configmap_is_a_problem(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace('labels: {jobsched.io/cron: "true"}', "labels: {}"))
    (line,) = validate_files([path])
    assert "jobsched ignores ConfigMaps without the label jobsched.io/cron" in line
    assert f"{path}: batch/crons: metadata.labels[jobsched.io/cron]:" in line


def test_multiple_documents_and_other_kinds(tmp_path: Path) -> None:
    other = "apiVersion: v1\nkind: Namespace\nmetadata: {name: batch}\n"
    second = GOOD.replace("name: crons", "name: more").replace("name: ok", "name: Bad")
    path = write(tmp_path, f"{other}---\n{GOOD}---\n---\n{second}")
    problems, notes = check_files([path])
    assert len(problems) == 1
    assert "batch/more: entry #0: data[crons.yaml].entries[0].name:" in problems[0]
    assert any("document 1 (Namespace) ignored" in n for n in notes)


def test_kind_list_items_are_checked(tmp_path: Path) -> None:
    items = [yaml.safe_load(GOOD), yaml.safe_load(GOOD.replace('"@hourly"', "nope"))]
    path = write(tmp_path, yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items}))
    assert len(validate_files([path])) == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        ("kind: ConfigMap\nmetadata: [unclosed", "invalid YAML"),
        ("[" * 5000, "invalid YAML"),
    ],
)
def test_unreadable_files(tmp_path: Path, content: str | bytes, message: str) -> None:
    (line,) = validate_files([write(tmp_path, content)])
    assert message in line


def test_missing_file_and_no_arguments(tmp_path: Path) -> None:
    (line,) = validate_files([str(tmp_path / "absent.yaml")])
    assert "cannot read" in line
    assert main([]) == 2


def test_no_configmap_is_only_a_note(tmp_path: Path) -> None:
    problems, notes = check_files([write(tmp_path, "just: a mapping\n")])
    assert problems == []
    assert any("no ConfigMap found" in n for n in notes)


# --- fuzzing: never a traceback -------------------------------------------------------------------

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10)
values = st.recursive(
    scalars,
    lambda kids: (
        st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=10) | st.integers(), kids, max_size=4)
    ),
    max_leaves=25,
)
field_names = st.sampled_from(
    [
        "name",
        "schedule",
        "timeZone",
        "template",
        "kind",
        "domains",
        "spec",
        "containers",
        "metadata",
        "labels",
    ]
)


def configmap_like(draw_data: Any, entries: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": draw_data,
        "data": {"crons.yaml": yaml.safe_dump({"entries": entries}), "x.yaml": yaml.safe_dump(draw_data)},
    }


FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes_never_crash(tmp_path: Path, content: bytes) -> None:
    path = write(tmp_path, content, "fuzz.yaml")
    assert main([path]) in (0, 1)


@FUZZ
@given(st.text(alphabet=st.sampled_from(list("abc:-[]{}&*!|>'\"#\n ,?@%0123")), max_size=200))
def test_yaml_shaped_text_never_crashes(tmp_path: Path, content: str) -> None:
    validate_files([write(tmp_path, content, "fuzz.yaml")])


@FUZZ
@given(values, st.lists(st.dictionaries(field_names, values, max_size=6), max_size=3))
def test_wrong_types_anywhere_never_crash(tmp_path: Path, metadata: Any, entries: Any) -> None:
    doc = configmap_like(metadata, entries)
    validate_files([write(tmp_path, yaml.safe_dump(doc), "fuzz.yaml")])
    validate_files([write(tmp_path, yaml.safe_dump({**doc, "data": metadata}), "fuzz.yaml")])


# --- hostile files: one line each, bounded work, never a traceback ---------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    return subprocess.run(
        [sys.executable, "-m", "jobsched", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_a_configmap_over_the_apiservers_mebibyte_is_a_problem(tmp_path: Path) -> None:
    doc = yaml.safe_load(GOOD)
    doc["data"]["pad.txt"] = "x" * (1024 * 1024)
    (line,) = validate_files([write(tmp_path, yaml.safe_dump(doc))])
    assert ": batch/crons: data: holds 1,048," in line
    assert "more than 1,048,576 bytes (1 MiB)" in line


def test_an_alias_bomb_in_the_manifest_is_one_problem(tmp_path: Path) -> None:
    bomb = "".join(f"x{i}: &x{i} [{', '.join([f'*x{i - 1}'] * 10)}]\n" for i in range(1, 9))
    text = GOOD.replace(
        "kind: ConfigMap\n",
        "kind: ConfigMap\nx0: &x0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + bomb,
    )
    text = text.replace("name: crons\n", "name: *x8\n")
    problems, _ = check_files([write(tmp_path, text)])
    assert ": batch/<unnamed>: x5: too large: more than" in problems[0]
    assert all("x6[0]: alias *x5 (line 9) names a value that was refused" in p for p in problems[1:])


def test_a_data_key_given_twice_is_a_problem(tmp_path: Path) -> None:
    text = GOOD + "  crons.yaml: |\n    entries: []\n"
    (line,) = validate_files([write(tmp_path, text)])
    assert ": batch/crons: data.crons.yaml: duplicate key 'crons.yaml'" in line


def test_a_file_too_large_to_be_configmaps_is_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(validate, "MAX_FILE_BYTES", 100)
    (line,) = validate_files([write(tmp_path, GOOD)])
    assert "larger than 100 bytes, not read" in line


@pytest.mark.parametrize(
    "content",
    [
        b"\xff\xfe\x00garbage",
        b"kind: ConfigMap\nmetadata: {name: x}\ndata: {a.yaml: 'entries: " + b"9" * 5000 + b"'}\n",
        b"kind: ConfigMap\nmetadata: {name: " + b"n" * 300 + b"}\ndata: {}\n",
        b"kind: ConfigMap\n" + b"n: " + b"1" * 5000 + b"\n",
    ],
)
def test_the_command_line_gives_lines_and_a_status_never_a_traceback(tmp_path: Path, content: bytes) -> None:
    run = run_cli("validate", write(tmp_path, content), str(tmp_path))
    assert run.returncode == 1, run
    assert "Traceback" not in run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) >= 2
    assert lines[-1] == f"{tmp_path}: cannot read: Is a directory"
