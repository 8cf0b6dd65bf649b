"""`python -m bench.sweep`: the growth curve. The same storm at several sizes (1,000 / 3,000 / 10,000 /
30,000 crons by default), jobsched and raw, each size a full `python -m bench` run on its own fresh
control plane; then one table and one plot of what grows with the storm: makespan per pod, fire→running
p99, the scheduler's CPU per pod and its peak RSS.

Each size's result is kept as `<out-dir>/sweep-<N>.json` (the bench's own document, with its .md and
.png beside it), so a size can be re-run alone (`--sizes 30000`) or measured with more repeats, and
`--plot-only` rebuilds the table and plot from the files already there.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import __main__ as bench_main

DEFAULT_SIZES = (1000, 3000, 10000, 30000)
DEFAULT_OUT = Path("bench/results/sweep")
# What the plot shows, per system: (title, unit, how to read it from a run's figures).
PANELS: tuple[tuple[str, str, str], ...] = (
    ("makespan per pod", "ms", "makespan_ms_per_pod"),
    ("fire→running p99", "s", "running_p99_s"),
    ("scheduler CPU per pod", "core-ms", "cpu_ms_per_pod"),
    ("scheduler peak RSS", "MB", "peak_rss_mb"),
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.sweep", description=__doc__)
    p.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)), help="comma list of storm sizes")
    p.add_argument("--systems", default="jobsched,raw")
    p.add_argument("--repeats", type=int, default=1, help="runs per system and size; figures are medians")
    p.add_argument("--virtual-nodes", type=int, default=100)
    p.add_argument("--regular-nodes", type=int, default=900)
    p.add_argument("--out-dir", type=Path, default=DEFAULT_OUT)
    p.add_argument("--plot-only", action="store_true", help="only rebuild the table and plot from --out-dir")
    return p


def sizes_of(text: str) -> list[int]:
    try:
        sizes = sorted({int(s) for s in text.split(",") if s.strip()})
    except ValueError as err:
        raise SystemExit(f"--sizes: {err}") from err
    if not sizes or sizes[0] <= 0:
        raise SystemExit("--sizes: give positive storm sizes, e.g. 1000,3000")
    return sizes


def point(crons: int, run: dict[str, Any]) -> dict[str, Any]:
    """One system at one size: the figures the curve is drawn from (None where the run has none)."""
    makespan = run.get("makespan_s")
    return {
        "crons": crons,
        "duplicates": run.get("duplicates"),
        "missed": run.get("missed"),
        "makespan_s": makespan,
        "makespan_ms_per_pod": round(makespan * 1000 / crons, 4) if makespan is not None else None,
        "running_p99_s": (run.get("fire_to_running_s") or {}).get("p99"),
        "cpu_ms_per_pod": run.get("cpu_ms_per_pod"),
        "burst_cpu_ms_per_pod": run.get("burst_cpu_ms_per_pod"),
        "peak_rss_mb": run.get("scheduler_peak_rss_mb"),
        "error": run.get("error"),
    }


def collect(out_dir: Path) -> tuple[dict[str, list[dict[str, Any]]], dict[str, Any]]:
    """Every size's result in out_dir: the points per system (by size), and one run's environment."""
    curves: dict[str, list[dict[str, Any]]] = {}
    environment: dict[str, Any] = {}
    files = sorted(out_dir.glob("sweep-*.json"), key=lambda f: int(f.stem.split("-")[1]))
    for path in files:
        document = json.loads(path.read_text())
        environment = environment or document.get("environment", {})
        crons = int(document["scenario"]["crons"])
        for system, run in document["runs"].items():
            curves.setdefault(system, []).append(
                {**point(crons, run), "repeats": document["scenario"].get("repeats")}
            )
    return curves, environment


def table(curves: dict[str, list[dict[str, Any]]], environment: dict[str, Any]) -> str:
    def cell(value: Any) -> str:
        return "–" if value is None else str(value)

    lines = [
        f"Machine: {environment.get('cpus')} CPUs ({environment.get('cpu_model')}), "
        f"{environment.get('memory_gib')} GiB; medians of each size's repeats.",
        "",
        "| system | crons | repeats | dup | missed | makespan s | makespan ms/pod | running p99 s "
        "| CPU ms/pod | burst CPU ms/pod | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for system, points in curves.items():
        for p in points:
            keys = (
                "crons",
                "repeats",
                "duplicates",
                "missed",
                "makespan_s",
                "makespan_ms_per_pod",
                "running_p99_s",
                "cpu_ms_per_pod",
                "burst_cpu_ms_per_pod",
                "peak_rss_mb",
            )
            lines.append(f"| {system} | " + " | ".join(cell(p[k]) for k in keys) + " |")
    return "\n".join(lines) + "\n"


def plot(curves: dict[str, list[dict[str, Any]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    for ax, (title, unit, key) in zip(axes.flat, PANELS, strict=True):
        for system, points in curves.items():
            xs = [p["crons"] for p in points if p[key] is not None]
            ys = [p[key] for p in points if p[key] is not None]
            if xs:
                ax.plot(xs, ys, marker="o", label=system)
        ax.set_xscale("log")
        ax.set_xlabel("crons firing at one instant")
        ax.set_title(f"{title} ({unit})")
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    failures = 0
    if not args.plot_only:
        for crons in sizes_of(args.sizes):
            out = args.out_dir / f"sweep-{crons}.json"
            print(f"[sweep] {crons} crons: {args.systems}, {args.repeats} repeat(s) → {out}", file=sys.stderr)
            failures += bench_main.main(
                [
                    f"--crons={crons}",
                    f"--systems={args.systems}",
                    f"--repeats={args.repeats}",
                    f"--virtual-nodes={args.virtual_nodes}",
                    f"--regular-nodes={args.regular_nodes}",
                    "--no-progress",
                    f"--out={out}",
                ]
            )
    curves, environment = collect(args.out_dir)
    if not curves:
        raise SystemExit(f"no sweep-*.json results in {args.out_dir}")
    (args.out_dir / "sweep.json").write_text(
        json.dumps({"environment": environment, "curves": curves}, indent=2)
    )
    text = table(curves, environment)
    (args.out_dir / "sweep.md").write_text(text)
    plot(curves, args.out_dir / "sweep.png")
    print(text)
    print(f"results: {args.out_dir}/sweep.{{json,md,png}}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
