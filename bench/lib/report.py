"""The three faces of a result: the contract's JSON, a Markdown table, and the bound-pods plot.

The table is what a reader compares first (one row per system, the fire→bound percentiles and the
correctness counts beside them); the plot shows the shape of each storm: cumulative bound pods
against seconds after fire, on a log time axis so a one-second burst and a two-minute queue fit
on one chart.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

MIN_PLOT_S = 0.01  # binds before or at the fire instant are drawn at 10 ms on the log axis


def write_json(document: Mapping[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")


def _s(value: Any) -> str:
    return "–" if value is None else f"{value:.2f}"


def _n(value: Any) -> str:
    if value is None:
        return "–"
    return f"{value:.0f}" if isinstance(value, float) else str(value)


def markdown(document: Mapping[str, Any]) -> str:
    env, scenario, runs = document["environment"], document["scenario"], document["runs"]
    lines = [
        f"**{scenario['crons']} crons firing at {scenario['fire_at']}** on {scenario['virtual_nodes']} virtual "
        f"(capacity {scenario['virtual_capacity_pods']} pods) + {scenario['regular_nodes']} regular nodes; "
        f"pods run {scenario['run_seconds']:g}s; median of {scenario['repeats']} repeat(s).",
        *_provider_line(scenario),
        "",
        f"Machine: {env['cpus']} CPUs ({env.get('cpu_model', '?')}), {env.get('memory_gib', '?')} GiB, "
        f"Python {env['python']} ({env.get('event_loop', '?')}); kube-apiserver {env['kubernetes']}, "
        f"etcd {env['etcd']}, kwok {env['kwok']}; native-tuned QPS/burst {env.get('tuned_qps')}.",
        "",
        "| system | bound / crons | dup | missed | fallback | created p50 | bound p50 | p90 | p99 | max "
        "| running p50 | running p99 | refused / re-runs | peak binds/s | first 2 s binds/s | sched CPU s "
        "| burst CPU ms/pod | CPU ms/pod | sched RSS MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, run in runs.items():
        if "error" in run:
            text = [line.strip() for line in str(run["error"]).splitlines() if line.strip()] or ["?"]
            summary = text[0] if len(text) == 1 else f"{text[0]} … {text[-1]}"
            lines.append(f"| {name} | error: {summary[:300].replace('|', '/')} |" + " |" * 17)
            continue
        bound, created, running = run["fire_to_bound_s"], run["fire_to_created_s"], run["fire_to_running_s"]
        lines.append(
            f"| {name} | {run['pods_bound']} / {run['crons']} | {run['duplicates']} | {run['missed']} "
            f"| {run['fallback_bound']} | {_s(created['p50'])} | {_s(bound['p50'])} | {_s(bound['p90'])} "
            f"| {_s(bound['p99'])} | {_s(bound['max'])} | {_s(running['p50'])} | {_s(running['p99'])} "
            f"| {_n(run.get('pods_refused'))} / {_n(run.get('reruns'))} | {_n(run['peak_binds_per_s'])} "
            f"| {', '.join(str(b) for b in (run.get('binds_per_second') or [])[:2]) or '–'} "
            f"| {_s(run['scheduler_cpu_s'])} | {_s(run.get('burst_cpu_ms_per_pod'))} "
            f"| {_s(run.get('cpu_ms_per_pod'))} | {_n(run['scheduler_peak_rss_mb'])} |"
        )
    lines += ["", "Times are seconds after the fire instant, from the harness's own watch."]
    lines += _cpu_to_running_lines(runs)
    raw = runs.get("raw")
    if raw and "error" not in raw:
        lines.append(
            f"Raw ceiling in this run: {_n(raw.get('creates_per_s'))} creates/s, "
            f"{_n(raw.get('binds_per_s'))} binds/s "
            f"(floor for {scenario['crons']} pods ≈ {scenario['crons'] / max(raw.get('binds_per_s') or 1, 1):.2f}s)."
        )
    return "\n".join(lines) + "\n"


def _cpu_to_running_lines(runs: Mapping[str, Any]) -> list[str]:
    """Who spent the machine's CPU between the fire instant and the running p99, per system."""
    lines = []
    for name, run in runs.items():
        control_plane = run.get("control_plane_to_running_cpu_s")
        if "error" in run or control_plane is None:
            continue
        scheduler, share = run.get("scheduler_to_running_cpu_s"), run.get("scheduler_to_running_share")
        own = f"scheduler {_s(scheduler)}, " if scheduler is not None else ""
        lines.append(
            f"CPU-s from the fire instant to running p99, {name}: {own}control plane (apiserver, etcd, kwok) "
            f"{_s(control_plane)}, harness {_s(run.get('harness_to_running_cpu_s'))}"
            + (f"; the scheduler's share {share * 100:.1f} %." if share is not None else ".")
        )
    return lines


def _provider_line(scenario: Mapping[str, Any]) -> list[str]:
    rate, burst, quota = (
        scenario.get(k) for k in ("virtual_launch_rate", "virtual_launch_burst", "virtual_quota_pods")
    )
    if rate is None and burst is None and quota is None:
        return []
    return [
        "",
        f"Virtual nodes played by the provider simulator: {rate or 20:g} launches/s, burst {burst or 100}, "
        f"{f'quota {quota} pods' if quota else 'no quota'}; `refused` pods failed (ProviderFailed) before "
        "any container started, `re-runs` ran their slot again.",
    ]


def plot(curves: Mapping[str, list[list[float]]], document: Mapping[str, Any], path: Path) -> None:
    """Cumulative bound pods against seconds after fire, one colour per system (repeats share it)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 5.5), dpi=110)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, (name, repeats) in enumerate(curves.items()):
        for repeat, times in enumerate(repeats):
            if not times:
                continue
            xs = [max(t, MIN_PLOT_S) for t in times]
            ys = list(range(1, len(xs) + 1))
            run = document["runs"].get(name, {})
            p99 = (run.get("fire_to_bound_s") or {}).get("p99")
            label = f"{name} (p99 {p99:.2f}s)" if repeat == 0 and p99 is not None else None
            ax.step(xs, ys, where="post", color=colours[index % len(colours)], label=label, alpha=0.9)
    scenario, env = document["scenario"], document["environment"]
    ax.axhline(scenario["crons"], color="grey", linewidth=0.6, linestyle=":")
    ax.set_xscale("log")
    ax.set_xlabel("seconds after fire (log scale)")
    ax.set_ylabel("pods bound")
    ax.set_title(
        f"{scenario['crons']} crons at one instant — {env['cpus']} CPUs, kube-apiserver {env['kubernetes']}"
    )
    ax.grid(True, which="both", alpha=0.3)
    if curves:
        ax.legend(loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def write_all(document: Mapping[str, Any], curves: Mapping[str, list[list[float]]], out: Path) -> str:
    """Writes out (JSON), out.md and out.png; returns the Markdown."""
    table = markdown(document)
    write_json(document, out)
    out.with_suffix(".md").write_text(table)
    plot(curves, document, out.with_suffix(".png"))
    return table
