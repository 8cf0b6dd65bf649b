"""The worst cron ConfigMaps a tenant can write within the apiserver's 1 MiB, one per kind of bad input.

Each builder returns a raw ConfigMap (the JSON the engine's informer hands to the parser) whose data
holds at most 1 MiB, as the apiserver allows, shaped to cost the parser as much as that kind of
input can: the most aliases, nodes, keys, digits or problems that fit. `bench.parse_budget` measures
them; docs/bad-input.md tabulates the results.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from jobsched.core.vocabulary import CRON_CONFIGMAP_LABEL

MIB: Final = 1024 * 1024
ROOM: Final = MIB - 1024  # what a builder fills: under the apiserver's limit with room to spare
TEMPLATE: Final = "{spec: {containers: [{name: c, image: busybox}]}}"


def configmap(data: dict[str, str], name: str = "hostile") -> dict[str, Any]:
    total = sum(len(v.encode()) for v in data.values())
    assert total <= MIB, f"{name}: {total} bytes of data, over the apiserver's limit"
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "tenant", "labels": {CRON_CONFIGMAP_LABEL: "true"}},
        "data": data,
    }


def fill(head: str, item: Callable[[int], str], room: int = ROOM) -> str:
    """`head`, then item(0), item(1)... for as long as the text stays within `room` bytes."""
    parts = [head]
    size = len(head.encode())
    index = 0
    while True:
        text = item(index)
        size += len(text.encode())
        if size > room:
            return "".join(parts)
        parts.append(text)
        index += 1


def laughs(levels: int, indent: str = "", prefix: str = "a") -> str:
    """The billion laughs as YAML lines: each level an anchored list of ten aliases of the one before."""
    lines = [f"{indent}{prefix}0: &{prefix}0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"]
    for i in range(1, levels):
        aliases = ", ".join([f"*{prefix}{i - 1}"] * 10)
        lines.append(f"{indent}{prefix}{i}: &{prefix}{i} [{aliases}]\n")
    return "".join(lines)


def ordinary() -> dict[str, Any]:
    """The control: 1 MiB of plain entries, every one valid."""
    entry = (
        "- name: job-{i}\n  schedule: '0 0 * * *'\n  timeZone: Europe/Berlin\n  concurrencyPolicy: Forbid\n"
        "  template:\n    spec:\n      containers:\n      - name: report\n        image: registry.example.com/report:2.4.1\n"
        "        args: [--date, today, --out, /tmp/out]\n        resources: {requests: {cpu: 100m, memory: 64Mi}}\n"
    )
    return configmap({"crons.yaml": fill("entries:\n", lambda i: entry.replace("{i}", str(i)))})


def bomb_scalar_field() -> dict[str, Any]:
    """The issue's kilobyte: 10^9 values aliased into one entry's timeZone."""
    text = (
        laughs(9) + "entries:\n- {name: x, schedule: '@daily', timeZone: *a8, template: " + TEMPLATE + "}\n"
    )
    return configmap({"crons.yaml": text})


def bomb_template() -> dict[str, Any]:
    """10^9 values aliased into one entry's template."""
    text = "entries:\n- name: x\n  schedule: '@daily'\n  template:\n    spec:\n"
    text += "      containers: [{name: c, image: busybox}]\n" + laughs(9, indent="      ")
    return configmap({"crons.yaml": text})


def fanout_scalar_field() -> dict[str, Any]:
    """1 MiB of entries whose timeZone each aliases the same 19,999 values."""
    head = "shared: &s [" + ", ".join(["x"] * 19_999) + "]\nentries:\n"
    return configmap(
        {"crons.yaml": fill(head, lambda i: f"- {{name: e{i}, schedule: '@daily', timeZone: *s}}\n")}
    )


def fanout_template() -> dict[str, Any]:
    """1 MiB of entries sharing one template of 19,900 values through an alias: all valid, each within its
    limit; the most a ConfigMap can make the parser check, freeze and hash."""
    args = ", ".join(["x"] * 19_900)
    head = f"shared: &t {{spec: {{containers: [{{name: c, image: busybox, args: [{args}]}}]}}}}\nentries:\n"
    return configmap(
        {"crons.yaml": fill(head, lambda i: f"- {{name: e{i}, schedule: '@daily', template: *t}}\n")}
    )


def deep_nesting() -> dict[str, Any]:
    """Entries whose templates nest as deep as libyaml allows (about 1,000 levels)."""
    body = "[" * 990 + "]" * 990
    return configmap(
        {
            "crons.yaml": fill(
                "entries:\n", lambda i: f"- {{name: e{i}, schedule: '@daily', template: {{spec: {body}}}}}\n"
            )
        }
    )


def many_entries() -> dict[str, Any]:
    """As many valid entries as 1 MiB holds, sharing a small template through an alias."""
    head = f"shared: &t {TEMPLATE}\nentries:\n"
    return configmap(
        {"crons.yaml": fill(head, lambda i: f"- {{name: e{i}, schedule: '@daily', template: *t}}\n")}
    )


