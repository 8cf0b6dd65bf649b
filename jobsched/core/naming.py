"""Deterministic names, labels and annotations for the object created for one cron slot.

Exactly-once firing rests on the name: a second attempt at the same slot (a retry, a restart, a new
leader) creates an object with the same name and gets AlreadyExists. So the name must be a function of
(namespace, configmap, entry, slot) alone, and two different slots or entries must never share one.

Name format: ``<configmap>-<entry>-<unix minutes>-<hash>``, where the hash is 10 hex digits of SHA-256
over the full identity, and the readable part is cut short when needed to stay a DNS-1123 label of at most
63 characters (Pod names become hostnames). Unlike batch/v1's ``<cronjob>-<unix minutes>``, the hash is
always present: configmap and entry names may both contain dashes, so "a-b" + "c" and "a" + "b-c" would
otherwise collide in one namespace.

An adopted batch/v1 CronJob's Jobs take the native controller's name, ``<cronjob>-<unix minutes>``, so
that jobsched and the native CronJob controller, creating the same slot, collide on AlreadyExists: that
collision is what keeps each slot to one Job between them (docs/cronjob-migration.md).
"""

from __future__ import annotations

import functools
import hashlib
from datetime import UTC, datetime
from typing import Final

from jobsched.core.cronentry import CronEntry
from jobsched.core.vocabulary import (
    CONFIGMAP_LABEL,
    DOMAINS_ANNOTATION,
    ENTRY_LABEL,
    PRIORITY_ANNOTATION,
    SCHEDULED_TIME_ANNOTATION,
)

MAX_NAME: Final = 63  # a Pod name is also its hostname: one DNS label
# A Job's pods are named "<job>-<index>-<5 random>" by the Job controller; 52 is what batch/v1 allows a
# CronJob name for the same reason.
MAX_JOB_NAME: Final = 52
HASH_HEX: Final = 10


def identity_hash(*parts: str, length: int = HASH_HEX) -> str:
    """A short hex digest of `parts`, unambiguous about where one part ends and the next begins."""
    digest = hashlib.sha256("\0".join(parts).encode()).hexdigest()
    return digest[:length]


def _unix_minutes(slot: datetime) -> int:
    if slot.tzinfo is None:
        raise ValueError("a slot must be a timezone-aware datetime")
    seconds = slot.timestamp()
    if seconds % 60:
        raise ValueError(f"a cron slot is minute-aligned, got {slot.isoformat()}")
    return int(seconds) // 60


def slot_object_name(entry: CronEntry, slot: datetime) -> str:
    """The name of the Pod or Job that runs `entry` for `slot`."""
    minutes = _unix_minutes(slot)
    if entry.origin is not None:
        return f"{entry.name}-{minutes}"  # batch/v1's getJobName: the CronJob's name is at most 52 long
    digest = identity_hash(entry.namespace, entry.configmap, entry.name, str(minutes))
    suffix = f"-{minutes}-{digest}"
    limit = (MAX_JOB_NAME if entry.kind == "Job" else MAX_NAME) - len(suffix)
    # ConfigMap names may hold dots; a hostname label may not.
    readable = f"{entry.configmap}-{entry.name}".replace(".", "-")[:limit].rstrip("-")
    return f"{readable}{suffix}"


def rerun_object_name(entry: CronEntry, slot: datetime) -> str:
    """The name of the pod that runs `entry`'s `slot` again after its first pod failed before it started.

    Deterministic, so that a restarted or second instance re-running the same slot gets AlreadyExists,
    and never the slot's own name: its hash also covers the word "rerun", and its readable part ends in
    "-rerun" (cut like the slot name's to keep 63 characters)."""
    minutes = _unix_minutes(slot)
    digest = identity_hash(entry.namespace, entry.configmap, entry.name, str(minutes), "rerun")
    suffix = f"-rerun-{minutes}-{digest}"
    readable = f"{entry.configmap}-{entry.name}".replace(".", "-")[: MAX_NAME - len(suffix)].rstrip("-")
    return f"{readable}{suffix}"


def label_value(text: str) -> str:
    """`text` as a label value: itself when it fits 63 characters, else a prefix plus a hash of it."""
    if len(text) <= MAX_NAME:
        return text
    digest = identity_hash(text)
    prefix = text[: MAX_NAME - len(digest) - 1].rstrip("-_.")
    return f"{prefix}-{digest}"


def entry_label_value(entry: CronEntry) -> str:
    """The ENTRY_LABEL value: "<configmap>.<entry>" (entry names hold no dots, so it is unambiguous), or
    "cronjob_<name>" for an adopted CronJob (no ConfigMap or entry name holds "_", so never the same)."""
    if entry.origin is not None:
        return label_value(f"cronjob_{entry.name}")
    return label_value(f"{entry.configmap}.{entry.name}")


def parse_time(value: object) -> datetime | None:
    """An RFC 3339 timestamp as the API writes it (…Z) as an aware datetime, or None when missing or
    malformed. One without an offset is read as UTC, as the apiserver means its own timestamps."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@functools.lru_cache(maxsize=4096)
def rfc3339(moment: datetime) -> str:
    """`moment` in UTC as RFC 3339 with a Z, to the second (e.g. 2026-01-01T00:00:00Z). Cached: a storm's
    thousands of entries share a handful of instants, and status documents format them all each write."""
    if moment.tzinfo is None:
        raise ValueError("needs a timezone-aware datetime")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def slot_labels_and_annotations(entry: CronEntry, slot: datetime) -> tuple[dict[str, str], dict[str, str]]:
    """The labels and annotations jobsched puts on every object it creates for a slot."""
    labels = {ENTRY_LABEL: entry_label_value(entry)}
    if entry.origin is None:
        labels[CONFIGMAP_LABEL] = label_value(entry.configmap)
    annotations = {SCHEDULED_TIME_ANNOTATION: rfc3339(slot)}
    if entry.domains:
        annotations[DOMAINS_ANNOTATION] = ",".join(entry.domains)
    if entry.priority is not None:
        annotations[PRIORITY_ANNOTATION] = str(entry.priority)
    return labels, annotations
