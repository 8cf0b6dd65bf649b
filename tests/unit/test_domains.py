"""Domain selectors, chains and config parsing."""

from __future__ import annotations

import re
from typing import Any

import pytest

from jobsched.core.domains import domain_of, domains_from_config, resolve_chain, route
from jobsched.core.launchbudget import DEFAULT_MAX_START_DELAY_S, DomainLimits
from jobsched.core.model import Toleration
from jobsched.settings import DEFAULT_CHAIN, DEFAULT_DOMAINS
from tests.support.factories import DOMAINS, node, pod


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"type": "virtual-kubelet"}, "virtual"),
        ({"node.kubernetes.io/instance-type": "eklet"}, "virtual"),
        ({"node.kubernetes.io/instance-type": "m5.large"}, "regular"),
        ({"nvidia.com/gpu.present": "true"}, "gpu"),
        ({"nvidia.com/gpu.present": "false"}, "regular"),
        ({"type": "virtual-kubelet", "nvidia.com/gpu.present": "true"}, "virtual"),  # declared order
        ({}, "regular"),
    ],
)
def test_default_domains(labels: dict[str, str], expected: str) -> None:
    assert domain_of(node("n", labels=labels), DOMAINS) == expected


def test_default_virtual_domain_tolerates_provider_taints() -> None:
    virtual = DOMAINS[0]
    assert virtual.policy == "binpack"
    assert Toleration("virtual-kubelet.io/provider", "Exists") in virtual.tolerations
    assert Toleration("eks.tke.cloud.tencent.com/eklet", "Exists") in virtual.tolerations
    assert [d.name for d in DOMAINS] == ["virtual", "gpu", "regular"]
    assert DEFAULT_CHAIN == ("virtual", "regular")


def test_selector_any_of_and_exists() -> None:
    (domain,) = domains_from_config([{"name": "big", "nodeSelector": {"size": ["l", "xl"], "ssd": "*"}}])
    assert domain.matches(node("n", labels={"size": "xl", "ssd": "whatever"}))
    assert not domain.matches(node("n", labels={"size": "xl"}))
    assert not domain.matches(node("n", labels={"size": "s", "ssd": "1"}))
    assert domain_of(node("n"), (domain,)) is None


def test_extra_caps_and_weights() -> None:
    (domain,) = domains_from_config(
        [{"name": "v", "catchAll": True, "extraCaps": {"logs": "10Mi"}, "weights": {"cpu": 2}}]
    )
    assert domain.extra_caps == {"logs": 10 * 2**20}
    assert domain.weights == {"cpu": 2}


