"""Settings, read once from config/jobsched.yaml into frozen dataclasses.

Errors name the file and the field path (`api.bindInFlight: expected an integer ≥ 1, got 'x'`),
so a bad config fails at start with a message that says what to fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from jobsched import SCHEDULER_NAME
from jobsched.core.domains import DEFAULT_DOMAINS, Domain, domains_from_config

T = TypeVar("T")


class SettingsError(ValueError):
    pass


@dataclass(frozen=True)
class ApiSettings:
    connections: int = 96
    bind_in_flight: int = 96
    create_in_flight: int = 64


@dataclass(frozen=True)
class CronSettings:
    enabled: bool = True
    namespace_label: str = "jobsched.io/enabled=true"
    configmap_label: str = "jobsched.io/cron=true"
    min_lead_s: float = 5.0
    max_lead_s: float = 300.0
    lead_margin_s: float = 3.0
    assumed_create_rate: float = 300.0
    node_loss_grace_s: float = 40.0  # PodGC's quarantine for pods bound to a node that is gone


@dataclass(frozen=True)
class LeaderElectionSettings:
    enabled: bool = False
    lease_name: str = "jobsched"
    lease_namespace: str = "jobsched-system"
    lease_duration_s: float = 15.0
    renew_deadline_s: float = 10.0
    retry_period_s: float = 2.0


@dataclass(frozen=True)
class ServerSettings:
    address: str = "127.0.0.1"
    port: int = 10259


@dataclass(frozen=True)
class Settings:
    scheduler_name: str = SCHEDULER_NAME
    domains: tuple[Domain, ...] = field(default_factory=lambda: domains_from_config(DEFAULT_DOMAINS))
    default_chain: tuple[str, ...] = ("virtual", "regular")
    extra_dimensions: Mapping[str, str] = field(default_factory=dict)  # dimension -> pod annotation
    api: ApiSettings = field(default_factory=ApiSettings)
    cron: CronSettings = field(default_factory=CronSettings)
    leader_election: LeaderElectionSettings = field(default_factory=LeaderElectionSettings)
    server: ServerSettings = field(default_factory=ServerSettings)


class _Reader:
    """Typed access to a YAML mapping that reports the path of whatever is wrong."""

    def __init__(self, data: Any, path: str) -> None:
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise SettingsError(f"{path or '(top)'}: expected a mapping, got {type(data).__name__}")
        self.data = data
        self.path = path

    def _name(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def get(self, key: str, kind: type[T], default: T) -> T:
        if key not in self.data or self.data[key] is None:
            return default
        value = self.data[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise SettingsError(f"{self._name(key)}: expected {kind.__name__}, got {value!r}")
        return value

    def positive(self, key: str, kind: type[T], default: T) -> T:
        value = self.get(key, kind, default)
        if value <= 0:  # type: ignore[operator]
            raise SettingsError(f"{self._name(key)}: must be > 0, got {value!r}")
        return value

    def sub(self, key: str) -> _Reader:
        return _Reader(self.data.get(key), self._name(key))

    def check_known(self, known: set[str]) -> None:
        unknown = sorted(set(self.data) - known)
        if unknown:
            raise SettingsError(
                f"{self._name(unknown[0])}: unknown field (known: {', '.join(sorted(known))})"
            )


def settings_from_mapping(data: Any) -> Settings:
    top = _Reader(data, "")
    top.check_known(
        {
            "schedulerName",
            "domains",
            "defaultDomainChain",
            "extraDimensions",
            "api",
            "cron",
            "leaderElection",
            "server",
        }
    )
    try:
        domains = domains_from_config(top.data["domains"]) if "domains" in top.data else Settings().domains
    except ValueError as err:
        raise SettingsError(str(err)) from err
    names = {d.name for d in domains}
    chain_raw = top.get("defaultDomainChain", list, ["virtual", "regular"])
    chain = tuple(str(c) for c in chain_raw)
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

    api = top.sub("api")
    api.check_known({"connections", "bindInFlight", "createInFlight"})
    cron = top.sub("cron")
    cron.check_known(
        {
            "enabled",
            "namespaceLabel",
            "configMapLabel",
            "minLeadSeconds",
            "maxLeadSeconds",
            "leadMarginSeconds",
            "assumedCreateRate",
            "nodeLossGraceSeconds",
        }
    )
    le = top.sub("leaderElection")
    le.check_known(
        {
            "enabled",
            "leaseName",
            "leaseNamespace",
            "leaseDurationSeconds",
            "renewDeadlineSeconds",
            "retryPeriodSeconds",
        }
    )
    server = top.sub("server")
    server.check_known({"address", "port"})

    lease = LeaderElectionSettings(
        enabled=le.get("enabled", bool, False),
        lease_name=le.get("leaseName", str, "jobsched"),
        lease_namespace=le.get("leaseNamespace", str, "jobsched-system"),
        lease_duration_s=le.positive("leaseDurationSeconds", float, 15.0),
        renew_deadline_s=le.positive("renewDeadlineSeconds", float, 10.0),
        retry_period_s=le.positive("retryPeriodSeconds", float, 2.0),
    )
    if not lease.retry_period_s < lease.renew_deadline_s < lease.lease_duration_s:
        raise SettingsError(
            "leaderElection: need retryPeriodSeconds < renewDeadlineSeconds < leaseDurationSeconds, got "
            f"{lease.retry_period_s} / {lease.renew_deadline_s} / {lease.lease_duration_s}"
        )
    min_lead = cron.positive("minLeadSeconds", float, 5.0)
    max_lead = cron.positive("maxLeadSeconds", float, 300.0)
    if min_lead > max_lead:
        raise SettingsError(f"cron.minLeadSeconds: {min_lead} is greater than cron.maxLeadSeconds {max_lead}")
    return Settings(
        scheduler_name=top.get("schedulerName", str, SCHEDULER_NAME),
        domains=domains,
        default_chain=chain,
        extra_dimensions=extra,
        api=ApiSettings(
            connections=api.positive("connections", int, 96),
            bind_in_flight=api.positive("bindInFlight", int, 96),
            create_in_flight=api.positive("createInFlight", int, 64),
        ),
        cron=CronSettings(
            enabled=cron.get("enabled", bool, True),
            namespace_label=cron.get("namespaceLabel", str, "jobsched.io/enabled=true"),
            configmap_label=cron.get("configMapLabel", str, "jobsched.io/cron=true"),
            min_lead_s=min_lead,
            max_lead_s=max_lead,
            lead_margin_s=cron.get("leadMarginSeconds", float, 3.0),
            assumed_create_rate=cron.positive("assumedCreateRate", float, 300.0),
            node_loss_grace_s=cron.positive("nodeLossGraceSeconds", float, 40.0),
        ),
        leader_election=lease,
        server=ServerSettings(
            address=server.get("address", str, "127.0.0.1"),
            port=server.get("port", int, 10259),
        ),
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