def many_values() -> dict[str, Any]:
    """The most values 1 MiB of YAML holds: a list of one-key mappings, each entry wrong four ways."""
    return configmap({"crons.yaml": fill("entries: [", lambda i: "a: ,") + "]"})


def duplicate_keys() -> dict[str, Any]:
    """One entry whose mapping repeats one key for 1 MiB."""
    return configmap({"crons.yaml": fill("entries:\n- {name: x", lambda i: ", k: 1") + "}\n"})


def duplicate_key_per_entry() -> dict[str, Any]:
    """1 MiB of entries, each with its schedule given twice."""
    head = f"shared: &t {TEMPLATE}\nentries:\n"
    item = "- {{name: e{i}, schedule: '@daily', schedule: '@hourly', template: *t}}\n"
    return configmap({"crons.yaml": fill(head, lambda i: item.format(i=i))})


def huge_integers() -> dict[str, Any]:
    """Entries whose priority has 4,300 digits, the most Python converts (one more is a ValueError)."""
    digits = "7" * 4300
    item = f"- {{name: e{{i}}, schedule: '@daily', priority: {digits}, template: {TEMPLATE}}}\n"
    return configmap({"crons.yaml": fill("entries:\n", lambda i: item.replace("{i}", str(i)))})


def unreadable_integers() -> dict[str, Any]:
    """Entries whose priority has 5,000 digits, more than Python converts: the issue's traceback."""
    item = f"- {{name: e{{i}}, schedule: '@daily', priority: {'7' * 5000}, template: {TEMPLATE}}}\n"
    return configmap({"crons.yaml": fill("entries:\n", lambda i: item.replace("{i}", str(i)))})


def long_strings() -> dict[str, Any]:
    """Strings as long as 1 MiB allows, where messages quote them: name, timeZone and an unknown key."""
    third = (ROOM - 400) // 3
    text = (
        f"entries:\n- name: {'n' * third}\n  schedule: '@daily'\n  template: {TEMPLATE}\n"
        f"- name: b\n  schedule: '@daily'\n  timeZone: {'z' * third}\n  template: {TEMPLATE}\n"
        f"- name: c\n  schedule: '@daily'\n  ? {'k' * third}\n  : 1\n  template: {TEMPLATE}\n"
    )
    return configmap({"crons.yaml": text})


def many_keys_with_bombs() -> dict[str, Any]:
    """As many data keys as 1 MiB holds, each an entry whose template aliases 10,000 values."""
    one = laughs(4, indent="      ")
    text = "- name: x{k}\n  schedule: '@daily'\n  template:\n    spec:\n      containers: [{name: c, image: busybox}]\n"
    data: dict[str, str] = {}
    size = 0
    while size + len(text) + len(one) + 12 <= ROOM:
        data[f"k{len(data)}.yaml"] = text.replace("{k}", str(len(data))) + one
        size += len(data[f"k{len(data) - 1}.yaml"])
    return configmap(data)


def many_problems() -> dict[str, Any]:
    """1 MiB of entries that are each wrong: a problem apiece."""
    head = f"shared: &t {TEMPLATE}\nentries:\n"
    return configmap(
        {"crons.yaml": fill(head, lambda i: f"- {{name: e{i}, schedule: nope, template: *t}}\n")}
    )


def long_name() -> dict[str, Any]:
    """A ConfigMap name of 253 characters: valid for the apiserver, too long for its status ConfigMap."""
    cm = many_entries()
    cm["metadata"]["name"] = "n" * 253
    return cm


# (name, what it is, builder), in the order of the docs table.
CATEGORIES: Final[list[tuple[str, str, Callable[[], dict[str, Any]]]]] = [
    ("ordinary", "1 MiB of ordinary valid entries (control)", ordinary),
    ("bomb-scalar", "alias bomb (10^9 values) in a scalar field, the issue's 1 KB", bomb_scalar_field),
    ("bomb-template", "alias bomb (10^9 values) in a template", bomb_template),
    ("fanout-scalar", "every entry's timeZone aliases 19,999 values", fanout_scalar_field),
    ("fanout-template", "every entry's template aliases 19,900 values (valid)", fanout_template),
    ("deep", "templates nested 990 levels deep", deep_nesting),
    ("many-entries", "as many valid entries as fit (shared template)", many_entries),
    ("many-values", "as many values as fit: [a: , a: , ...]", many_values),
    ("dup-keys", "one entry repeating one key for 1 MiB", duplicate_keys),
    ("dup-key-each", "every entry gives its schedule twice", duplicate_key_per_entry),
    ("huge-ints", "4,300-digit integers in every entry", huge_integers),
    ("int-5000", "5,000-digit integers in every entry", unreadable_integers),
    ("long-strings", "350 KB name, timeZone and field name", long_strings),
    ("many-keys", "thousands of data keys, each a 10,000-value alias bomb", many_keys_with_bombs),
    ("many-problems", "every entry wrong (a problem each)", many_problems),
    ("long-name", "ConfigMap name of 253 characters", long_name),
]
