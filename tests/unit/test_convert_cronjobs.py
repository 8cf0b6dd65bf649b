"""`jobsched convert`: CronJobs in, cron ConfigMaps out with the same meaning, every loss reported."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from jobsched import cli
from jobsched.convert import MAX_CONFIGMAP_BYTES, convert
from jobsched.core.cronentry import BATCH_V1_DIALECT, CronEntry
from jobsched.core.cronslots import slots_between
from jobsched.core.cronspec import YAML_LOADER, parse_configmap
from jobsched.validate import validate_files

FIXTURE = Path(__file__).parent / "fixtures" / "cronjobs-list.yaml"
DUMPER: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
START = "2026-01-01T00:00:00Z"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict[str, Any]], list[str]]:
    code = cli.main(["convert", *args])
    out, err = capsys.readouterr()
    return code, [doc for doc in yaml.load_all(out, Loader=YAML_LOADER) if doc], err.splitlines()


def entries_of(configmap: dict[str, Any]) -> list[dict[str, Any]]:
    loaded: list[dict[str, Any]] = yaml.safe_load(configmap["data"]["crons.yaml"])
    return loaded


def cronjob(name: str, namespace: str = "ns", schedule: str = "0 0 * * *", **spec: Any) -> dict[str, Any]:
    pod = {"containers": [{"name": "c", "image": "busybox"}], "restartPolicy": "Never"}
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"schedule": schedule, "jobTemplate": {"spec": {"template": {"spec": pod}}}, **spec},
    }


def test_list_converts_what_it_can_and_names_the_rest(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, configmaps, err = run(capsys, str(FIXTURE), "--start", START)
    assert code == 1
    by_namespace = {cm["metadata"]["namespace"]: cm for cm in configmaps}
    assert sorted(by_namespace) == ["team-a", "team-b"]
    for cm in configmaps:
        assert cm["kind"] == "ConfigMap"
        assert cm["metadata"]["name"] == "cronjobs"
        assert cm["metadata"]["labels"] == {"jobsched.io/cron": "true"}
    team_a = {entry["name"]: entry for entry in entries_of(by_namespace["team-a"])}
    assert sorted(team_a) == ["hourly-sync", "weekday-digest"]
    hourly = team_a["hourly-sync"]
    assert (hourly["schedule"], hourly["kind"], hourly["concurrencyPolicy"]) == ("@hourly", "Job", "Forbid")
    assert (hourly["successfulJobsHistoryLimit"], hourly["failedJobsHistoryLimit"]) == (5, 2)
    assert "timeZone" not in hourly  # the controller's zone (UTC here) is the entries' default
    assert hourly["template"] == {
        "metadata": {"labels": {"app": "sync"}},  # kubectl's creationTimestamp: null is gone
        "spec": {
            "backoffLimit": 2,
            "template": {
                "spec": {
                    "containers": [
                        {"name": "sync", "image": "registry.example.com/sync:1.0", "args": ["--once"]}
                    ],
                    "restartPolicy": "OnFailure",
                }
            },
        },
    }
    digest = team_a["weekday-digest"]
    assert (digest["schedule"], digest["timeZone"]) == ("0 0 * * 1-5", "Asia/Shanghai")
    (cleanup,) = entries_of(by_namespace["team-b"])
    assert (cleanup["suspend"], cleanup["startingDeadlineSeconds"]) == (True, 120)

    problems = [line for line in err if not line.startswith(("note:", "jobsched convert:"))]
    assert problems == [
        "team-a/dst-backup: spec.schedule: '30 1 * * *' in America/New_York has no equivalent in jobsched: "
        "batch/v1 fires at 2026-11-01 01:30 EST (2026-11-01T06:30:00Z), jobsched would not",
        "team-b/named-job: spec.jobTemplate.metadata.generateName: must be omitted: "
        "jobsched names each object from entry and slot",
    ]
    notes = [line for line in err if line.startswith("note:")]
    assert any(
        n.startswith("note: team-a/weekday-digest: spec.schedule: written as '0 0 * * 1-5'") for n in notes
    )
    assert (
        "note: team-b/cleanup: metadata.labels: not carried: entries have none (the Jobs get the jobTemplate's)"
        in notes
    )
    assert any(n.startswith("note: team-b/cleanup: status.active: 1 Job(s) still running") for n in notes)
    assert err[-1] == "jobsched convert: 3 of 5 CronJobs converted into 2 ConfigMaps; 2 problems"

    # What was written is what `jobsched validate` and the engine accept.
    written = tmp_path / "out.yaml"
    written.write_text(yaml.safe_dump_all(configmaps))
    assert validate_files([str(written)]) == []


def test_rewritten_schedule_fires_as_batch_v1(capsys: pytest.CaptureFixture[str]) -> None:
    _, configmaps, _ = run(capsys, str(FIXTURE), "--start", START)
    entries, problems = parse_configmap(
        next(cm for cm in configmaps if cm["metadata"]["namespace"] == "team-a")
    )
    assert problems == []
    digest = next(e for e in entries if e.name == "weekday-digest")
    native = CronEntry(
        "team-a",
        "x",
        "weekday-digest",
        "0 0 */1 * mon-fri",
        time_zone="Asia/Shanghai",
        dialect=BATCH_V1_DIALECT,
    )
    window = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))
    assert list(slots_between(digest, *window)) == list(slots_between(native, *window))


def test_input_over_one_mib_splits_into_several_configmaps(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    padding = "x" * 1000
    items = []
    for index in range(1500):
        job = cronjob(f"job-{index:04d}", "big", f"{index % 3} * * * *")
        job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["env"] = [
            {"name": "PADDING", "value": padding}
        ]
        items.append(job)
    source = tmp_path / "big.yaml"
    source.write_text(yaml.dump({"apiVersion": "v1", "kind": "List", "items": items}, Dumper=DUMPER))
    assert source.stat().st_size > MAX_CONFIGMAP_BYTES
    code, configmaps, err = run(capsys, str(source), "--start", START)
    assert code == 0, err
    assert [cm["metadata"]["name"] for cm in configmaps] == ["cronjobs", "cronjobs-2"]
    names = []
    for cm in configmaps:
        assert len(json.dumps(cm, ensure_ascii=False, separators=(",", ":")).encode()) <= MAX_CONFIGMAP_BYTES
        entries, problems = parse_configmap(cm)
        assert problems == []
        names.extend(entry.name for entry in entries)
    assert names == [f"job-{index:04d}" for index in range(1500)]  # each once, in order
    assert err[-1] == "jobsched convert: 1500 of 1500 CronJobs converted into 2 ConfigMaps; 0 problems"


def test_smaller_limit_and_an_entry_too_large_for_any_configmap() -> None:
    small = cronjob("small")
    big = cronjob("big")
    big["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"] = ["y" * 5000]
    text = yaml.safe_dump_all([small, big, cronjob("also-small")])
    outcome = convert([("in", text)], start=datetime(2026, 1, 1, tzinfo=UTC), max_bytes=2048)
    assert [cm["metadata"]["name"] for cm in outcome.configmaps] == ["cronjobs"]
    assert [e["name"] for e in yaml.safe_load(outcome.configmaps[0]["data"]["crons.yaml"])] == [
        "also-small",
        "small",
    ]
    (problem,) = outcome.problems
    assert problem.startswith("ns/big: spec.jobTemplate: too large for one ConfigMap (")
    assert problem.endswith("limit 2048)")


def test_stdin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(yaml.safe_dump(cronjob("from-stdin", schedule="@daily"))))
    code, configmaps, err = run(capsys, "-", "--start", START)
    assert code == 0, err
    ((entry,),) = [entries_of(cm) for cm in configmaps]
    assert (entry["name"], entry["schedule"]) == ("from-stdin", "@daily")


def test_output_file_and_controller_zone(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    source = tmp_path / "in.yaml"
    source.write_text(yaml.safe_dump(cronjob("berlin-noon", schedule="0 12 * * *")))
    out = tmp_path / "out.yaml"
    code = cli.main(
        ["convert", str(source), "-o", str(out), "--start", START, "--controller-time-zone", "Europe/Berlin"]
    )
    assert code == 0
    (configmap,) = yaml.safe_load_all(out.read_text())
    (entry,) = entries_of(configmap)
    assert entry["timeZone"] == "Europe/Berlin"  # the CronJob had none: the controller's zone applied


@pytest.mark.parametrize(
    "args",
    [
        ["--start", "yesterday"],
        ["--start", "2026-01-01T00:00:00"],  # no offset
        ["--controller-time-zone", "Local"],
        ["--max-bytes", "10"],
        ["--name", "Not_A_Name"],
    ],
)
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    assert cli.main(["convert", str(FIXTURE), *args]) == 2
    assert "jobsched convert: error:" in capsys.readouterr().err


def test_no_file_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["convert"])
    assert exited.value.code == 2


def test_bad_inputs_are_reported_and_the_rest_converted(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(cronjob("fine")))
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: CronJob\nspec: [oops")
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump_all([{"kind": "ConfigMap"}, cronjob("weird", schedule="* * * * 7")]))
    code, configmaps, err = run(
        capsys, str(tmp_path / "missing.yaml"), str(broken), str(other), str(good), "--start", START
    )
    assert code == 1
    assert [entry["name"] for cm in configmaps for entry in entries_of(cm)] == ["fine"]
    assert any(line.startswith(f"{tmp_path / 'missing.yaml'}: cannot read:") for line in err)
    assert any(line.startswith(f"{broken}: invalid YAML:") for line in err)
    assert f"note: {other}: document 1 (ConfigMap) ignored" in err
    assert (
        "ns/weird: spec.schedule: not a valid batch/v1 schedule: end of range (7) above maximum (6): 7" in err
    )


def test_template_is_judged_even_when_the_schedule_is_refused() -> None:
    job = cronjob("both-wrong", schedule="@every 1h")
    job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["nodeName"] = "node-1"
    outcome = convert([("in", yaml.safe_dump(job))], start=datetime(2026, 1, 1, tzinfo=UTC))
    assert outcome.problems == [
        "ns/both-wrong: spec.schedule: '@every 1h' in UTC has no equivalent in jobsched: "
        "@every counts from the last run; jobsched has no such schedule",
        "ns/both-wrong: spec.jobTemplate.spec.template.spec.nodeName: "
        "must not be set: the jobsched scheduler places the pods",
    ]


def test_fields_without_a_place_are_refused() -> None:
    job = cronjob("odd", futureField=1)
    job["apiVersion"] = "batch/v1beta1"
    outcome = convert([("in", yaml.safe_dump(job))], start=datetime(2026, 1, 1, tzinfo=UTC))
    assert outcome.configmaps == []
    assert outcome.problems == [
        "ns/odd: apiVersion: only batch/v1 CronJobs are converted, got 'batch/v1beta1'",
        "ns/odd: spec.futureField: not carried: a jobsched entry has no such field",
    ]


json_leaves = st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=8)
json_values = st.recursive(
    json_leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(
    st.fixed_dictionaries(
        {"apiVersion": st.sampled_from(["batch/v1", "v1"]) | json_values, "kind": st.just("CronJob")},
        optional={
            "metadata": st.fixed_dictionaries(
                {},
                optional={
                    "name": json_values | st.just("a"),
                    "namespace": json_values,
                    "labels": json_values,
                },
            )
            | json_values,
            "spec": st.fixed_dictionaries(
                {},
                optional={
                    "schedule": st.sampled_from(["@daily", "* * * * 7", "30 1 * * *", "0 0 */1 * mon"])
                    | json_values,
                    "timeZone": st.sampled_from(["America/New_York", "Nowhere/Zone"]) | json_values,
                    "jobTemplate": json_values,
                    "suspend": json_values,
                    "startingDeadlineSeconds": json_values,
                },
            )
            | json_values,
            "status": json_values,
        },
    )
)
def test_any_cronjob_shape_gives_findings_never_an_exception(obj: dict[str, Any]) -> None:
    outcome = convert(
        [("fuzz", yaml.safe_dump(obj))], start=datetime(2026, 1, 1, tzinfo=UTC) - timedelta(days=1)
    )
    assert outcome.seen == 1
    assert outcome.converted + bool(outcome.problems) >= 1
