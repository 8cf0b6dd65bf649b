"""The Grafana dashboard and the PrometheusRule query only metrics jobsched exports, the queue panel counts
the leader's queue only, and no panel passes a histogram bucket bound off as a maximum."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from jobsched.core.cronentry import CronEntry
from jobsched.core.cronplan import EntryStatus
from jobsched.kube.events import ObjectRef
from jobsched.runtime.metrics import Metrics
from tests.support.exposition import family_names

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy/grafana/jobsched-dashboard.json"
RULES = ROOT / "deploy/monitoring/prometheusrule.yaml"
METRIC_NAME = re.compile(r"\b((?:scheduler|jobsched|process|python)_[a-z0-9_]+)")
SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_count", "_sum"),
    "gauge": ("",),
    "info": ("_info",),
}


def _exported() -> set[str]:
    """Every sample name a leader's /metrics can carry (labelled families included before first use)."""
    metrics = Metrics()
    ref = ObjectRef("ConfigMap", "ns", "crons")
    moment = datetime(2030, 1, 1, tzinfo=UTC)
    metrics.entries.publish(
        [(ref, CronEntry("ns", "crons", "e", "* * * * *"), EntryStatus(moment, moment))], moment
    )
    return family_names(metrics.exposition())


def _dashboard_exprs() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel.get("targets", [])]


def _rule_exprs() -> list[str]:
    rule = yaml.safe_load(RULES.read_text())
    return [r["expr"] for group in rule["spec"]["groups"] for r in group["rules"]]


@pytest.mark.parametrize("source", ["dashboard", "rules"])
def test_every_queried_metric_is_exported(source: str) -> None:
    exprs = _dashboard_exprs() if source == "dashboard" else _rule_exprs()
    exported = _exported()
    queried = {name for expr in exprs for name in METRIC_NAME.findall(expr)}
    assert queried
    assert queried - exported == set()


def test_the_queue_panel_counts_the_leader_only() -> None:
    pending = [e for e in _dashboard_exprs() if "scheduler_pending_pods" in e]
    assert pending
    assert all("jobsched_leader == 1" in e for e in pending)


def test_no_bucket_bound_is_called_a_maximum() -> None:
    assert not any("histogram_quantile(1" in e for e in _dashboard_exprs() + _rule_exprs())


def test_the_alerts_an_operator_asked_for_exist() -> None:
    rule = yaml.safe_load(RULES.read_text())
    alerts = {r["alert"]: r for group in rule["spec"]["groups"] for r in group["rules"]}
    assert "jobsched_cron_entry_slots_since_last_success" in alerts["JobschedCronEntryNotSucceeding"]["expr"]
    assert "jobsched_cron_entry_missed_slots_total" in alerts["JobschedCronSlotMissed"]["expr"]
    slow = alerts["JobschedFireToBoundSlow"]["expr"]
    assert "histogram_quantile(0.99" in slow
    assert slow.endswith("> 3")
    assert all(r["labels"]["severity"] in ("info", "warning", "critical") for r in alerts.values())


def test_the_base_install_does_not_need_the_prometheus_operator() -> None:
    base = yaml.safe_load((ROOT / "deploy/kustomization.yaml").read_text())
    assert "monitoring" not in json.dumps(base)
    assert yaml.safe_load((ROOT / "deploy/monitoring/kustomization.yaml").read_text())["resources"] == [
        "prometheusrule.yaml"
    ]
