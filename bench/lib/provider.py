"""The bench's serverless provider: the dev cluster's simulator with the --virtual-* limits, and the
jobsched config that knows them.

`jobsched` is given its config file with the provider's documented limits copied onto its virtual
domain (launchRate, launchBurst, and maxPods from the quota), as an operator would configure them;
`jobsched-unaware` runs the very same domains with none, so the two show in one run what knowing the
limits buys.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from jobsched.devcluster.provider.limits import ProviderLimits
from jobsched.settings import DEFAULT_DOMAINS

VIRTUAL_DOMAIN = "virtual"


def limited_config(base: Path, limits: ProviderLimits) -> dict[str, Any]:
    """The config at `base`, its virtual domain carrying the provider's limits."""
    config = yaml.safe_load(base.read_text()) or {}
    domains = copy.deepcopy(config.get("domains") or [dict(d) for d in DEFAULT_DOMAINS])
    virtual = [d for d in domains if isinstance(d, dict) and d.get("name") == VIRTUAL_DOMAIN]
    if not virtual:
        raise ValueError(f"{base}: no domain named {VIRTUAL_DOMAIN!r} to give the provider's limits")
    virtual[0].update(domain_limits(limits))
    config["domains"] = domains
    return config


def domain_limits(limits: ProviderLimits) -> dict[str, Any]:
    """The domain fields that say what the provider documents."""
    fields: dict[str, Any] = {"launchRate": limits.launch_rate, "launchBurst": limits.launch_burst}
    if limits.quota_pods:
        fields["maxPods"] = limits.quota_pods
    return fields
