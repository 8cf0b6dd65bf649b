"""The limits the dev cluster's provider simulator plays, and which nodes it plays them for.

A serverless provider behind virtual nodes does not run out like a node does. It starts pods through a
rate-limited API (AWS Fargate and Alibaba ECI document a token bucket of about 20 launches per second
with a burst of 100) and refuses pods beyond a quota (Tencent EKS super nodes: 100 pods per cluster by
default; Azure virtual nodes: 200 pods per node replica). These settings are what the simulator
enforces; they are read once, checked here, and passed to its process as flags.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

# The two ways virtual nodes are marked (docs/scheduler.md): virtual-kubelet and Tencent super nodes.
DEFAULT_NODE_SELECTORS: tuple[str, ...] = ("type=virtual-kubelet", "node.kubernetes.io/instance-type=eklet")
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"  # nodes kwok plays; the simulator never touches them
DEFAULT_HEARTBEAT_S = 10.0  # the kubelet's node lease renew interval


class LimitsError(ValueError):
    """A provider setting that cannot be played; the message names the field."""


def parse_selector(text: str) -> dict[str, str]:
    """ "k=v,k2=v2" as a dict; every pair must have a key and an '='."""
    pairs: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep or not key.strip():
            raise LimitsError(f"node selector {text!r}: {part!r} is not key=value")
        pairs[key.strip()] = value.strip()
    return pairs


def selects(selectors: Sequence[Mapping[str, str]], labels: Mapping[str, str]) -> bool:
    """True if any selector's pairs are all among the labels."""
    return any(all(labels.get(k) == v for k, v in sel.items()) for sel in selectors)


@dataclass(frozen=True)
class ProviderLimits:
    """launch_rate pods/s with launch_burst, at most quota_pods running or starting on the whole
    provider (0: no quota) and quota_pods_per_node on any one virtual node (0: none)."""

    launch_rate: float = 20.0
    launch_burst: int = 100
    quota_pods: int = 0
    quota_pods_per_node: int = 0
    node_selectors: tuple[str, ...] = DEFAULT_NODE_SELECTORS
    heartbeat_s: float = DEFAULT_HEARTBEAT_S

    def __post_init__(self) -> None:
        if not (math.isfinite(self.launch_rate) and self.launch_rate > 0):
            raise LimitsError(
                f"launch_rate: must be a positive number of pods per second, not {self.launch_rate}"
            )
        if self.launch_burst < 1:
            raise LimitsError(f"launch_burst: must be at least 1 pod, not {self.launch_burst}")
        if self.quota_pods < 0:
            raise LimitsError(f"quota_pods: must be 0 (no quota) or positive, not {self.quota_pods}")
        if self.quota_pods_per_node < 0:
            raise LimitsError(
                f"quota_pods_per_node: must be 0 (no quota) or positive, not {self.quota_pods_per_node}"
            )
        if not (math.isfinite(self.heartbeat_s) and self.heartbeat_s > 0):
            raise LimitsError(f"heartbeat_s: must be a positive number of seconds, not {self.heartbeat_s}")
        if not self.node_selectors:
            raise LimitsError("node_selectors: at least one selector is needed")
        self.selectors()  # raises on a malformed selector

    def selectors(self) -> tuple[dict[str, str], ...]:
        return tuple(parse_selector(s) for s in self.node_selectors)

    def to_args(self) -> list[str]:
        """The simulator's command-line flags for these limits."""
        args = [
            f"--launch-rate={self.launch_rate}",
            f"--launch-burst={self.launch_burst}",
            f"--quota-pods={self.quota_pods}",
            f"--quota-pods-per-node={self.quota_pods_per_node}",
            f"--heartbeat-seconds={self.heartbeat_s}",
        ]
        return args + [f"--node-selector={s}" for s in self.node_selectors]

    def to_record(self) -> dict[str, object]:
        """A JSON-able record for the cluster state."""
        record = asdict(self)
        record["node_selectors"] = list(self.node_selectors)
        return record

    @classmethod
    def from_record(cls, record: Mapping[str, object]) -> ProviderLimits:
        selectors = record.get("node_selectors", DEFAULT_NODE_SELECTORS)
        assert isinstance(selectors, list | tuple)
        return cls(
            launch_rate=float(str(record["launch_rate"])),
            launch_burst=int(str(record["launch_burst"])),
            quota_pods=int(str(record["quota_pods"])),
            quota_pods_per_node=int(str(record.get("quota_pods_per_node", 0))),
            node_selectors=tuple(str(s) for s in selectors),
            heartbeat_s=float(str(record.get("heartbeat_s", DEFAULT_HEARTBEAT_S))),
        )
