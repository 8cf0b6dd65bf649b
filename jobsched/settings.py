"""Settings, read once from config/jobsched.yaml into frozen dataclasses.

Every default is written once, in the dataclasses below; each field names its YAML key, and the reader
walks the fields, so a new setting is one line. Errors name the file and the field path
(`api.bindInFlight: expected int, got 'x'`), so a bad config fails at start with a message that says what
to fix.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeVar

import yaml

from jobsched import SCHEDULER_NAME
from jobsched.core.cronschedule import CronSpecError, load_zone
from jobsched.core.domains import Domain, domains_from_config
from jobsched.core.vocabulary import CRON_CONFIGMAP_LABEL, MANAGED_CRONJOB_LABEL, NAMESPACE_OPT_IN_LABEL

T = TypeVar("T")


class SettingsError(ValueError):
    pass


def _key(name: str, default: Any, *, positive: bool = False) -> Any:
    """A field with its YAML key; `positive` requires a value > 0."""
    return field(default=default, metadata={"key": name, "positive": positive})


# The "domains" section at its defaults: virtual-kubelet and Tencent eklet nodes, GPU nodes, the rest.
DEFAULT_DOMAINS: Final[Sequence[Mapping[str, Any]]] = (
    {
        "name": "virtual",
        "matchAny": [{"type": "virtual-kubelet"}, {"node.kubernetes.io/instance-type": "eklet"}],
        "tolerations": [
            {"key": "virtual-kubelet.io/provider", "operator": "Exists"},
            {"key": "eks.tke.cloud.tencent.com/eklet", "operator": "Exists"},
        ],
        "policy": "binpack",
    },
    {"name": "gpu", "nodeSelector": {"nvidia.com/gpu.present": "true"}, "policy": "spread"},
    {"name": "regular", "catchAll": True, "policy": "spread"},
)
DEFAULT_CHAIN: Final = ("virtual", "regular")


@dataclass(frozen=True)
class ApiSettings:
    connections: int = _key("connections", 96, positive=True)  # keep-alive pool size
    bind_in_flight: int = _key("bindInFlight", 96, positive=True)
    create_in_flight: int = _key("createInFlight", 64, positive=True)


@dataclass(frozen=True)
class SchedulingSettings:
    """The scheduling queue's timings (kube-scheduler's backoff and flush, jobsched's burst guard)."""

    initial_backoff_s: float = _key("initialBackoffSeconds", 1.0, positive=True)
    max_backoff_s: float = _key("maxBackoffSeconds", 10.0, positive=True)
    unschedulable_flush_s: float = _key("unschedulableFlushSeconds", 60.0, positive=True)
    burst_guard_s: float = _key("burstGuardSeconds", 3.0, positive=True)
    place_chunk: int = _key("placeChunk", 2000, positive=True)
    warm_before_s: float = _key("warmBeforeSeconds", 2.0, positive=True)
    settle_s: float = _key("settleSeconds", 120.0, positive=True)


