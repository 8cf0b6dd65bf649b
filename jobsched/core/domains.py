"""Resource domains: the cluster cut into parts (virtual, gpu, regular, ...) that schedule on their own.

A domain is a label selector plus what its pods may assume there: the provider taints it tolerates
on their behalf, its scoring policy and caps for extra dimensions, and for a serverless provider its
limits (launch rate and burst, pod quota, how late a pod may start there) and the pod status reasons
that mean "the provider refused it before any container started". A node belongs to the first
domain it matches, so domains never share a node and can place pods without a common lock. A pod
walks its domain chain in order and falls back to the next domain only when one has no room.
"""

from __future__ import annotations

import math
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from jobsched.core.launchbudget import DEFAULT_MAX_START_DELAY_S, DomainLimits
from jobsched.core.model import Node, Pod, Toleration
from jobsched.core.resources import canonical
from jobsched.core.scoring import DEFAULT_WEIGHTS, POLICIES

# label -> accepted values; an empty tuple means the label must merely exist.
LabelSelector = Mapping[str, tuple[str, ...]]

_LIMIT_FIELDS: Final = frozenset({"launchRate", "launchBurst", "maxPods", "maxStartDelaySeconds"})
_DOMAIN_FIELDS: Final = frozenset(
    {"name", "nodeSelector", "matchAny", "catchAll", "tolerations", "policy", "extraCaps", "weights"}
    | _LIMIT_FIELDS
    | {"neverStartedReasons"}
)
# virtual-kubelet's status reason for a pod its provider refused (CreatePod failed): nothing ran.
PROVIDER_FAILED: Final = "ProviderFailed"
_TOLERATION_FIELDS: Final = frozenset({"key", "operator", "value", "effect", "tolerationSeconds"})


@dataclass(frozen=True, slots=True)
class Domain:
    name: str
    node_selector: LabelSelector = field(default_factory=dict)  # all must match
    match_any: tuple[LabelSelector, ...] = ()  # at least one must match (if any given)
    tolerations: tuple[Toleration, ...] = ()
    policy: str = "spread"
    extra_caps: Mapping[str, int] = field(default_factory=dict)  # extra dimension -> cap per node
    catch_all: bool = False
    weights: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    limits: DomainLimits = field(default_factory=DomainLimits)
    # A failed pod with one of these status reasons and no container ever started was refused before it
    # ran: its cron slot is run again on the next domain of its chain.
    never_started_reasons: tuple[str, ...] = (PROVIDER_FAILED,)

    def __hash__(self) -> int:
        return hash(self.name)

    def matches(self, node: Node) -> bool:
        if self.catch_all:
            return True
        if not self.node_selector and not self.match_any:
            return False
        labels = node.labels
        if not selector_matches(self.node_selector, labels):
            return False
        return not self.match_any or any(selector_matches(s, labels) for s in self.match_any)


def selector_matches(selector: LabelSelector, labels: Mapping[str, str]) -> bool:
    for key, accepted in selector.items():
        value = labels.get(key)
        if value is None or (accepted and value not in accepted):
            return False
    return True


def domain_of(node: Node, domains: Sequence[Domain]) -> str | None:
    """The first domain, in declared order, whose selector the node matches."""
    for domain in domains:
        if domain.matches(node):
            return domain.name
    return None


def resolve_chain(pod: Pod, default_chain: tuple[str, ...]) -> tuple[str, ...]:
    """The domains a pod tries, in order: its own annotation's chain, else the default."""
    return pod.domain_chain or default_chain


def route(chain: Sequence[str], step: int, known: Container[str]) -> int:
    """Where a pod goes next: the index of the first domain of its chain at or after `step` that exists
    (a chain may name a domain this scheduler does not have), or len(chain) when none is left."""
    while step < len(chain) and chain[step] not in known:
        step += 1
    return step


def _expect(value: Any, kind: type | tuple[type, ...], path: str, what: str) -> Any:
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ValueError(f"{path}: expected {what}, got {value!r}")
    return value


def _selector(raw: Any, path: str) -> LabelSelector:
    selector: dict[str, tuple[str, ...]] = {}
    for key, value in _expect(raw, Mapping, path, "a mapping of label to value").items():
        where = f"{path}.{key}"
        if value == "*":
            selector[str(key)] = ()
        elif isinstance(value, list):
            selector[str(key)] = tuple(str(_expect(v, str, where, "a string")) for v in value)
        else:
            selector[str(key)] = (str(_expect(value, (str, int, float), where, "a string or a list")),)
    return selector


def _toleration(raw: Any, path: str) -> Toleration:
    _expect(raw, Mapping, path, "a mapping")
    _check_known(raw, _TOLERATION_FIELDS, path)
    operator = raw.get("operator", "Equal")
    if operator not in ("Equal", "Exists"):
        raise ValueError(f"{path}.operator: expected Equal or Exists, got {operator!r}")
    seconds = raw.get("tolerationSeconds")
    return Toleration(
        key=str(_expect(raw.get("key", ""), str, f"{path}.key", "a string")),
        operator=operator,
        value=str(_expect(raw.get("value", ""), str, f"{path}.value", "a string")),
        effect=str(_expect(raw.get("effect", ""), str, f"{path}.effect", "a string")),
        toleration_seconds=None
        if seconds is None
        else _expect(seconds, int, f"{path}.tolerationSeconds", "an integer"),
    )


