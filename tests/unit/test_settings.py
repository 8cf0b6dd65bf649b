"""Settings: the shipped config is the defaults, and every bad field is named in the error."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from jobsched.settings import SECTIONS, Settings, SettingsError, load_settings, settings_from_mapping

REPO = Path(__file__).resolve().parents[2]


def test_the_shipped_config_says_exactly_the_defaults() -> None:
    assert load_settings(REPO / "config" / "jobsched.yaml") == Settings()
    assert load_settings(None) == Settings()


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(AttributeError):
        settings.scheduler_name = "other"  # type: ignore[misc]


def test_values_are_read_with_their_types() -> None:
    settings = settings_from_mapping(
        {
            "schedulerName": "js",
            "api": {"bindInFlight": 8},
            "cron": {"minLeadSeconds": 2, "nodeLossGraceSeconds": 5},
            "leaderElection": {"enabled": True, "leaseDurationSeconds": 30},
            "server": {"port": 0},
        }
    )
    assert settings.scheduler_name == "js"
    assert settings.api.bind_in_flight == 8
    assert settings.cron.min_lead_s == 2.0
    assert settings.cron.node_loss_grace_s == 5.0
    assert settings.leader_election.enabled
    assert settings.leader_election.lease_duration_s == 30.0
    assert settings.server.port == 0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"shedulerName": "x"}, "shedulerName: unknown field"),
        ({"api": {"bindInFlight": "many"}}, "api.bindInFlight: expected int, got 'many'"),
        ({"api": {"bindInFlight": 0}}, "api.bindInFlight: must be > 0"),
        ({"cron": {"enabled": "yes"}}, "cron.enabled: expected bool"),
        ({"cron": {"nodeLossGraceSeconds": -1}}, "cron.nodeLossGraceSeconds: must be > 0"),
        ({"cron": {"minLeadSeconds": 60, "maxLeadSeconds": 30}}, "cron.minLeadSeconds: 60.0 is greater"),
        ({"cron": []}, "cron: expected a mapping"),
        ({"leaderElection": {"renewDeadlineSeconds": 20}}, "leaderElection: need retryPeriodSeconds <"),
        ({"defaultDomainChain": ["virtual", "nowhere"]}, "defaultDomainChain[1]: unknown domain 'nowhere'"),
        ({"server": {"port": True}}, "server.port: expected int, got True"),
        ({"cron": {"cronJobLabel": "jobsched.io/managed"}}, "cron.cronJobLabel: expected KEY=VALUE"),
        ({"cron": {"cronJobTimeZone": "Mars/Base"}}, "cron.cronJobTimeZone: unknown time zone 'Mars/Base'"),
        ({"cron": {"claimMarginSeconds": 0}}, "cron.claimMarginSeconds: must be > 0"),
    ],
)
def test_a_bad_field_is_named(data: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        settings_from_mapping(data)
    assert message in str(caught.value)


def test_file_errors_carry_the_file_name(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("cron: {minLeadSeconds: nope}\n")
    with pytest.raises(SettingsError, match=r"bad\.yaml: cron\.minLeadSeconds: expected float"):
        load_settings(bad)
    broken = tmp_path / "broken.yaml"
    broken.write_text("cron: [\n")
    with pytest.raises(SettingsError, match=r"broken\.yaml"):
        load_settings(broken)
    with pytest.raises(SettingsError, match=r"missing\.yaml"):
        load_settings(tmp_path / "missing.yaml")


def test_the_shipped_config_documents_every_setting() -> None:
    """Every field of every section appears in config/jobsched.yaml, so the file never lags the code."""
    shipped = yaml.safe_load((REPO / "config" / "jobsched.yaml").read_text())
    for key, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            assert f.metadata["key"] in shipped[key], f"config/jobsched.yaml lacks {key}.{f.metadata['key']}"


@pytest.mark.parametrize("label", ["jobsched.io/cron", "a=b,c=d", "=x", "k!=v"])
def test_labels_must_be_one_key_value_pair(label: str) -> None:
    with pytest.raises(SettingsError, match=r"cron\.configMapLabel: expected KEY=VALUE"):
        settings_from_mapping({"cron": {"configMapLabel": label}})