@dataclass(frozen=True)
class CronSettings:
    enabled: bool = _key("enabled", True)
    namespace_label: str = _key("namespaceLabel", NAMESPACE_OPT_IN_LABEL + "=true")
    configmap_label: str = _key("configMapLabel", CRON_CONFIGMAP_LABEL + "=true")
    min_lead_s: float = _key("minLeadSeconds", 5.0, positive=True)
    max_lead_s: float = _key("maxLeadSeconds", 300.0, positive=True)
    lead_margin_s: float = _key("leadMarginSeconds", 3.0)
    assumed_create_rate: float = _key("assumedCreateRate", 300.0, positive=True)
    node_loss_grace_s: float = _key("nodeLossGraceSeconds", 40.0, positive=True)
    node_loss_sweep_s: float = _key("nodeLossSweepSeconds", 1.0, positive=True)
    rerun_sweep_s: float = _key("rerunSweepSeconds", 0.5, positive=True)
    plan_period_s: float = _key("planPeriodSeconds", 1.0, positive=True)
    plan_lookback_s: float = _key("planLookbackSeconds", 5.0, positive=True)
    create_retry_s: float = _key("createRetrySeconds", 120.0, positive=True)
    busy_before_s: float = _key("busyBeforeSeconds", 3.0, positive=True)
    busy_after_s: float = _key("busyAfterSeconds", 3.0, positive=True)
    busy_bind_rate: float = _key("busyBindRate", 800.0, positive=True)
    housekeeping_period_s: float = _key("housekeepingPeriodSeconds", 3.0, positive=True)
    housekeeping_in_flight: int = _key("housekeepingInFlight", 8, positive=True)
    tracking_write_s: float = _key("trackingWriteSeconds", 2.0, positive=True)
    parse_timeout_s: float = _key("parseTimeoutSeconds", 30.0, positive=True)
    # Adopted batch/v1 CronJobs (docs/cronjob-migration.md).
    adopt_cronjobs: bool = _key("adoptCronJobs", True)
    cronjob_label: str = _key("cronJobLabel", MANAGED_CRONJOB_LABEL + "=true")
    cronjob_time_zone: str = _key("cronJobTimeZone", "UTC")
    claim_margin_s: float = _key("claimMarginSeconds", 2.0, positive=True)
    assumed_job_pod_rate: float = _key("assumedJobPodRate", 8.0, positive=True)

    @property
    def configmap_label_key(self) -> str:
        return self.configmap_label.split("=", 1)[0]

    @property
    def configmap_label_value(self) -> str:
        return self.configmap_label.split("=", 1)[1]


@dataclass(frozen=True)
class LeaderElectionSettings:
    enabled: bool = _key("enabled", False)
    lease_name: str = _key("leaseName", "jobsched")
    lease_namespace: str = _key("leaseNamespace", "jobsched-system")
    lease_duration_s: float = _key("leaseDurationSeconds", 15.0, positive=True)
    renew_deadline_s: float = _key("renewDeadlineSeconds", 10.0, positive=True)
    retry_period_s: float = _key("retryPeriodSeconds", 2.0, positive=True)


@dataclass(frozen=True)
class ServerSettings:
    address: str = _key("address", "127.0.0.1")
    port: int = _key("port", 10259)
    loop_blocked_s: float = _key("loopBlockedSeconds", 10.0, positive=True)
    watch_failing_s: float = _key("watchFailingSeconds", 120.0, positive=True)


@dataclass(frozen=True)
class MetricsSettings:
    # The per-entry cron series (jobsched_cron_entry_*): at most 5 series per entry, plus one per entry
    # and reason that missed a slot. Off for fleets whose Prometheus cannot take that many.
    per_entry: bool = _key("perEntry", True)


@dataclass(frozen=True)
class Settings:
    scheduler_name: str = SCHEDULER_NAME
    domains: tuple[Domain, ...] = field(default_factory=lambda: domains_from_config(DEFAULT_DOMAINS))
    default_chain: tuple[str, ...] = DEFAULT_CHAIN
    extra_dimensions: Mapping[str, str] = field(default_factory=dict)  # dimension -> pod annotation
    api: ApiSettings = field(default_factory=ApiSettings)
    scheduling: SchedulingSettings = field(default_factory=SchedulingSettings)
    cron: CronSettings = field(default_factory=CronSettings)
    leader_election: LeaderElectionSettings = field(default_factory=LeaderElectionSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)


SECTIONS: Final[Mapping[str, type]] = {
    "api": ApiSettings,
    "scheduling": SchedulingSettings,
    "cron": CronSettings,
    "leaderElection": LeaderElectionSettings,
    "server": ServerSettings,
    "metrics": MetricsSettings,
}


