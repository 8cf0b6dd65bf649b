"""Every limit a cron ConfigMap is held to, with the reason for each, and how messages quote values.

jobsched parses the ConfigMaps that tenants write, on every replica. Each limit here either mirrors
what the apiserver or batch/v1 enforces, so that `jobsched validate` refuses what a cluster would and
nothing downstream meets a value it cannot hold, or bounds the time and memory that one ConfigMap can
cost, whatever it holds. docs/bad-input.md shows what each kind of bad input gets and what it costs.
"""

from __future__ import annotations

import base64
import binascii
import re
import reprlib
from collections.abc import Mapping
from typing import Any, Final

from jobsched.core.boundedyaml import Budget, Limits
from jobsched.core.vocabulary import STATUS_SUFFIX

# --- what the apiserver enforces --------------------------------------------------------------------

# ValidateConfigMap refuses more than 1 MiB in the values of data and binaryData together (decoded
# bytes; keys are not counted).
MAX_CONFIGMAP_BYTES: Final = 1024 * 1024
MAX_OBJECT_NAME: Final = 253  # a DNS-1123 subdomain: ConfigMap names
MAX_LABEL: Final = 63  # a DNS-1123 label: namespaces, entry names, pod names
# The status ConfigMap "<name>-jobsched-status" must be a valid name too, or status (and with it
# failover recovery) could never be written for the source.
MAX_CONFIGMAP_NAME: Final = MAX_OBJECT_NAME - len(STATUS_SUFFIX)
# \Z, not $: $ also matches before a trailing newline, and "name\n" is no name.
DNS_LABEL: Final = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
DNS_SUBDOMAIN: Final = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
CONFIGMAP_KEY: Final = re.compile(r"^[-._a-zA-Z0-9]+\Z")  # IsConfigMapKey, with at most 253 characters

# batch/v1 and core/v1 integer fields: int32 unless noted.
INT32_MAX: Final = 2**31 - 1
INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1  # also what JSON numbers may hold on their way to the apiserver (orjson)
# startingDeadlineSeconds is an int64 in batch/v1, but jobsched adds it to slot times, and a Python
# datetime ends at year 9999: 68 years keeps `slot + deadline` valid for any slot before year 9931.
MAX_DEADLINE_SECONDS: Final = INT32_MAX
PRIORITY_RANGE: Final = (-(2**31), 10**9)  # what a PriorityClass value may be

# --- what bounds the work -------------------------------------------------------------------------

# Values (scalars, lists, mappings, keys) in one ConfigMap's entries, YAML aliases expanded. 1 MiB of
# YAML written out holds at most about one value per 2 bytes (`[a,a,a,...]`), ordinary entries one
# per 15 or more; so aliases may share a template among thousands of entries, but cannot make a
# ConfigMap cost more than the densest one written out.
MAX_CONFIGMAP_VALUES: Final = 512 * 1024
# Scalar characters in one ConfigMap's entries, aliases expanded: 8 times what the apiserver stores,
# room for a long script that many entries share through an alias.
MAX_CONFIGMAP_CHARS: Final = 8 * MAX_CONFIGMAP_BYTES
# A pod template: a real one holds a few hundred values, 12 levels deep.
MAX_TEMPLATE_NODES: Final = 20_000
MAX_TEMPLATE_DEPTH: Final = 100
# One entry: its template plus its own fields; and no more text than a ConfigMap may hold. An entry
# costs the ConfigMap's budget at least 20 values (its record, frozen template and bookkeeping weigh
# about that), so a ConfigMap holds at most 26,214 entries: 1 MiB of the smallest valid entries that
# share a template is about 21,000.
ENTRY_LIMITS: Final = Limits(
    nodes=MAX_TEMPLATE_NODES + 1_000, chars=MAX_CONFIGMAP_BYTES, depth=MAX_TEMPLATE_DEPTH, floor=20
)
# Every minute, hour and day listed one by one is about 360 characters.
MAX_SCHEDULE_CHARS: Final = 1024
# A domain chain names configured domains; 32 keeps the domains annotation under 2 KiB.
MAX_DOMAINS: Final = 32
# Problems kept per ConfigMap: each becomes an Event and a log line; the rest are counted in one.
MAX_PROBLEMS: Final = 1000


def configmap_budget() -> Budget:
    """What all the cron keys of one ConfigMap may hold together."""
    return Budget(MAX_CONFIGMAP_VALUES, MAX_CONFIGMAP_CHARS, "ConfigMap")


def data_bytes(data: Mapping[Any, Any], binary: Any) -> int:
    """The bytes the apiserver counts against MAX_CONFIGMAP_BYTES: data values as UTF-8, binaryData decoded."""
    total = 0
    for value in data.values():
        if isinstance(value, str):
            total += len(value.encode("utf-8", "surrogatepass"))
    if isinstance(binary, Mapping):
        for value in binary.values():
            if isinstance(value, bytes):
                total += len(value)
            elif isinstance(value, str):
                try:
                    total += len(base64.b64decode(value, validate=False))
                except (binascii.Error, ValueError):
                    total += len(value)  # not base64: the apiserver refuses it anyway
    return total


def configmap_key_error(key: Any) -> str | None:
    """Why the apiserver would refuse `key` as a data key, or None."""
    if not isinstance(key, str) or not key:
        return "must be a non-empty string"
    if (
        len(key) > MAX_OBJECT_NAME
        or not CONFIGMAP_KEY.match(key)
        or key in (".", "..")
        or key.startswith("..")
    ):
        return "is not a ConfigMap key: at most 253 of a-z A-Z 0-9 - _ . and not starting with '..'"
    return None


# --- quoting values in messages ---------------------------------------------------------------------


class _Quoted(reprlib.Repr):
    """repr, cut short at every level: a message never holds more than a few dozen characters of a value."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = 2
        self.maxlist = self.maxtuple = self.maxdict = self.maxset = self.maxfrozenset = 4
        self.maxstring = 60
        self.maxlong = 40
        self.maxother = 60

    def repr_bytes(self, value: bytes, level: int) -> str:
        return f"<{len(value):,} bytes>"

    def repr_str(self, value: str, level: int) -> str:
        shown = repr(value[: self.maxstring])
        return shown if len(value) <= self.maxstring else f"{shown}…({len(value):,} characters)"

    def repr_mappingproxy(self, value: Mapping[Any, Any], level: int) -> str:
        return self.repr_dict(dict(value), level)

    def repr_int(self, value: int, level: int) -> str:
        digits = round(value.bit_length() * 0.30103)  # log10(2): no need to print 4,300 digits to count them
        return repr(value) if digits < self.maxlong else f"<a number of about {digits:,} digits>"


_QUOTED: Final = _Quoted()


def show(value: Any) -> str:
    """`value` as a message quotes it: repr, cut short at every level."""
    return _QUOTED.repr(value)


def show_all(values: list[Any], most: int = 5) -> str:
    """The first `most` values, quoted, and "..." if there are more."""
    return ", ".join(show(v) for v in values[:most]) + (", ..." if len(values) > most else "")
