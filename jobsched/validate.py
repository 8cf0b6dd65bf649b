"""`jobsched validate FILE...`: lint cron ConfigMaps offline, before they reach a cluster.

It runs the very parser the engine runs (jobsched.core.cronspec), so a file that passes here is one the
engine accepts, and it refuses what the apiserver would refuse (a ConfigMap over 1 MiB, a name that is
too long). Any input, however broken or hostile, yields problem lines and an exit status, never a
traceback, in time and memory bounded by the size of the files (YAML aliases in the manifests included).
`jobsched next` reads files the same way.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from jobsched import SCHEDULER_NAME
from jobsched.core import boundedyaml
from jobsched.core.cronentry import CronEntry, Problem
from jobsched.core.cronlimits import MAX_CONFIGMAP_BYTES, MAX_CONFIGMAP_VALUES, MAX_TEMPLATE_DEPTH, show
from jobsched.core.cronspec import configmap_label, configmap_ref, field_path, parse_configmap
from jobsched.core.vocabulary import CRON_CONFIGMAP_LABEL

# Larger files are refused unread: 64 ConfigMaps at the apiserver's 1 MiB each.
MAX_FILE_BYTES: Final = 64 * MAX_CONFIGMAP_BYTES


@dataclass
class FileCheck:
    """What one file holds: problem lines, informational notes, and the good entries."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    entries: list[CronEntry] = field(default_factory=list)


def format_problem(path: str, problem: Problem) -> str:
    """One output line: ``FILE: ns/configmap: entry NAME: FIELD: message`` (no entry part if none)."""
    entry = f"entry {problem.entry}: " if problem.entry is not None else ""
    return f"{path}: {problem.configmap}: {entry}{problem.field}: {problem.message}"


def check_files(paths: Sequence[str], scheduler_name: str = SCHEDULER_NAME) -> tuple[list[str], list[str]]:
    """(problem lines, note lines) for `paths`. Notes are informational and do not fail validation."""
    problems: list[str] = []
    notes: list[str] = []
    for path in paths:
        checked = check_file(path, scheduler_name)
        problems.extend(checked.problems)
        notes.extend(checked.notes)
    return problems, notes


def validate_files(paths: Sequence[str], scheduler_name: str = SCHEDULER_NAME) -> list[str]:
    """One line per problem found in `paths`; empty when every cron ConfigMap in them is valid."""
    return check_files(paths, scheduler_name)[0]


def check_file(path: str, scheduler_name: str = SCHEDULER_NAME) -> FileCheck:
    """Reads and checks every cron ConfigMap in the file at `path`."""
    checked = FileCheck()
    text = _read(path, checked)
    if text is None:
        return checked
    # Aliases may let a document hold at most one more copy of the file (plus one ConfigMap's worth):
    # so checking a file costs at most a few times what reading it does.
    room = len(text) + MAX_CONFIGMAP_VALUES
    chars = 2 * len(text) + MAX_CONFIGMAP_BYTES
    limits = boundedyaml.Limits(room, chars, MAX_TEMPLATE_DEPTH)
    documents = boundedyaml.load_all(text, limits, boundedyaml.Budget(room, chars, "file"))
    found = 0
    try:
        for index, doc in enumerate(configmap_documents(documents)):
            if isinstance(doc, boundedyaml.Refused):
                named = isinstance(doc.value, Mapping) and doc.value.get("kind") == "ConfigMap"
                where = configmap_label(*configmap_ref(doc.value)) if named else f"document {index + 1}"
                for flaw in doc.flaws:
                    at = field_path("", flaw.path)
                    checked.problems.append(f"{path}: {where}: {at + ': ' if at else ''}{flaw.message}")
                continue
            if not isinstance(doc, Mapping) or doc.get("kind") != "ConfigMap":
                checked.notes.append(f"{path}: document {index + 1} ({_kind(doc)}) ignored")
                continue
            found += 1
            entries, parsed = parse_configmap(doc, scheduler_name)
            lines = [format_problem(path, p) for p in _label_problems(doc) + parsed]
            checked.problems.extend(lines)
            checked.entries.extend(entries)
            if not lines:
                checked.notes.append(
                    f"{path}: {configmap_label(*configmap_ref(doc))}: {len(entries)} entries ok"
                )
    except boundedyaml.Unreadable as exc:
        checked.problems.append(f"{path}: {exc.flaw.message}")
    if not found:
        checked.notes.append(f"{path}: no ConfigMap found")
    return checked


def _read(path: str, checked: FileCheck) -> str | None:
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        checked.problems.append(f"{path}: cannot read: {exc.strerror or exc}")
        return None
    if len(raw) > MAX_FILE_BYTES:
        checked.problems.append(
            f"{path}: larger than {MAX_FILE_BYTES:,} bytes, not read: a ConfigMap holds at most "
            f"{MAX_CONFIGMAP_BYTES:,}; split the file"
        )
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        checked.problems.append(f"{path}: not UTF-8 text: {exc.reason} at byte {exc.start}")
        return None


def _kind(doc: Any) -> str:
    kind = doc.get("kind") if isinstance(doc, Mapping) else None
    if kind is None:
        return "not an object" if not isinstance(doc, Mapping) else "no kind"
    return boundedyaml.clip(kind, 40) if isinstance(kind, str) else show(kind)


def configmap_documents(docs: Iterable[Any]) -> Iterator[Any]:
    """The documents of a YAML stream, with `kind: List` items spliced in as kubectl does."""
    for doc in docs:
        if doc is None:
            continue
        items = doc.get("items") if isinstance(doc, Mapping) and doc.get("kind") == "List" else None
        if isinstance(items, list):
            yield from items
        else:
            yield doc


def _label_problems(doc: Mapping[str, Any]) -> list[Problem]:
    metadata = doc.get("metadata")
    labels = metadata.get("labels") if isinstance(metadata, Mapping) else None
    if isinstance(labels, Mapping) and labels.get(CRON_CONFIGMAP_LABEL) == "true":
        return []
    return [
        Problem(
            configmap_label(*configmap_ref(doc)),
            None,
            f"metadata.labels[{CRON_CONFIGMAP_LABEL}]",
            f'missing: jobsched ignores ConfigMaps without the label {CRON_CONFIGMAP_LABEL}: "true"',
        )
    ]


def main(paths: Sequence[str]) -> int:
    """Print problems to stdout and notes to stderr; 1 if any problem, 2 without files, else 0."""
    if not paths:
        print("usage: jobsched validate FILE...", file=sys.stderr)
        return 2
    problems, notes = check_files(paths)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    for line in problems:
        print(line)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
