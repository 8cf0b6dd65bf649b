"""`jobsched validate FILE...`: lint cron ConfigMaps offline, before they reach a cluster.

It runs the very parser the engine runs (jobsched.core.cronspec), so a file that passes here is one the
engine accepts. Any input, however broken, yields problem lines and an exit status, never a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import yaml

from jobsched import SCHEDULER_NAME
from jobsched.core.cronspec import YAML_LOADER, Problem, configmap_ref, parse_configmap
from jobsched.core.vocabulary import CRON_CONFIGMAP_LABEL


def format_problem(path: str, problem: Problem) -> str:
    """One output line: ``FILE: ns/configmap: entry NAME: FIELD: message`` (no entry part if none)."""
    entry = f"entry {problem.entry}: " if problem.entry is not None else ""
    return f"{path}: {problem.configmap}: {entry}{problem.field}: {problem.message}"


def check_files(paths: Sequence[str], scheduler_name: str = SCHEDULER_NAME) -> tuple[list[str], list[str]]:
    """(problem lines, note lines) for `paths`. Notes are informational and do not fail validation."""
    problems: list[str] = []
    notes: list[str] = []
    for path in paths:
        try:
            with open(path, "rb") as handle:
                raw = handle.read()
            text = raw.decode("utf-8")
        except OSError as exc:
            problems.append(f"{path}: cannot read: {exc.strerror or exc}")
            continue
        except UnicodeDecodeError as exc:
            problems.append(f"{path}: not UTF-8 text: {exc.reason} at byte {exc.start}")
            continue
        _check_text(path, text, scheduler_name, problems, notes)
    return problems, notes


def validate_files(paths: Sequence[str], scheduler_name: str = SCHEDULER_NAME) -> list[str]:
    """One line per problem found in `paths`; empty when every cron ConfigMap in them is valid."""
    return check_files(paths, scheduler_name)[0]


def _check_text(path: str, text: str, scheduler_name: str, problems: list[str], notes: list[str]) -> None:
    found = 0
    try:
        for index, doc in enumerate(configmap_documents(yaml.load_all(text, Loader=YAML_LOADER))):
            if not isinstance(doc, Mapping) or doc.get("kind") != "ConfigMap":
                kind = doc.get("kind") if isinstance(doc, Mapping) else None
                notes.append(f"{path}: document {index + 1} ({kind or 'not an object'!s:.40}) ignored")
                continue
            found += 1
            entries, parsed = parse_configmap(doc, scheduler_name)
            lines = [format_problem(path, p) for p in _label_problems(doc) + parsed]
            problems.extend(lines)
            if not lines:
                notes.append(f"{path}: {'/'.join(configmap_ref(doc))}: {len(entries)} entries ok")
    except yaml.YAMLError as exc:
        problems.append(f"{path}: invalid YAML: {' '.join(str(exc).split())}")
    except RecursionError:
        problems.append(f"{path}: invalid YAML: nested too deeply")
    except ValueError as exc:
        # PyYAML lets this through for an integer of more than 4300 digits.
        problems.append(f"{path}: invalid YAML: {str(exc).split(';')[0]:.200}")
    if not found:
        notes.append(f"{path}: no ConfigMap found")


def configmap_documents(docs: Iterator[Any]) -> Iterator[Any]:
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
            "/".join(configmap_ref(doc)),
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
