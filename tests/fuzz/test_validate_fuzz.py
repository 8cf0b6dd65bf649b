"""Fuzzing `jobsched validate`: no traceback for any file, the documented exit status, and a line per
problem that names the file, the ConfigMap, the entry and the field."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from jobsched import validate
from jobsched.core.cronlimits import MAX_CONFIGMAP_NAME
from tests.fuzz.strategies import (
    BigInt,
    CronMap,
    DupKey,
    alias_graphs,
    cron_configmaps,
    dump_yaml,
    expanded_size,
    fuzz_settings,
    names_at_limits,
    texts,
)


@contextlib.contextmanager
def files(*contents: str | bytes) -> Iterator[list[str]]:
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for index, content in enumerate(contents):
            path = Path(tmp) / f"cm-{index}.yaml"
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")
            paths.append(str(path))
        yield paths


def run_main(paths: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = validate.main(paths)
    return code, out.getvalue(), err.getvalue()


def expected_lines(path: str, cm: CronMap) -> list[str]:
    """The start of the line each bad entry and bad key must get."""
    lines = [f"{path}: {cm.ref}: entry {p.label}: {p.field_path()}: " for p in cm.bads()]
    return lines + [f"{path}: {cm.ref}: {field}: " for field in cm.key_problems]


def stream(cms: list[CronMap], as_list: bool) -> str:
    bodies = [cm.body for cm in cms]
    if as_list:
        return yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": bodies}, allow_unicode=True)
    return yaml.safe_dump_all(bodies, allow_unicode=True)


@fuzz_settings(0.4)
@given(
    st.lists(st.lists(cron_configmaps(max_entries=5), min_size=1, max_size=3), min_size=1, max_size=2),
    st.booleans(),
)
def test_every_bad_entry_gets_a_line_and_the_exit_status_says_so(
    batches: list[list[CronMap]], as_list: bool
) -> None:
    with files(*(stream(cms, as_list) for cms in batches)) as paths:
        code, out, err = run_main(paths)
    lines = out.splitlines()
    wanted = [
        line
        for path, cms in zip(paths, batches, strict=True)
        for cm in cms
        for line in expected_lines(path, cm)
    ]
    assert code == (1 if wanted else 0), out
    for start in wanted:
        assert any(line.startswith(start) for line in lines), (start, out)
    assert len(lines) >= len(wanted)
    assert "Traceback" not in out + err
    if not wanted:
        assert out == ""


@fuzz_settings(0.4)
@given(
    st.one_of(
        st.binary(max_size=400),
        st.text(max_size=400).map(lambda t: t.encode("utf-8", "surrogatepass")),
        st.lists(
            st.sampled_from([*"ab:-[]{}&*!|>'\"#\n\t ,?@%", "kind: ConfigMap\n", "data:\n", "---\n", "\xff"]),
            max_size=80,
        )
        .map("".join)
        .map(lambda t: t.encode("utf-8", "surrogatepass")),
    )
)
# Found by fuzzing: an integer of over 4300 digits made PyYAML raise ValueError, in the file or in a key.
@example(b"kind: ConfigMap\nn: " + b"1" * 5000 + b"\n")
@example(b"kind: ConfigMap\nmetadata: {name: x}\ndata: {a.yaml: 'entries: " + b"9" * 5000 + b"'}\n")
@example(
    b"kind: ConfigMap\nmetadata: {name: x}\ndata: {a.yaml: '[{template: {spec: "
    + b"[" * 500
    + b"]" * 500
    + b"}}]'}\n"
)
def test_any_bytes_give_an_exit_status_not_a_traceback(content: bytes) -> None:
    with files(content) as [path]:
        code, out, err = run_main([path])
    assert code in (0, 1)
    assert "Traceback" not in out + err
    assert all(line.startswith(f"{path}: ") for line in out.splitlines()), out
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        assert code == 1
        assert out.startswith(f"{path}: not UTF-8 text")


@fuzz_settings(0.2)
@given(cron_configmaps(max_entries=4), texts)
def test_one_broken_file_does_not_hide_the_others(cm: CronMap, garbage: str) -> None:
    with files(stream([cm], False), b"\xff\xfe" + garbage.encode(), "kind: ConfigMap\nmetadata: [") as paths:
        code, out, _ = run_main([*paths, paths[0] + ".absent"])
    assert code == 1
    for start in expected_lines(paths[0], cm):
        assert start in out
    assert f"{paths[1]}: not UTF-8 text" in out
    assert f"{paths[2]}: invalid YAML" in out
    assert f"{paths[0]}.absent: cannot read" in out


def test_the_command_line_entry_point(tmp_path: Path) -> None:
    """Once through a real process: `jobsched validate` exits 1 for a bad file, 0 for a good one, 2 for none."""
    good = tmp_path / "good.yaml"
    good.write_text((Path(__file__).parents[2] / "config" / "examples" / "every-minute.yaml").read_text())
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        good.read_text().replace("kind: ConfigMap", "kind: ConfigMap\n# broken\n", 1) + "\n---\n" + "- [" * 3
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    cli = [sys.executable, "-m", "jobsched.cli", "validate"]
    runs = [
        subprocess.run([*cli, *args], capture_output=True, text=True, env=env, timeout=120)
        for args in ([str(good)], [str(good), str(bad)], [])
    ]
    assert [r.returncode for r in runs] == [0, 1, 2], runs
    assert all("Traceback" not in r.stdout + r.stderr for r in runs)
    assert runs[1].stdout.startswith(f"{bad}: invalid YAML"), runs[1].stdout


# --- hostile manifests ----------------------------------------------------------------------------


@st.composite
def hostile_manifests(draw: st.DrawFn) -> tuple[str, str]:
    """(YAML text, what must be said about it): a good cron ConfigMap with one hostile change to the
    manifest itself, written with anchors, aliases, repeated keys and long numbers as YAML allows."""
    cm = draw(cron_configmaps(max_entries=3, bad=False))
    body = cm.body
    what = draw(st.sampled_from(["alias graph", "duplicate key", "long number", "names at limits"]))
    said = ""
    if what == "alias graph":
        graph = draw(alias_graphs())
        holder, key = draw(
            st.sampled_from([(body, "extra"), (body["metadata"], "name"), (body["metadata"], "annotations")])
        )
        holder[key] = graph
        size = expanded_size(graph)
        if key == "name" and size < 400_000:
            said = "metadata.name: a ConfigMap needs a name"
        elif size > 2_000_000:  # over what the file may expand to: the document is refused
            said = "too large"
    elif what == "duplicate key":
        holder = draw(st.sampled_from([body, body["metadata"], body["data"]]))
        key = draw(st.sampled_from(sorted(holder)))
        holder[DupKey(key)] = holder[key]
        said = f"duplicate key {key!r}"
    elif what == "long number":
        body["metadata"]["generation"] = BigInt(draw(st.integers(4301, 5000)))
        said = "digits, too long to read"
    else:
        configmap, namespace, _ = draw(names_at_limits())
        body["metadata"]["name"] = configmap
        body["metadata"]["namespace"] = namespace
        if len(configmap) > MAX_CONFIGMAP_NAME:
            said = "metadata.name: "
        elif len(namespace) > 63:
            said = "metadata.namespace: "
    return dump_yaml(body), said


@fuzz_settings(0.5)
@given(st.lists(hostile_manifests(), min_size=1, max_size=3))
def test_a_hostile_manifest_gets_its_line_and_the_others_are_still_checked(
    manifests: list[tuple[str, str]],
) -> None:
    with files(*(text for text, _ in manifests)) as paths:
        code, out, err = run_main(paths)
    assert "Traceback" not in out + err
    lines = out.splitlines()
    assert all(len(line) < 1000 for line in lines), max(len(line) for line in lines)
    for path, (_, said) in zip(paths, manifests, strict=True):
        mine = [line for line in lines if line.startswith(f"{path}: ")]
        if said:
            assert any(said in line for line in mine), (said, mine)
    assert code == (1 if lines else 0)