def test_resolve_chain() -> None:
    assert resolve_chain(pod("p"), DEFAULT_CHAIN) == ("virtual", "regular")
    assert resolve_chain(pod("p", domain_chain=("gpu",)), DEFAULT_CHAIN) == ("gpu",)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            [{"name": "a", "catchAll": True}, {"name": "b", "catchAll": True, "policy": "x"}],
            "domains[1].policy: expected binpack or spread, got 'x'",
        ),
        ([{"name": "a"}], "domains[0]: needs nodeSelector, matchAny or catchAll: true"),
        ([{"catchAll": True}], "domains[0].name: expected a non-empty string"),
        ([{"name": "a", "catchAll": True}, {"name": "a", "catchAll": True}], "domains[1].name: duplicate"),
        ([{"name": "a", "catchAll": True, "colour": 1}], "domains[0].colour: unknown field"),
        ([{"name": "a", "catchAll": "yes"}], "domains[0].catchAll: expected a boolean"),
        ([{"name": "a", "matchAny": [{"x": "1"}, "oops"]}], "domains[0].matchAny[1]: expected a mapping"),
        (
            [{"name": "a", "catchAll": True, "tolerations": [{"key": "k", "operator": "Maybe"}]}],
            "domains[0].tolerations[0].operator: expected Equal or Exists",
        ),
        (
            [{"name": "a", "catchAll": True, "extraCaps": {"logs": "lots"}}],
            "domains[0].extraCaps.logs: invalid quantity",
        ),
        (
            [{"name": "a", "catchAll": True, "weights": {"cpu": -1}}],
            "domains[0].weights.cpu: expected an integer",
        ),
        ("nope", "domains: expected a list"),
        ([], "domains: expected at least one domain"),
    ],
)
def test_config_errors_name_the_field(data: Any, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        domains_from_config(data)


def test_default_config_round_trips() -> None:
    assert domains_from_config(DEFAULT_DOMAINS) == DOMAINS


@pytest.mark.parametrize(
    ("chain", "step", "expected"),
    [
        (("virtual", "regular"), 0, 0),
        (("virtual", "regular"), 1, 1),
        (("virtual", "regular"), 2, 2),
        (("nowhere", "regular"), 0, 1),
        (("virtual", "nowhere"), 1, 2),
        (("nowhere",), 0, 1),
        ((), 0, 0),
    ],
)
def test_route_skips_domains_this_scheduler_does_not_have(
    chain: tuple[str, ...], step: int, expected: int
) -> None:
    assert route(chain, step, {"virtual", "regular", "gpu"}) == expected


def test_provider_limits_are_read_with_their_defaults() -> None:
    (virtual, plain) = domains_from_config(
        [
            {
                "name": "virtual",
                "matchAny": [{"type": "virtual-kubelet"}],
                "launchRate": 20,
                "launchBurst": 100,
                "maxPods": 300,
                "neverStartedReasons": ["ProviderFailed", "ProviderQuotaExceeded"],
            },
            {"name": "regular", "catchAll": True, "maxStartDelaySeconds": None},
        ]
    )
    assert virtual.limits == DomainLimits(
        launch_rate=20.0, launch_burst=100, max_pods=300, max_start_delay_s=DEFAULT_MAX_START_DELAY_S
    )
    assert virtual.limits.limited
    assert virtual.never_started_reasons == ("ProviderFailed", "ProviderQuotaExceeded")
    assert plain.limits == DomainLimits()
    assert not plain.limits.limited
    assert plain.never_started_reasons == ("ProviderFailed",)
    assert DOMAINS[0].limits == DomainLimits()  # no provider limits unless configured


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"launchRate": 20}, "domains[0].launchBurst: launchRate and launchBurst go together"),
        ({"launchBurst": 100}, "domains[0].launchRate: launchRate and launchBurst go together"),
        ({"launchRate": 0, "launchBurst": 1}, "domains[0].launchRate: expected pods per second > 0"),
        ({"launchRate": "fast", "launchBurst": 1}, "domains[0].launchRate: expected a number ≥ 0"),
        ({"launchRate": 1, "launchBurst": 0}, "domains[0].launchBurst: expected an integer ≥ 1, got 0"),
        ({"launchRate": 1, "launchBurst": 2.5}, "domains[0].launchBurst: expected an integer ≥ 1"),
        ({"launchRate": float("inf"), "launchBurst": 1}, "domains[0].launchRate: expected a number"),
        ({"maxPods": -1}, "domains[0].maxPods: expected an integer ≥ 0, got -1"),
        ({"maxPods": True}, "domains[0].maxPods: expected an integer"),
        (
            {"maxStartDelaySeconds": 3},
            "domains[0].maxStartDelaySeconds: only means something with launchRate",
        ),
        (
            {"launchRate": 1, "launchBurst": 1, "maxStartDelaySeconds": -1},
            "domains[0].maxStartDelaySeconds: expected a number ≥ 0",
        ),
        ({"neverStartedReasons": "ProviderFailed"}, "domains[0].neverStartedReasons: expected a list"),
        ({"neverStartedReasons": ["ok", ""]}, "domains[0].neverStartedReasons[1]: expected a non-empty"),
        ({"neverStartedReasons": [3]}, "domains[0].neverStartedReasons[0]: expected a non-empty"),
    ],
)
def test_bad_provider_limits_name_the_field(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        domains_from_config([{"name": "v", "catchAll": True, **fields}])
