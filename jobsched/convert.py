"""`jobsched convert FILE...`: batch/v1 CronJobs in, jobsched cron ConfigMaps out, nothing lost silently.

Reads CronJob YAML (files, ``kubectl get cronjobs -A -o yaml`` Lists, or ``-`` for stdin), turns each
CronJob into a ConfigMap entry with the same meaning (`jobsched.core.cronjobentry`), and writes one
ConfigMap per namespace, or several where one would pass the API server's 1 MiB limit. Every CronJob
that cannot be carried exactly is named on stderr with the field and the reason; the ConfigMaps
written are parsed back with the engine's own parser before they are printed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, TextIO

import yaml

from jobsched import SCHEDULER_NAME
from jobsched.core.cronjobentry import ConvertedCronJob, Finding, cronjob_to_entry
from jobsched.core.cronschedule import CronSpecError, load_zone
from jobsched.core.cronspec import YAML_LOADER, parse_configmap
from jobsched.core.vocabulary import CRON_CONFIGMAP_LABEL
from jobsched.validate import configmap_documents

MAX_CONFIGMAP_BYTES: Final = 1024 * 1024  # kube-apiserver's limit on a ConfigMap's data
DATA_KEY: Final = "crons.yaml"
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$")  # a DNS-1123 label with room for "-N"


@dataclass
class Outcome:
    """What one run produced: ConfigMaps to print, and lines for stderr."""

    configmaps: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # anything not converted: exit status 1
    notes: list[str] = field(default_factory=list)
    converted: int = 0
    seen: int = 0


def read_cronjobs(label: str, text: str, outcome: Outcome) -> Iterator[Mapping[str, Any]]:
    """The CronJob objects in one YAML stream (Lists spliced in); other documents become notes."""
    try:
        for index, doc in enumerate(configmap_documents(yaml.load_all(text, Loader=YAML_LOADER))):
            items = (
                doc.get("items") if isinstance(doc, Mapping) and doc.get("kind") == "CronJobList" else None
            )
            if isinstance(items, list):  # the API's own list type, as a raw GET returns it
                yield from (item for item in items if isinstance(item, Mapping))
            elif isinstance(doc, Mapping) and doc.get("kind") == "CronJob":
                yield doc
            else:
                kind = doc.get("kind") if isinstance(doc, Mapping) else None
                outcome.notes.append(
                    f"{label}: document {index + 1} ({kind or 'not an object'!s:.40}) ignored"
                )
    except yaml.YAMLError as exc:
        outcome.problems.append(f"{label}: invalid YAML: {' '.join(str(exc).split())}")
    except (RecursionError, ValueError) as exc:
        outcome.problems.append(f"{label}: invalid YAML: {str(exc).split(';')[0]:.200}")


def _line(finding: Finding) -> str:
    return f"{finding.cronjob}: {finding.field}: {finding.message}"


def convert(
    sources: Sequence[tuple[str, str]],
    *,
    start: datetime,
    controller_zone: str = "UTC",
    scheduler_name: str = SCHEDULER_NAME,
    prefix: str = "cronjobs",
    max_bytes: int = MAX_CONFIGMAP_BYTES,
) -> Outcome:
    """Convert the CronJobs in `sources` ((label, YAML text) pairs): the whole command minus its I/O."""
    outcome = Outcome()
    by_namespace: dict[str, list[ConvertedCronJob]] = defaultdict(list)
    for label, text in sources:
        for obj in read_cronjobs(label, text, outcome):
            outcome.seen += 1
            done = cronjob_to_entry(
                obj, controller_zone=controller_zone, start=start, scheduler_name=scheduler_name
            )
            for finding in done.findings:
                (outcome.problems if finding.fatal else outcome.notes).append(_line(finding))
            if done.entry is not None:
                by_namespace[done.namespace].append(done)
    for namespace in sorted(by_namespace):
        _pack(namespace, _unique(by_namespace[namespace], outcome), prefix, max_bytes, outcome)
    for configmap in outcome.configmaps:  # the engine's own verdict on what is about to be printed
        _, problems = parse_configmap(configmap, scheduler_name)
        outcome.problems.extend(f"{p.configmap}: entry {p.entry}: {p.field}: {p.message}" for p in problems)
    return outcome


def _unique(done: list[ConvertedCronJob], outcome: Outcome) -> list[ConvertedCronJob]:
    """One entry per name: a CronJob listed twice (two input files) is converted once."""
    kept: dict[str, ConvertedCronJob] = {}
    for item in done:
        if item.name in kept:
            if item.entry != kept[item.name].entry:
                outcome.problems.append(f"{item.namespace}/{item.name}: given twice, differently; first kept")
            else:
                outcome.notes.append(f"{item.namespace}/{item.name}: given twice; converted once")
            continue
        kept[item.name] = item
    return [kept[name] for name in sorted(kept)]


def _configmap(namespace: str, name: str, text: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": {CRON_CONFIGMAP_LABEL: "true"}},
        "data": {DATA_KEY: text},
    }


def _json_size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


def _pack(
    namespace: str, done: list[ConvertedCronJob], prefix: str, max_bytes: int, outcome: Outcome
) -> None:
    """Entries into as few ConfigMaps as keep each one's serialized JSON within `max_bytes`.

    The data text is a YAML list whose items are dumped one by one, and JSON escapes character by
    character, so a ConfigMap's size is its empty size plus each item's escaped size.
    """
    groups: list[list[str]] = [[]]
    empty = _json_size(_configmap(namespace, f"{prefix}-{len(done) + 1}", ""))
    size = empty
    for item in done:
        text = item.entry_yaml or ""
        cost = _json_size(text) - 2  # without the quotes
        if empty + cost > max_bytes:
            outcome.problems.append(
                f"{item.namespace}/{item.name}: spec.jobTemplate: too large for one ConfigMap "
                f"({empty + cost} bytes serialized, limit {max_bytes})"
            )
            continue
        if size + cost > max_bytes and groups[-1]:
            groups.append([])
            size = empty
        groups[-1].append(text)
        size += cost
        outcome.converted += 1
    for index, texts in enumerate(group for group in groups if group):
        name = prefix if index == 0 else f"{prefix}-{index + 1}"
        outcome.configmaps.append(_configmap(namespace, name, "".join(texts)))


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings as literal blocks, so the entries stay readable in the ConfigMap."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_BlockDumper.add_representer(str, _str)


def write_yaml(configmaps: list[dict[str, Any]], out: TextIO) -> None:
    yaml.dump_all(configmaps, out, Dumper=_BlockDumper, sort_keys=False, allow_unicode=True)


def _read(path: str) -> tuple[str, str | None, str | None]:
    """(label, text, error) for a path or "-" (stdin)."""
    if path == "-":
        return "<stdin>", sys.stdin.read(), None
    try:
        with open(path, "rb") as handle:
            return path, handle.read().decode("utf-8"), None
    except OSError as exc:
        return path, None, f"cannot read: {exc.strerror or exc}"
    except UnicodeDecodeError as exc:
        return path, None, f"not UTF-8 text: {exc.reason} at byte {exc.start}"


def _usage_error(message: str) -> int:
    print(f"jobsched convert: error: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    """Print ConfigMaps to --output and findings to stderr; 0 if all converted, 1 if not, 2 on usage."""
    try:
        load_zone(args.controller_time_zone)
    except CronSpecError as exc:
        return _usage_error(f"--controller-time-zone: {exc}")
    try:
        start = datetime.fromisoformat(args.start) if args.start else datetime.now(UTC)
    except ValueError as exc:
        return _usage_error(f"--start: {exc}")
    if start.tzinfo is None:
        return _usage_error("--start needs a UTC offset, e.g. 2026-01-01T00:00:00Z")
    max_bytes = MAX_CONFIGMAP_BYTES if args.max_bytes is None else args.max_bytes
    if max_bytes < 1024:
        return _usage_error("--max-bytes must be at least 1024")
    if not _NAME.match(args.name):
        return _usage_error("--name must be a DNS-1123 label of at most 40 characters")
    sources, unreadable = [], []
    for path in args.files:
        label, text, error = _read(path)
        if text is None:
            unreadable.append(f"{label}: {error}")
        else:
            sources.append((label, text))
    outcome = convert(
        sources,
        start=start.astimezone(UTC).replace(second=0, microsecond=0),
        controller_zone=args.controller_time_zone,
        scheduler_name=args.scheduler_name or SCHEDULER_NAME,
        prefix=args.name,
        max_bytes=max_bytes,
    )
    outcome.problems[:0] = unreadable
    try:
        if outcome.configmaps and args.output == "-":
            write_yaml(outcome.configmaps, sys.stdout)
        elif outcome.configmaps:
            with open(args.output, "w", encoding="utf-8") as out:
                write_yaml(outcome.configmaps, out)
    except OSError as exc:
        outcome.problems.append(f"{args.output}: cannot write: {exc.strerror or exc}")
    sys.stdout.flush()  # the YAML before the findings when both go to one terminal
    for note in outcome.notes:
        print(f"note: {note}", file=sys.stderr)
    for problem in outcome.problems:
        print(problem, file=sys.stderr)
    print(
        f"jobsched convert: {outcome.converted} of {outcome.seen} CronJobs converted into "
        f"{len(outcome.configmaps)} ConfigMaps; {len(outcome.problems)} problems",
        file=sys.stderr,
    )
    return 1 if outcome.problems else 0
