"""A cron ConfigMap's entries: its data keys read, each YAML text within the parser's budgets
(boundedyaml, cronlimits), and each entry read by cronfields into a `CronEntry` or `Problem`s.

Cron definitions live in ConfigMaps labelled ``jobsched.io/cron: "true"`` (see docs/cron-format.md). A bad
entry, or a bad data key, never hides the good ones: parsing always returns both, so one typo cannot
silence every other cron in the ConfigMap.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Final

from jobsched import SCHEDULER_NAME
from jobsched.core import boundedyaml
from jobsched.core.boundedyaml import YAML_LOADER as YAML_LOADER
from jobsched.core.cronentry import CronEntry, Problem, TemplateInterner
from jobsched.core.cronfields import EntryContext, ProblemReport, parse_entry
from jobsched.core.cronlimits import (
    DNS_LABEL,
    DNS_SUBDOMAIN,
    ENTRY_LIMITS,
    MAX_CONFIGMAP_BYTES,
    MAX_CONFIGMAP_NAME,
    MAX_LABEL,
    MAX_OBJECT_NAME,
    configmap_budget,
    configmap_key_error,
    data_bytes,
    show,
    show_all,
)
from jobsched.core.vocabulary import STATUS_SUFFIX

DATA_KEY_SUFFIX: Final = ".yaml"
DEFAULT_NAMESPACE: Final = "default"  # as kubectl assumes for a file without metadata.namespace
UNNAMED: Final = "<unnamed>"

# Where entry lists sit in a data key's document: the document itself, or its `entries`.
_ENTRY_LISTS: Final = ((), ("entries",))


def configmap_ref(obj: Mapping[str, Any]) -> tuple[str, str]:
    """(namespace, name) of a raw ConfigMap; DEFAULT_NAMESPACE and UNNAMED stand in for missing ones."""
    metadata = obj.get("metadata") if isinstance(obj, Mapping) else None
    metadata = metadata if isinstance(metadata, Mapping) else {}
    namespace = metadata.get("namespace")
    name = metadata.get("name")
    return (
        namespace if isinstance(namespace, str) and namespace else DEFAULT_NAMESPACE,
        name if isinstance(name, str) and name else UNNAMED,
    )


def configmap_label(namespace: str, name: str) -> str:
    """ "namespace/name" as problems name a ConfigMap: in full when valid, cut short when absurdly long."""
    return f"{boundedyaml.clip(namespace, MAX_LABEL)}/{boundedyaml.clip(name, MAX_OBJECT_NAME)}"


def parse_configmap(
    obj: Mapping[str, Any], scheduler_name: str = SCHEDULER_NAME
) -> tuple[list[CronEntry], list[Problem]]:
    """Every good entry of a raw ConfigMap, and a Problem for everything wrong in it.

    Keys ending in ``.yaml`` are read in sorted order. A name used twice keeps its first entry (by
    key order, then position) and reports each later one, so which one runs never depends on luck.
    Whatever `obj` holds, the work is bounded (jobsched.core.cronlimits) and so is every message;
    the result holds only plain data, so it can come back from a worker process.
    """
    namespace, name = configmap_ref(obj)
    report = ProblemReport(configmap_label(namespace, name))
    runnable = _check_names(obj, namespace, name, report)
    data = obj.get("data") if isinstance(obj, Mapping) else None
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        report.add(None, "data", "must be a mapping of key to text")
        data = {}
    binary = obj.get("binaryData") if isinstance(obj, Mapping) else None
    size = data_bytes(data, binary)
    if size > MAX_CONFIGMAP_BYTES:
        # The apiserver refuses it; reading it all would only cost time. Only `validate` gets here.
        report.add(
            None,
            "data",
            f"holds {size:,} bytes; the apiserver refuses a ConfigMap whose data and binaryData values "
            f"hold more than {MAX_CONFIGMAP_BYTES:,} bytes (1 MiB): split it",
        )
        return [], report.finish("data")
    entries: list[CronEntry] = []
    seen: dict[str, str] = {}
    budget = configmap_budget()
    for key in sorted(data, key=str):
        text = data[key]
        key_path = f"data[{boundedyaml.clip(str(key))}]"
        key_error = configmap_key_error(key)
        if key_error is not None:
            report.add(None, key_path, f"the key {key_error}")
            continue
        if not key.endswith(DATA_KEY_SUFFIX):
            if key.endswith(".yml"):
                report.add(None, key_path, "ignored: only keys ending in .yaml hold cron entries")
            continue
        if not isinstance(text, str):
            report.add(None, key_path, "must be a string holding YAML")
            continue
        for path, entry in _parse_text(text, namespace, name, scheduler_name, report, key_path, budget):
            if entry.name in seen:
                report.add(
                    entry.name,
                    f"{path}.name",
                    f"duplicate entry name; the first one ({seen[entry.name]}) is kept",
                )
                continue
            seen[entry.name] = path
            entries.append(entry)
    return (entries if runnable else []), report.finish("data")


def _check_names(obj: Mapping[str, Any], namespace: str, name: str, report: ProblemReport) -> bool:
    """Reports a name or namespace the apiserver or the status ConfigMap could not hold; False if any."""
    if name == UNNAMED:
        report.add(None, "metadata.name", "a ConfigMap needs a name")
        return False
    if len(name) > MAX_OBJECT_NAME or not DNS_SUBDOMAIN.match(name):
        report.add(
            None,
            "metadata.name",
            f"must be a DNS-1123 subdomain: at most {MAX_OBJECT_NAME} of a-z 0-9 '-' '.'; "
            "its entries do not run",
        )
        return False
    if len(name) > MAX_CONFIGMAP_NAME:
        report.add(
            None,
            "metadata.name",
            f"{len(name)} characters; at most {MAX_CONFIGMAP_NAME}, so that its status ConfigMap "
            f"'<name>{STATUS_SUFFIX}' fits in {MAX_OBJECT_NAME}: its entries do not run",
        )
        return False
    metadata = obj.get("metadata") if isinstance(obj, Mapping) else None
    given = metadata.get("namespace") if isinstance(metadata, Mapping) else None
    if given is not None and (
        not isinstance(given, str) or len(namespace) > MAX_LABEL or not DNS_LABEL.match(namespace)
    ):
        report.add(
            None, "metadata.namespace", f"must be a namespace name (a DNS-1123 label), got {show(given)}"
        )
        return False
    return True


def parse_entries_yaml(
    text: str, namespace: str, configmap_name: str, scheduler_name: str = SCHEDULER_NAME
) -> tuple[list[CronEntry], list[Problem]]:
    """The entries of one YAML text (a ``{entries: [...]}`` document or a bare list).

    Duplicate names within the text are reported and the first one kept.
    """
    report = ProblemReport(configmap_label(namespace, configmap_name))
    entries: list[CronEntry] = []
    seen: set[str] = set()
    for path, entry in _parse_text(
        text, namespace, configmap_name, scheduler_name, report, "", configmap_budget()
    ):
        if entry.name in seen:
            report.add(entry.name, f"{path}.name", "duplicate entry name; the first one is kept")
            continue
        seen.add(entry.name)
        entries.append(entry)
    return entries, report.finish("<text>")


def _parse_text(
    text: str,
    namespace: str,
    configmap: str,
    scheduler_name: str,
    report: ProblemReport,
    key_path: str,
    budget: boundedyaml.Budget,
) -> Iterator[tuple[str, CronEntry]]:
    where = key_path or "<text>"
    try:
        doc = boundedyaml.load(text, ENTRY_LIMITS, budget, _ENTRY_LISTS)
    except boundedyaml.Unreadable as exc:
        at = f" (at {field_path('', exc.flaw.path)})" if exc.flaw.path else ""
        report.add(None, where, exc.flaw.message + at)
        return
    list_path: tuple[Any, ...] = ()
    if isinstance(doc, dict):
        unknown = [k for k in doc if k != "entries"]
        if unknown:
            report.add(None, where, f"unknown top-level keys {show_all(unknown)}; only 'entries' is read")
        doc = doc.get("entries")
        list_path = ("entries",)
    if doc is None:
        return  # an empty key holds no entries
    if not isinstance(doc, list):
        report.add(None, field_path(key_path, list_path) or where, "must be a list of entries")
        return
    base = field_path(key_path, list_path)
    templates = TemplateInterner()
    for index, raw in enumerate(doc):
        if isinstance(raw, boundedyaml.Refused) and report.full:
            report.omitted += len(raw.flaws)  # only counted: no need to write them out
            continue
        ctx = EntryContext(
            report, namespace, configmap, scheduler_name, f"{base}[{index}]", f"#{index}", templates
        )
        if isinstance(raw, boundedyaml.Refused):
            _report_refused(ctx, raw, key_path, (*list_path, index, "name"))
            continue
        entry = parse_entry(raw, ctx)
        if entry is not None:
            yield ctx.path, entry


def field_path(prefix: str, path: tuple[Any, ...]) -> str:
    """A path from the YAML loader, written the way problems name fields: "data[k].entries[3].name"."""
    parts = [prefix]
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool):
            parts.append(f"[{part}]")
        else:
            text = part if isinstance(part, str) else boundedyaml.show_key(part)
            parts.append(f".{boundedyaml.clip(text)}" if parts != [""] else boundedyaml.clip(text))
    return "".join(parts)


def _report_refused(
    ctx: EntryContext, refused: boundedyaml.Refused, key_path: str, name_path: tuple[Any, ...]
) -> None:
    """Reports an entry the YAML loader refused (over budget, duplicate keys, bad aliases...), by its
    name if it has a good one (not itself the flaw)."""
    name = refused.value.get("name") if isinstance(refused.value, dict) else None
    name_flawed = any(f.path == name_path for f in refused.flaws)
    if isinstance(name, str) and len(name) <= MAX_LABEL and DNS_LABEL.match(name) and not name_flawed:
        ctx.label = name
    for flaw in refused.flaws:
        ctx.report.add(ctx.label, field_path(key_path, flaw.path), flaw.message)
