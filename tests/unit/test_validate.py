"""`jobsched validate`: offline lint of cron ConfigMap files, robust to any input."""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
