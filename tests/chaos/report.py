"""The chaos suite's Markdown table: a pure function over result records."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tests.chaos.faults import BASELINE_OF
from tests.chaos.storm import verdict


def _seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _added(value: float | None, base: float | None) -> str:
    if value is None or base is None:
        return "–"
    return f"{value - base:+.2f}"


def takeover_s(result: dict[str, Any]) -> float | None:
    """Seconds from the strike to the next change of Lease holder, if there was one."""
    strike = result.get("strike_t")
    if strike is None:
        return None
    later = [leader["t"] for leader in result.get("leaders") or [] if leader["t"] > strike]
    return round(later[0] - strike, 1) if later else None


def table(results: Sequence[dict[str, Any]]) -> str:
    by_name = {r["scenario"]: r for r in results}
    lines = [
        "| scenario | fault | dup | missed | stranded | extra pods (replaced) | bound p99 s | max s "
        "| added p99 s | added max s | takeover s | verdict |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        base = by_name.get(BASELINE_OF.get(r["scenario"], "baseline"))
        p99 = r["fire_to_bound_s"]["p99"]
        top = r["fire_to_bound_s"]["max"]
        is_base = base is None or base is r
        added_p99 = "–" if is_base else _added(p99, base["fire_to_bound_s"]["p99"])  # type: ignore[index]
        added_max = "–" if is_base else _added(top, base["fire_to_bound_s"]["max"])  # type: ignore[index]
        takeover = takeover_s(r) if r.get("replica_exits") else None
        lines.append(
            f"| {r['scenario']} | {r['fault']} | {r['duplicates']} | {r['missed']} | {r['stranded']} "
            f"| {r['extra_pods']} ({r['replaced']}) "
            f"| {_seconds(p99)} | {_seconds(top)} | {added_p99} | {added_max} "
            f"| {_seconds(takeover)} | {verdict(r)} |"
        )
    return "\n".join(lines) + "\n"
