"""Nodes and pods as the scheduler sees them: small frozen records, cheap to build from JSON.

Only the fields that decide placement are kept. Pods with the same `requirement_key` are
interchangeable for filtering and scoring, which is what lets a burst of identical cron pods share
the work of finding nodes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from jobsched import SCHEDULER_NAME
from jobsched.core.resources import Resources

BLOCKING_EFFECTS: Final = frozenset({"NoSchedule", "NoExecute"})


@dataclass(frozen=True, slots=True)
class Taint:
    key: str
    value: str = ""
    effect: str = "NoSchedule"


@dataclass(frozen=True, slots=True)
class Toleration:
    key: str = ""
    operator: str = "Equal"  # "Equal" or "Exists"; the API's empty operator means Equal
    value: str = ""
    effect: str = ""  # empty matches every effect
    toleration_seconds: int | None = None


@dataclass(frozen=True, slots=True)
class NodeSelectorRequirement:
    key: str
    operator: str  # In, NotIn, Exists, DoesNotExist, Gt, Lt
    values: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class NodeSelectorTerm:
    match_expressions: tuple[NodeSelectorRequirement, ...] = ()
    match_fields: tuple[NodeSelectorRequirement, ...] = ()


@dataclass(frozen=True, slots=True)
class Node:
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: tuple[Taint, ...] = ()
    allocatable: Resources = field(default_factory=dict)
    unschedulable: bool = False
    ready: bool = True
    uid: str = ""

    def __hash__(self) -> int:
        return hash((self.name, self.uid))


def _items(mapping: Mapping[str, int] | Mapping[str, str]) -> tuple[tuple[str, object], ...]:
    return tuple(sorted(mapping.items())) if mapping else ()


@dataclass(frozen=True, slots=True)
class Pod:
    namespace: str
    name: str
    uid: str
    requests: Resources = field(default_factory=dict)
    node_selector: Mapping[str, str] = field(default_factory=dict)
    required_affinity: tuple[NodeSelectorTerm, ...] | None = None  # terms are ORed
    tolerations: tuple[Toleration, ...] = ()
    domain_chain: tuple[str, ...] | None = None
    extras: Mapping[str, int] = field(default_factory=dict)
    priority: int = 0
    node_name: str | None = None
    scheduler_name: str = SCHEDULER_NAME
    terminal: bool = False
    # Everything that decides feasibility and score, without identity: equal keys, equal placement work.
    requirement_key: tuple[object, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        key = (
            _items(self.requests),
            _items(self.node_selector),
            self.required_affinity,
            self.tolerations,
            self.domain_chain,
            _items(self.extras),
        )
        object.__setattr__(self, "requirement_key", key)

    def __hash__(self) -> int:
        return hash(self.uid)

    @property
    def full_name(self) -> str:
        return f"{self.namespace}/{self.name}"