def _number(raw: Mapping[str, Any], key: str, path: str, *, integer: bool, minimum: float) -> Any:
    """An optional number field at least `minimum` (None when absent)."""
    value = raw.get(key)
    if value is None:
        return None
    kind: tuple[type, ...] = (int,) if integer else (int, float)
    what = f"{'an integer' if integer else 'a number'} ≥ {minimum:g}"
    _expect(value, kind, f"{path}.{key}", what)
    if not math.isfinite(value) or value < minimum:
        raise ValueError(f"{path}.{key}: expected {what}, got {value!r}")
    return value


def _limits(raw: Mapping[str, Any], path: str) -> DomainLimits:
    rate = _number(raw, "launchRate", path, integer=False, minimum=0)
    burst = _number(raw, "launchBurst", path, integer=True, minimum=1)
    if rate is not None and rate <= 0:
        raise ValueError(f"{path}.launchRate: expected pods per second > 0, got {rate!r}")
    if (rate is None) != (burst is None):
        missing = "launchBurst" if burst is None else "launchRate"
        raise ValueError(f"{path}.{missing}: launchRate and launchBurst go together (a token bucket)")
    delay = _number(raw, "maxStartDelaySeconds", path, integer=False, minimum=0)
    if delay is not None and rate is None:
        raise ValueError(f"{path}.maxStartDelaySeconds: only means something with launchRate and launchBurst")
    return DomainLimits(
        launch_rate=None if rate is None else float(rate),
        launch_burst=burst,
        max_pods=_number(raw, "maxPods", path, integer=True, minimum=0),
        max_start_delay_s=DEFAULT_MAX_START_DELAY_S if delay is None else float(delay),
    )


def _reasons(raw: Mapping[str, Any], path: str) -> tuple[str, ...]:
    where = f"{path}.neverStartedReasons"
    items = _expect(raw.get("neverStartedReasons", [PROVIDER_FAILED]), list, where, "a list of reasons")
    reasons = tuple(_expect(r, str, f"{where}[{i}]", "a non-empty string") for i, r in enumerate(items))
    for i, reason in enumerate(reasons):
        if not reason:
            raise ValueError(f"{where}[{i}]: expected a non-empty string, got ''")
    return reasons


def _check_known(raw: Mapping[str, Any], known: frozenset[str], path: str) -> None:
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ValueError(f"{path}.{unknown[0]}: unknown field (known: {', '.join(sorted(known))})")


def _domain(raw: Any, path: str) -> Domain:
    _expect(raw, Mapping, path, "a mapping")
    _check_known(raw, _DOMAIN_FIELDS, path)
    name = _expect(raw.get("name"), str, f"{path}.name", "a non-empty string")
    if not name:
        raise ValueError(f"{path}.name: expected a non-empty string, got ''")
    policy = raw.get("policy", "spread")
    if policy not in POLICIES:
        raise ValueError(f"{path}.policy: expected binpack or spread, got {policy!r}")
    caps: dict[str, int] = {}
    for dim, cap in _expect(raw.get("extraCaps", {}), Mapping, f"{path}.extraCaps", "a mapping").items():
        try:
            caps[str(dim)] = canonical(str(dim), cap)
        except ValueError as err:
            raise ValueError(f"{path}.extraCaps.{dim}: {err}") from None
    weights = dict(DEFAULT_WEIGHTS)
    if "weights" in raw:
        weights = {}
        for resource, weight in _expect(raw["weights"], Mapping, f"{path}.weights", "a mapping").items():
            where = f"{path}.weights.{resource}"
            if _expect(weight, int, where, "an integer ≥ 0") < 0:
                raise ValueError(f"{where}: expected an integer ≥ 0, got {weight!r}")
            weights[str(resource)] = weight
    match_any = _expect(raw.get("matchAny", []), list, f"{path}.matchAny", "a list")
    domain = Domain(
        name=name,
        node_selector=_selector(raw.get("nodeSelector", {}), f"{path}.nodeSelector"),
        match_any=tuple(_selector(s, f"{path}.matchAny[{i}]") for i, s in enumerate(match_any)),
        tolerations=tuple(
            _toleration(t, f"{path}.tolerations[{i}]")
            for i, t in enumerate(_expect(raw.get("tolerations", []), list, f"{path}.tolerations", "a list"))
        ),
        policy=policy,
        extra_caps=caps,
        catch_all=_expect(raw.get("catchAll", False), bool, f"{path}.catchAll", "a boolean"),
        weights=weights,
        limits=_limits(raw, path),
        never_started_reasons=_reasons(raw, path),
    )
    if not (domain.catch_all or domain.node_selector or domain.match_any):
        raise ValueError(f"{path}: needs nodeSelector, matchAny or catchAll: true")
    return domain


def domains_from_config(data: Sequence[Any]) -> tuple[Domain, ...]:
    """Domains from the config's "domains" list; errors name the field path."""
    items = _expect(data, (list, tuple), "domains", "a list")
    domains = tuple(_domain(raw, f"domains[{i}]") for i, raw in enumerate(items))
    seen: set[str] = set()
    for i, domain in enumerate(domains):
        if domain.name in seen:
            raise ValueError(f"domains[{i}].name: duplicate domain {domain.name!r}")
        seen.add(domain.name)
    if not domains:
        raise ValueError("domains: expected at least one domain")
    return domains
