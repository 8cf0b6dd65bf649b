"""What each kind of hostile cron ConfigMap costs the parser: time and peak memory, each in a fresh process.

Every ConfigMap comes from bench.lib.hostile_configmaps (the worst of its kind within the apiserver's
1 MiB). Each is parsed with `parse_configmap`, the engine's own call, in a child process of its own,
so that one run's heap never hides the next one's peak; the child reports the parse's wall time and
its peak RSS above what it held before parsing (ru_maxrss). A child is stopped after --timeout
seconds and refused memory over --memory-gib (RLIMIT_AS): such a run is reported as "> limit",
never as a number it did not reach. `--code DIR` measures another checkout of jobsched (e.g. the
code before the hardening, from a `git worktree add`), with this harness and these inputs.

    python -m bench.parse_budget [--repeats 3] [--validate] [--code DIR] [--only NAME,...] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from bench.lib.hostile_configmaps import CATEGORIES

HERE = Path(__file__).resolve().parents[1]

# Runs in the child: imports jobsched from the checkout given, parses, reports one JSON line.
CHILD = r"""
import json, resource, sys, time
root, mode, path = sys.argv[1:4]
sys.path.insert(0, root)
if mode == "parse":
    from jobsched.core.cronspec import parse_configmap
    with open(path) as handle:
        body = json.load(handle)
    work = lambda: parse_configmap(body)
else:
    from jobsched.validate import check_files
    work = lambda: check_files([path])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
try:
    result = work()
    outcome = "ok"
except MemoryError:
    result, outcome = None, "memory"
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
report = {"outcome": outcome, "seconds": seconds, "peak_mb": (peak - before) / 1024}
report["module"] = sys.modules["jobsched"].__file__
if result is not None and mode == "parse":
    entries, problems = result
    longest = max((len(p.message) + len(p.field) for p in problems), default=0)
    first = problems[0].message[:120] if problems else ""
    report.update(entries=len(entries), problems=len(problems), longest=longest, first=first)
elif result is not None:
    problems, notes = result
    longest = max((len(line) for line in problems), default=0)
    report.update(problems=len(problems), longest=longest, first=problems[0][:120] if problems else "")