class _Reader:
    """Typed access to a YAML mapping that reports the path of whatever is wrong."""

    def __init__(self, data: Any, path: str) -> None:
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise SettingsError(f"{path or '(top)'}: expected a mapping, got {type(data).__name__}")
        self.data = data
        self.path = path

    def name(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def get(self, key: str, kind: type[T], default: T) -> T:
        if key not in self.data or self.data[key] is None:
            return default
        value = self.data[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise SettingsError(f"{self.name(key)}: expected {kind.__name__}, got {value!r:.80}")
        return value

    def sub(self, key: str) -> _Reader:
        return _Reader(self.data.get(key), self.name(key))

    def check_known(self, known: set[str]) -> None:
        unknown = sorted(set(self.data) - known, key=str)
        if unknown:
            raise SettingsError(
                f"{self.name(str(unknown[0]))}: unknown field (known: {', '.join(sorted(known))})"
            )


def _section(cls: type[T], reader: _Reader) -> T:
    """One settings section: every field read by its YAML key with its default's type."""
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    reader.check_known({f.metadata["key"] for f in fields})
    values: dict[str, Any] = {}
    for f in fields:
        key = f.metadata["key"]
        default: Any = f.default
        value = reader.get(key, type(default), default)
        if f.metadata["positive"] and value <= 0:
            raise SettingsError(f"{reader.name(key)}: must be > 0, got {value!r}")
        values[f.name] = value
    return cls(**values)


def _check_selector(reader: _Reader, key: str, value: str) -> None:
    name, sep, label_value = value.partition("=")
    if not sep or not name or not label_value or "," in value or "!" in name:
        raise SettingsError(f"{reader.name(key)}: expected KEY=VALUE (one label), got {value!r:.80}")


def settings_from_mapping(data: Any) -> Settings:
    top = _Reader(data, "")
    top.check_known({"schedulerName", "domains", "defaultDomainChain", "extraDimensions", *SECTIONS})
    defaults = Settings()
    try:
        domains = domains_from_config(top.data["domains"]) if "domains" in top.data else defaults.domains
    except ValueError as err:
        raise SettingsError(str(err)) from err
    names = {d.name for d in domains}
    chain = tuple(str(c) for c in top.get("defaultDomainChain", list, list(defaults.default_chain)))
    for i, name in enumerate(chain):
        if name not in names:
            raise SettingsError(
                f"defaultDomainChain[{i}]: unknown domain {name!r} (domains: {', '.join(sorted(names))})"
            )
    extra: dict[str, str] = {}
    for i, item in enumerate(top.get("extraDimensions", list, [])):
        dim = _Reader(item, f"extraDimensions[{i}]")
        dim.check_known({"name", "annotation"})
        extra[dim.get("name", str, "")] = dim.get("annotation", str, "")
        if not all(extra.keys()) or not all(extra.values()):
            raise SettingsError(f"extraDimensions[{i}]: name and annotation are required")
    sections: dict[str, Any] = {key: _section(cls, top.sub(key)) for key, cls in SECTIONS.items()}
    lease: LeaderElectionSettings = sections["leaderElection"]
    if not lease.retry_period_s < lease.renew_deadline_s < lease.lease_duration_s:
        raise SettingsError(
            "leaderElection: need retryPeriodSeconds < renewDeadlineSeconds < leaseDurationSeconds, got "
            f"{lease.retry_period_s} / {lease.renew_deadline_s} / {lease.lease_duration_s}"
        )
    cron: CronSettings = sections["cron"]
    if cron.min_lead_s > cron.max_lead_s:
        raise SettingsError(
            f"cron.minLeadSeconds: {cron.min_lead_s} is greater than cron.maxLeadSeconds {cron.max_lead_s}"
        )
    _check_selector(top.sub("cron"), "configMapLabel", cron.configmap_label)
    _check_selector(top.sub("cron"), "namespaceLabel", cron.namespace_label)
    _check_selector(top.sub("cron"), "cronJobLabel", cron.cronjob_label)
    try:
        load_zone(cron.cronjob_time_zone)
    except CronSpecError as err:
        raise SettingsError(f"cron.cronJobTimeZone: {err}") from err
    return Settings(
        scheduler_name=top.get("schedulerName", str, defaults.scheduler_name),
        domains=domains,
        default_chain=chain,
        extra_dimensions=extra,
        api=sections["api"],
        scheduling=sections["scheduling"],
        cron=cron,
        leader_election=lease,
        server=sections["server"],
        metrics=sections["metrics"],
    )


def load_settings(path: str | Path | None) -> Settings:
    """Reads the YAML file (None: built-in defaults). Errors are prefixed with the file name."""
    if path is None:
        return Settings()
    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as err:
        raise SettingsError(f"{path}: {err}") from err
    try:
        return settings_from_mapping(data)
    except SettingsError as err:
        raise SettingsError(f"{path}: {err}") from err