print(json.dumps(report))
"""


def run_child(root: Path, mode: str, path: Path, timeout: float, memory_gib: float) -> dict[str, Any]:
    limit = int(memory_gib * 2**30)

    def cap_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    try:
        done = subprocess.run(
            [sys.executable, "-c", CHILD, str(root), mode, str(path)],
            capture_output=True,
            text=True,
            timeout=timeout,
            preexec_fn=cap_memory,
            cwd=root,
        )
    except subprocess.TimeoutExpired:
        return {"outcome": "timeout", "seconds": timeout}
    last = done.stdout.strip().splitlines()[-1:] if done.stdout.strip() else []
    if done.returncode != 0 or not last:
        memory = "MemoryError" in done.stderr or "Cannot allocate" in done.stderr
        tail = done.stderr.strip().splitlines()[-1:] or [f"exit {done.returncode}"]
        return {"outcome": "memory" if memory else "crash", "error": tail[0][:200]}
    report: dict[str, Any] = json.loads(last[0])
    return report


def measure(
    root: Path, mode: str, repeats: int, timeout: float, memory_gib: float, only: set[str] | None
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="parse-budget-") as tmp:
        for name, what, build in CATEGORIES:
            if only and name not in only:
                continue
            body = build()
            path = Path(tmp) / f"{name}.{'json' if mode == 'parse' else 'yaml'}"
            if mode == "parse":
                path.write_text(json.dumps(body))
            else:
                path.write_text(yaml.safe_dump(body, width=2**20))
            runs = [run_child(root, mode, path, timeout, memory_gib) for _ in range(repeats)]
            ok = [r for r in runs if r["outcome"] == "ok"]
            summary: dict[str, Any] = {"what": what, "data_bytes": _data_bytes(body), "runs": runs}
            if len(ok) == len(runs):
                summary["seconds"] = statistics.median(r["seconds"] for r in ok)
                summary["peak_mb"] = max(r["peak_mb"] for r in ok)
            else:
                summary["over"] = next(r for r in runs if r["outcome"] != "ok")
            results[name] = summary
            print(f"{root.name}: {mode}: {name:16} {_cell(summary, timeout, memory_gib)}", file=sys.stderr)
    return results


def _data_bytes(body: dict[str, Any]) -> int:
    return sum(len(v.encode()) for v in body["data"].values())


def _cell(summary: dict[str, Any], timeout: float, memory_gib: float) -> str:
    over = summary.get("over")
    if over is None:
        seconds, mb = summary["seconds"], summary["peak_mb"]
        took = f"{seconds * 1000:.0f} ms" if seconds < 0.1 else f"{seconds:.2f} s"
        return f"{took}, {mb:.0f} MB" if mb >= 1 else f"{took}, < 1 MB"
    if over["outcome"] == "timeout":
        return f"> {over['seconds']:.0f} s"
    if over["outcome"] == "memory":
        return f"> {memory_gib:g} GiB"
    return f"crash: {over.get('error', '')}"


def _longest(summary: dict[str, Any] | None) -> str:
    """The longest problem (message and field) any run printed, in characters."""
    lengths = [r["longest"] for r in (summary or {}).get("runs", []) if "longest" in r]
    return f"{max(lengths):,}" if lengths else "–"


def environment() -> dict[str, Any]:
    cpu = ""
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        cpu = platform.processor()
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "pyyaml": yaml.__version__,
    }


def markdown(doc: dict[str, Any]) -> str:
    modes = [m for m in ("parse", "validate") if m in doc["after"]]
    head = ["kind of input", "data bytes"]
    for mode in modes:
        head += [f"{mode}: after", f"{mode}: before"] if "before" in doc else [f"{mode}"]
    head += ["longest problem, after"] + (["before"] if "before" in doc else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    limits = doc["limits"]
    for name, what, _ in CATEGORIES:
        first = doc["after"][modes[0]].get(name)
        if first is None:
            continue
        row = [what, f"{first['data_bytes']:,}"]
        for mode in modes:
            row.append(_cell(doc["after"][mode][name], limits["timeout_s"], limits["memory_gib"]))
            if "before" in doc:
                before = doc["before"][mode].get(name)
                row.append(_cell(before, limits["timeout_s"], limits["memory_gib"]) if before else "–")
        row.append(_longest(first))
        if "before" in doc:
            row.append(_longest(doc["before"][modes[0]].get(name)))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.parse_budget", description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per input (median time, max memory)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds before a run is stopped")
    parser.add_argument("--memory-gib", type=float, default=4.0, help="address space a run may use")
    parser.add_argument("--code", type=Path, default=None, help="also measure this checkout ('before')")
    parser.add_argument("--before-repeats", type=int, default=1, help="runs per input for --code")
    parser.add_argument("--validate", action="store_true", help="also measure `jobsched validate` on a file")
    parser.add_argument("--only", default="", help="comma-separated input names")
    parser.add_argument("--out", type=Path, default=None, help="write JSON here, and a .md beside it")
    args = parser.parse_args(argv)
    only = set(filter(None, args.only.split(","))) or None
    modes = ["parse", "validate"] if args.validate else ["parse"]
    doc: dict[str, Any] = {
        "environment": environment(),
        "command": "python -m bench.parse_budget " + " ".join(sys.argv[1:] if argv is None else argv),
        "limits": {"timeout_s": args.timeout, "memory_gib": args.memory_gib},
        "after": {m: measure(HERE, m, args.repeats, args.timeout, args.memory_gib, only) for m in modes},
    }
    if args.code is not None:
        doc["before"] = {
            m: measure(args.code.resolve(), m, args.before_repeats, args.timeout, args.memory_gib, only)
            for m in modes
        }
    table = markdown(doc)
    print(table)
    if args.out is not None:
        args.out.write_text(json.dumps(doc, indent=2) + "\n")
        args.out.with_suffix(".md").write_text(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
