"""YAML read within a budget that is decided while it is read, so that no alias can make a value huge.

PyYAML never copies an aliased value: ``*a`` is one more reference to the same object, so loading a
kilobyte of nested aliases is quick. What comes after is not: repr, a check that walks the value,
JSON, hashing and freezing all see a tree with every alias expanded, and nine levels of ten aliases
are a billion nodes. Composing PyYAML's node graph first, to measure it, does not help either: the
composer builds the whole graph before anyone can look at it (7 s and 260 MB for 1 MiB of tiny
mappings). So values are built here straight from the parser's events, and each node is charged to a
budget as it is read: a scalar costs one node and its characters, an alias the whole expanded size of
the value it names (measured when its anchor closed), before it is used. Nothing is ever expanded
that was not paid for first.

The items of chosen lists (a ConfigMap's entries) are read one at a time: an item that overruns its
limits, repeats a mapping key or names a missing anchor becomes a `Refused` holding its `Flaw`s, and
the other items are read as if it were not there. A flaw anywhere else makes the text `Unreadable`.
Otherwise the result is what ``yaml.safe_load`` gives (same resolver, same scalar constructors, merge
keys included), except that duplicate keys, recursive aliases and the !!set/!!omap/!!pairs tags are
flaws rather than values.

Items repeat themselves: a ConfigMap's entries often share one pod template, character for character.
So a field's list or mapping that was read cleanly (no flaw, anchor, alias or explicit tag in it) is
remembered with its text, and where the same text starts again at the same place in a later item its
events are only counted through and its value copied, charged what it cost the first time. Anything
else (other text, an anchor, an alias, a tag, a charge that would overrun) reads those events the usual
way, so the result, flaws and budget included, is the same either way.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from typing import Any, Final

import yaml
from yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    Event,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)

# The C parser when PyYAML was built with libyaml: the same events, several times faster.
YAML_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_PREFIX: Final = "tag:yaml.org,2002:"
_STR: Final = _PREFIX + "str"
_MAP: Final = _PREFIX + "map"
_SEQ: Final = _PREFIX + "seq"
_MERGE: Final = _PREFIX + "merge"
_NULL: Final = _PREFIX + "null"
_INT: Final = _PREFIX + "int"
_VALUE: Final = _PREFIX + "value"
_NOT_JSON: Final = frozenset({_PREFIX + "set", _PREFIX + "omap", _PREFIX + "pairs"})
# Untyped in the stubs: (node class, text, implicit flags) -> tag.
_RESOLVE: Final[Callable[[Any, str, Any], str]] = yaml.resolver.Resolver().resolve
_RESOLVED: Final[dict[tuple[str, Any], str]] = {}  # short plain scalars recur: keys, small values


def _resolve(text: str, implicit: Any) -> str:
    """The tag of an untagged scalar, as PyYAML's resolver gives it."""
    if len(text) > 32:
        return _RESOLVE(yaml.ScalarNode, text, implicit)
    key = (text, implicit)
    tag = _RESOLVED.get(key)
    if tag is None:
        if len(_RESOLVED) > 4096:
            _RESOLVED.clear()
        tag = _RESOLVED[key] = _RESOLVE(yaml.ScalarNode, text, implicit)
    return tag


_CONSTRUCTOR: Final = yaml.constructor.SafeConstructor()
_CLIP: Final = 60  # characters of a key or an anchor name quoted in a message
_MAX_INT_CHARS: Final = 4300  # Python's default limit on converting decimal text to int
MAX_FLAWS_PER_ITEM: Final = 10  # an item with more is refused all the same; the rest are counted
MIN_REPEAT_CHARS: Final = 64  # a shorter field value is read anew each time: remembering costs more


@dataclass(frozen=True, slots=True)
class Limits:
    """What one item (or, outside items, the whole text) may hold, aliases expanded."""

    nodes: int  # scalars, lists, mappings and keys
    chars: int  # characters of all scalars
    depth: int  # levels below an item's own fields (a field's value is level 0)
    floor: int = 0  # what an accepted item costs the budget at least, however small


@dataclass(slots=True)
class Budget:
    """What a group of texts (a ConfigMap's keys) may still hold in all; spent as items are accepted."""

    nodes: int
    chars: int
    scope: str = "text"  # what it is the budget of, for messages


@dataclass(frozen=True, slots=True)
class Flaw:
    path: tuple[Any, ...]  # keys and list indices from the document's root
    message: str


@dataclass(frozen=True, slots=True)
class Refused:
    """Stands for a list item that was not accepted."""

    flaws: tuple[Flaw, ...]
    value: Any  # the item as read when it could be read to its end (duplicate keys...), else None


class Unreadable(ValueError):
    """The text cannot be used at all: bad syntax, or a flaw outside the lists whose items are isolated."""

    def __init__(self, flaw: Flaw) -> None:
        super().__init__(flaw.message)
        self.flaw = flaw


class _Sentinel:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


_AWAIT: Final = _Sentinel("<key>")  # a mapping is waiting for a key
_MERGE_KEY: Final = _Sentinel("<<")  # the key of a merge (`<<: *defaults`)
_NO_KEY: Final = _Sentinel("<bad key>")  # a key that could not be used: its value is dropped
_OPEN: Final = _Sentinel("<open>")  # an anchor whose collection is still being read
_SKIPPED: Final = _Sentinel("<refused>")  # an anchor inside a refused item


@dataclass(frozen=True, slots=True)
class _Anchor:
    value: Any
    nodes: int
    chars: int
    height: int
    line: int


class _Open:
    """A list or mapping being read."""

    __slots__ = (
        "anchor",
        "c0",
        "height",
        "is_map",
        "items",
        "key",
        "line",
        "lines",
        "merges",
        "n0",
        "path",
        "repeat",
        "value",
    )

    def __init__(
        self, is_map: bool, path: tuple[Any, ...], anchor: str | None, line: int, n0: int, c0: int
    ) -> None:
        self.is_map = is_map
        self.path = path
        self.anchor = anchor
        self.line = line
        self.n0 = n0  # nodes charged before it, so that its own size is known when it closes
        self.c0 = c0
        self.height = 1
        self.items = False  # a list whose items are read one at a time
        self.value: Any = {} if is_map else []
        self.key: Any = _AWAIT  # mappings: the key whose value comes next
        self.lines: dict[Any, int] = {}  # mappings: the line of each key
        self.merges: list[dict[Any, Any]] = []
        self.repeat: _Start | None = None  # an item's field value: where it starts, to remember it

    def child(self) -> Any:
        """The key or index of the node that is read next in it, as a path shows it."""
        if not self.is_map:
            return len(self.value)
        return "<<" if self.key is _MERGE_KEY else "<key>" if self.key is _AWAIT else self.key


@dataclass(frozen=True, slots=True)
class _Start:
    """Where an item's field value starts, and the reader's state there."""

    key: tuple[Any, int]  # the field's key and the value's column
    index: int  # in characters
    marks: int  # anchors, aliases and tags read before it
    flaws: int  # the item's flaws before it


@dataclass(frozen=True, slots=True)
class _Repeat:
    """A field value read cleanly, kept for the items after: its text, value and cost."""

    text: str
    value: Any
    nodes: int
    chars: int
    height: int


class _Forward:
    """Counting through the events of a field value whose text is one remembered."""

    __slots__ = ("depth", "events", "repeat", "start")

    def __init__(self, repeat: _Repeat, start: int, event: Event) -> None:
        self.repeat = repeat
        self.start = start
        self.events = [event]  # read the usual way after all if it is not the same value
        self.depth = 1


class _Item:
    """The list item being read: where it starts, what it spent, what is wrong with it."""

    __slots__ = (
        "anchors",
        "base",
        "c0",
        "flaws",
        "more",
        "n0",
        "overrun",
        "path",
        "refused_aliases",
        "skip",
        "whole",
    )

    def __init__(self, base: int, path: tuple[Any, ...], n0: int, c0: int) -> None:
        self.base = base  # the stack's height while its parent list is on top
        self.path = path
        self.n0 = n0
        self.c0 = c0
        self.flaws: list[Flaw] = []
        self.more = 0  # flaws beyond MAX_FLAWS_PER_ITEM
        self.skip = 0  # collections still open in the part being skipped
        self.whole = False  # skipping the whole item, not just one of its fields
        self.overrun = False  # a field was over the limits: later ones are dropped without a word
        self.refused_aliases: set[str] = set()  # aliases of refused values, reported once each
        self.anchors: list[str] = []  # defined in it: unusable if it is refused


def load(text: str, limits: Limits, budget: Budget, item_lists: Collection[tuple[Any, ...]] = ()) -> Any:
    """The value of the single YAML document in `text` (None when there is none).

    The items of lists at `item_lists` (paths from the root; `()` is the root itself) are read one
    at a time against `limits`, and accepted while `budget` lasts; everything else is charged to
    `budget` as it is read. Raises Unreadable.
    """
    documents = list(_Reader(limits, budget, item_lists, documents_are_items=False).read(text))
    return documents[0] if documents else None


def load_all(text: str, limits: Limits, budget: Budget) -> Iterator[Any]:
    """Every document of `text`, as soon as it is read, each read as an item: a document over `limits`
    or `budget` (or with a duplicate key...) comes as a Refused.

    Raises Unreadable at bad syntax, after the documents before it: a parser cannot resume.
    """
    return _Reader(limits, budget, (), documents_are_items=True).read(text)


def clip(text: str, limit: int = _CLIP) -> str:
    """`text` cut to about `limit` characters for a message, saying how long it was."""
    return text if len(text) <= limit else f"{text[:limit]}…({len(text):,} characters)"


def show_key(key: Any) -> str:
    """A mapping key (any YAML scalar) as a message quotes it, never long."""
    if isinstance(key, str):
        return repr(clip(key))
    if isinstance(key, bytes):
        return f"<{len(key):,} bytes>"
    return clip(repr(key))


class _Reader:
    def __init__(
        self,
        limits: Limits,
        budget: Budget,
        item_lists: Collection[tuple[Any, ...]],
        documents_are_items: bool,
    ) -> None:
        self.limits = limits
        self.budget = budget
        self.item_lists = frozenset(item_lists)
        self.stream = _Open(False, (), None, 0, 0, 0)  # holds the documents
        self.stream.items = documents_are_items
        self.stack: list[_Open] = [self.stream]
        self.anchors: dict[str, Any] = {}
        self.item: _Item | None = None
        self.nodes = 0  # charged so far, aliases expanded
        self.chars = 0
        self.text = ""
        self.ascii = False  # only then is a mark's index surely one into the text (a BOM is not ASCII)
        self.marks = 0  # anchors, aliases and explicit tags read so far
        self.repeats: dict[tuple[Any, int], _Repeat] = {}
        self.forward: _Forward | None = None
        self.handlers: dict[type[Event], Callable[[Any], None]] = {
            ScalarEvent: self._scalar,
            MappingStartEvent: self._start,
            SequenceStartEvent: self._start,
            MappingEndEvent: self._end,
            SequenceEndEvent: self._end,
            AliasEvent: self._alias,
            DocumentStartEvent: self._document,
        }

    def read(self, text: str) -> Iterator[Any]:
        """The documents of `text`, each as soon as it is complete.

        What a document that turns out unreadable had charged to the budget is given back: nothing
        of it is used.
        """
        documents = self.stream.value
        given = 0
        budget = self.budget
        kept = (budget.nodes, budget.chars)
        parser: yaml.SafeLoader | None = None
        self.text, self.ascii = text, text.isascii()
        try:
            # The parser's own loop rather than yaml.parse's generator around it: a frame less per event.
            parser = YAML_LOADER(text)  # raises at once on a lone surrogate
            more: Callable[[], bool] = parser.check_event
            get_event: Callable[[], Event] = parser.get_event
            while more():
                event = get_event()
                if len(documents) > given:
                    given += 1
                    kept = (budget.nodes, budget.chars)
                    yield documents[given - 1]
                forward = self.forward
                if forward is not None:
                    self._forward(event, forward)
                else:
                    self._feed(event)
        except Unreadable:
            budget.nodes, budget.chars = kept
            raise
        except yaml.YAMLError as exc:
            budget.nodes, budget.chars = kept
            raise Unreadable(Flaw((), f"invalid YAML: {clip(' '.join(str(exc).split()), 300)}")) from None
        except UnicodeError as exc:  # a lone surrogate in the text
            budget.nodes, budget.chars = kept
            raise Unreadable(Flaw((), f"invalid YAML: {clip(str(exc), 200)}")) from None
        finally:
            if parser is not None:
                parser.dispose()  # now, also when a flaw ended the reading
        yield from documents[given:]

    # --- events -----------------------------------------------------------------------------------

    def _document(self, event: Event) -> None:
        if self.stream.value and not self.stream.items:
            self._flaw((), f"invalid YAML: expected a single document, found another at line {_line(event)}")
        self.anchors = {}  # an alias never reaches into another document
        self.repeats = {}  # nor a copy: a document given out may be changed by its reader

    def _feed(self, event: Event) -> None:
        item = self.item
        if item is not None and item.skip:
            self._skipping(event, item)
            return
        handler = self.handlers.get(type(event))
        if handler is not None:
            handler(event)

    def _skipping(self, event: Event, item: _Item) -> None:
        """Reads on through a refused item, building nothing."""
        kind = type(event)
        if kind is ScalarEvent or kind is MappingStartEvent or kind is SequenceStartEvent:
            anchor = event.anchor  # type: ignore[attr-defined]
            if anchor is not None:
                self.anchors[anchor] = _SKIPPED
            if kind is not ScalarEvent:
                item.skip += 1
        elif kind is MappingEndEvent or kind is SequenceEndEvent:
            item.skip -= 1
            if item.skip == 0:
                self._skipped(item)

    def _scalar(self, event: ScalarEvent) -> None:
        parent = self.stack[-1]
        if parent.items and self.item is None:
            self._begin_item(parent)
        text = event.value
        tag = event.tag
        if tag is None or tag == "!":
            tag = _resolve(text, event.implicit)
        else:
            self.marks += 1
        value: Any
        if tag == _STR:
            value = text
        elif tag == _NULL:
            value = None
        elif (
            tag == _INT
            and len(text) < 19
            and text.isascii()
            and text.isdigit()
            and (len(text) == 1 or text[0] != "0")
        ):
            value = int(text)  # plain decimal: what construct_yaml_int would do, quicker
        elif parent.key is _AWAIT and parent.is_map and tag in (_MERGE, _VALUE):
            value = _MERGE_KEY if tag == _MERGE else text  # PyYAML reads a "=" key as a string
        else:
            value = self._construct(tag, event)
        if not self._charge(1, len(text), 1):
            self._forget(event.anchor)
            return
        if event.anchor is not None:
            line = _line(event)
            self._name(event.anchor, _Anchor(value, 1, len(text), 1, line), line)
        self._attach(value, 1, event)

    def _construct(self, tag: str, event: ScalarEvent) -> Any:
        line = _line(event)
        build = None if tag in _NOT_JSON else YAML_LOADER.yaml_constructors.get(tag)
        if build is None:
            self._flaw(self._here(), _bad_tag(tag, line))
            return None
        node = yaml.ScalarNode(tag, event.value, None, None, event.style)
        try:
            return build(_CONSTRUCTOR, node)
        except (yaml.YAMLError, ValueError, OverflowError) as exc:
            if tag == _INT and len(event.value) > _MAX_INT_CHARS:
                why = f"a number of {len(event.value):,} digits, too long to read"
            else:
                why = clip(" ".join(str(exc).split("\n")[0].split()), 200)
            self._flaw(self._here(), f"invalid YAML: {why} (line {line})")
            return None

    def _start(self, event: MappingStartEvent | SequenceStartEvent, repeats: bool = True) -> None:
        is_map = type(event) is MappingStartEvent
        parent = self.stack[-1]
        self._begin_item_if_due(parent)
        start = self._field_value_start(parent, event) if repeats else None
        if start is not None:
            seen = self.repeats.get(start.key)
            if seen is not None and self.text.startswith(seen.text, start.index):
                self.forward = _Forward(seen, start.index, event)
                return
        line = _line(event)
        if event.tag is not None:
            self.marks += 1
            if event.tag not in ("!", _MAP if is_map else _SEQ):
                self._flaw(self._here(), _bad_tag(event.tag, line))
        path = self._here()
        if not self._charge(1, 0, 1, opening=True):
            self._forget(event.anchor)
            return
        node = _Open(is_map, path, event.anchor, line, self.nodes - 1, self.chars)
        node.repeat = start
        node.items = not is_map and self.item is None and path in self.item_lists
        if event.anchor is not None:
            self._name(event.anchor, _OPEN, line)
        self.stack.append(node)

    def _end(self, event: Event) -> None:
        node = self.stack.pop()
        value = node.value
        if node.merges:
            merged: dict[Any, Any] = {}
            for source in node.merges:  # an earlier source wins over a later one (YAML's merge spec)
                for key, item in source.items():
                    merged.setdefault(key, item)
            merged.update(value)  # and the mapping's own keys over all
            value = merged
        if node.anchor is not None:
            self.anchors[node.anchor] = _Anchor(
                value, self.nodes - node.n0, self.chars - node.c0, node.height, node.line
            )
        start = node.repeat
        if start is not None and start.marks == self.marks and start.flaws == self._flaws():
            end = event.end_mark.index if event.end_mark is not None else -1
            if end - start.index >= MIN_REPEAT_CHARS:
                # The first item keeps this very value: copies are made while the text is still being
                # read, before any reader of the document can change it.
                self.repeats[start.key] = _Repeat(
                    self.text[start.index : end],
                    value,
                    self.nodes - node.n0,
                    self.chars - node.c0,
                    node.height,
                )
        self._attach(value, node.height, node.line)

    def _alias(self, event: AliasEvent) -> None:
        self.marks += 1
        self._begin_item_if_due(self.stack[-1])
        anchor = event.anchor or ""
        line = _line(event)
        target = self.anchors.get(anchor)
        if isinstance(target, _Anchor):
            if self._charge(target.nodes, target.chars, target.height):
                self._attach(target.value, target.height, line)
            return
        name = clip(anchor)
        item = self.item
        if target is None:
            self._flaw(
                self._here(), f"invalid YAML: alias *{name} (line {line}) has no anchor &{name} before it"
            )
        elif target is _OPEN:
            self._flaw(
                self._here(),
                f"alias *{name} (line {line}) is inside its own anchor: the value would be endless",
            )
        elif (
            item is None or anchor not in item.refused_aliases
        ):  # a refused value is often aliased many times
            if item is not None:
                item.refused_aliases.add(anchor)
            self._flaw(self._here(), f"alias *{name} (line {line}) names a value that was refused")
        if self._charge(1, 0, 1):
            self._attach(None, 1, line)

    # --- repeated field values -------------------------------------------------------------------

    def _field_value_start(
        self, parent: _Open, event: MappingStartEvent | SequenceStartEvent
    ) -> _Start | None:
        """Where a list or mapping that is the value of an item's field starts; None elsewhere (and for
        one with an anchor or tag, which is never remembered)."""
        item = self.item
        if (
            item is None
            or len(self.stack) != item.base + 1
            or not parent.is_map
            or not self.ascii
            or event.anchor is not None
            or event.tag is not None
            or event.start_mark is None
        ):
            return None
        key = parent.key
        if key is _AWAIT or key is _MERGE_KEY or key is _NO_KEY:
            return None
        mark = event.start_mark
        return _Start((key, mark.column), mark.index, self.marks, self._flaws())

    def _flaws(self) -> int:
        item = self.item
        return len(item.flaws) + item.more if item is not None else 0

    def _forward(self, event: Event, forward: _Forward) -> None:
        """Counts through a value whose text is remembered; anything that could read differently
        (an anchor, an alias, a tag) sends the events read so far the usual way."""
        forward.events.append(event)
        kind = type(event)
        if kind is ScalarEvent:
            if event.anchor is None and event.tag in (None, "!"):  # type: ignore[attr-defined]
                return
        elif kind is MappingStartEvent or kind is SequenceStartEvent:
            if event.anchor is None and event.tag is None:  # type: ignore[attr-defined]
                forward.depth += 1
                return
        elif kind is MappingEndEvent or kind is SequenceEndEvent:
            forward.depth -= 1
            if forward.depth:
                return
            self.forward = None
            seen = forward.repeat
            end = event.end_mark.index if event.end_mark is not None else -1
            if end == forward.start + len(seen.text) and self._fits(seen):
                self.nodes += seen.nodes
                self.chars += seen.chars
                self._attach(_copy(seen.value), seen.height, _line(forward.events[0]))
                return
        self._replay(forward)

    def _fits(self, seen: _Repeat) -> bool:
        """Whether charging the value node by node would have accepted every node: the checks of
        `_charge` against the totals, which only grow, and the value's deepest level."""
        item = self.item
        assert item is not None
        limits, budget = self.limits, self.budget
        used_nodes = self.nodes + seen.nodes - item.n0
        used_chars = self.chars + seen.chars - item.c0
        return (
            len(self.stack) - item.base + seen.height - 2 <= limits.depth
            and used_nodes <= limits.nodes
            and used_chars <= limits.chars
            and used_nodes <= budget.nodes
            and used_chars <= budget.chars
        )

    def _replay(self, forward: _Forward) -> None:
        """Reads the events counted through so far the usual way; the rest follow as they come."""
        self.forward = None
        first, *rest = forward.events
        self._start(first, repeats=False)  # type: ignore[arg-type]
        for event in rest:
            self._feed(event)

    # --- structure --------------------------------------------------------------------------------

    def _here(self) -> tuple[Any, ...]:
        """The path of the node being read."""
        parent = self.stack[-1]
        return () if parent is self.stream else (*parent.path, parent.child())

    def _attach(self, value: Any, height: int, where: Event | int) -> None:
        """Adds a finished value to its parent; `where` (an event or a line) says where a key was."""
        parent = self.stack[-1]
        if parent.height <= height:
            parent.height = height + 1
        item = self.item
        if item is not None and len(self.stack) == item.base:
            self._finish_item(value)
        elif not parent.is_map:
            parent.value.append(value)
        elif parent.key is _AWAIT:
            parent.key = self._key(parent, value, where if isinstance(where, int) else _line(where))
        else:
            key, parent.key = parent.key, _AWAIT
            if key is _MERGE_KEY:
                self._merge(parent, value, where if isinstance(where, int) else _line(where))
            elif key is not _NO_KEY:
                parent.value[key] = value

    def _key(self, parent: _Open, key: Any, line: int) -> Any:
        try:
            first = parent.lines.get(key)
        except TypeError:
            self._flaw(parent.path, f"invalid YAML: the key at line {line} is a list or mapping, not a value")
            return _NO_KEY
        if first is None:
            parent.lines[key] = line
        elif first:  # 0 once reported: a key repeated many times is one problem
            self._flaw(
                (*parent.path, "<<" if key is _MERGE_KEY else key),
                f"duplicate key {show_key(key)} (lines {first} and {line}): YAML keeps only the last; "
                "remove one",
            )
            parent.lines[key] = 0
        return key

    def _merge(self, parent: _Open, value: Any, line: int) -> None:
        sources = value if isinstance(value, list) else [value]
        if all(isinstance(source, dict) for source in sources):
            parent.merges.extend(sources)
        else:
            self._flaw((*parent.path, "<<"), f"invalid YAML: << (line {line}) must merge mappings")

    # --- items and the budget ---------------------------------------------------------------------

    def _begin_item_if_due(self, parent: _Open) -> None:
        if parent.items and self.item is None:
            self._begin_item(parent)

    def _begin_item(self, parent: _Open) -> None:
        path = () if parent is self.stream else (*parent.path, len(parent.value))
        self.item = _Item(len(self.stack), path, self.nodes, self.chars)

    def _charge(self, nodes: int, chars: int, height: int, opening: bool = False) -> bool:
        """Counts a node about to be added; False when that refused the item being read."""
        self.nodes += nodes
        self.chars += chars
        item = self.item
        budget = self.budget
        if item is None:
            budget.nodes -= nodes
            budget.chars -= chars
            if budget.nodes < 0 or budget.chars < 0:
                self._flaw(
                    self._here(),
                    f"too large once YAML aliases are expanded: over the {budget.scope}'s budget",
                )
            return True
        limits = self.limits
        used_nodes = self.nodes - item.n0
        used_chars = self.chars - item.c0
        # Level 0 is the item, 1 its fields' values; depth counts from there.
        if len(self.stack) - item.base + height - 2 > limits.depth:
            why = f"nested too deeply: more than {limits.depth} levels"
        elif used_nodes > limits.nodes or used_chars > limits.chars:
            why = (
                f"too large: more than {limits.nodes:,} values or {limits.chars:,} characters "
                "once YAML aliases are expanded"
            )
        elif used_nodes > budget.nodes or used_chars > budget.chars:
            why = (
                f"does not fit in what is left of the {budget.scope}'s budget "
                f"({max(budget.nodes, 0):,} values, {max(budget.chars, 0):,} characters, aliases expanded)"
            )
        else:
            return True
        self._refuse(item, why, opening, nodes, chars)
        return False

    def _refuse(self, item: _Item, why: str, opening: bool, nodes: int, chars: int) -> None:
        """Refuses the item being read, naming the field where it overran, and skips that field.

        The rest of the item is still read (within limits again), so that its name and its other
        problems can be reported; a field skipped reads as None. An overrun in the item itself (an
        alias standing for the whole item) skips the whole item.
        """
        level = len(self.stack) - item.base  # of the node being charged
        if level == 0:
            self._add_flaw(item, Flaw(item.path, why))
            item.whole = True
            item.skip = 1 if opening else 0
            if not opening:
                self._finish_item(None)
            return
        root = self.stack[item.base]
        if not item.overrun:
            item.overrun = True
            on_key = root.is_map and root.key is _AWAIT
            self._add_flaw(item, Flaw(item.path if on_key else (*root.path, root.child()), why))
        # Uncount the field, as if it were None: what is left of the item gets its own chance.
        if level == 1:
            self.nodes -= nodes
            self.chars -= chars
        else:
            first = self.stack[item.base + 1]
            self.nodes, self.chars = first.n0, first.c0
        inside = self.stack[item.base + 1 :]
        for node in inside:
            self._forget(node.anchor)
        del self.stack[item.base + 1 :]
        item.skip = len(inside) + (1 if opening else 0)
        if not item.skip:
            self._drop_field()

    def _skipped(self, item: _Item) -> None:
        """The part of an item being skipped has ended."""
        if item.whole:
            self._finish_item(None)
        else:
            self._drop_field()

    def _drop_field(self) -> None:
        """Stands in for a skipped field: None as its value; a skipped key drops its value too."""
        root = self.stack[-1]
        if root.is_map and root.key is _AWAIT:
            root.key = _NO_KEY
        else:
            self._attach(None, 1, 0)

    def _finish_item(self, value: Any) -> None:
        item = self.item
        assert item is not None
        self.item = None
        parent = self.stack[-1]
        if item.flaws:
            for anchor in item.anchors:
                self.anchors[anchor] = _SKIPPED
            if item.more:
                item.flaws.append(Flaw(item.path, f"and {item.more:,} more problems in this item"))
            parent.value.append(Refused(tuple(item.flaws), None if item.whole else value))
            return
        self.budget.nodes -= max(self.nodes - item.n0, self.limits.floor)
        self.budget.chars -= self.chars - item.c0
        parent.value.append(value)

    def _flaw(self, path: tuple[Any, ...], message: str) -> None:
        if self.item is None:
            raise Unreadable(Flaw(path, message))
        self._add_flaw(self.item, Flaw(path, message))

    def _name(self, anchor: str, value: Any, line: int) -> None:
        self.marks += 1
        before = self.anchors.get(anchor)
        if before is not None:
            where = f"lines {before.line} and {line}" if isinstance(before, _Anchor) else f"line {line}"
            self._flaw(self._here(), f"invalid YAML: anchor &{clip(anchor)} is defined twice ({where})")
        self.anchors[anchor] = value
        if self.item is not None:
            self.item.anchors.append(anchor)

    def _forget(self, anchor: str | None) -> None:
        if anchor is not None:
            self.anchors[anchor] = _SKIPPED

    @staticmethod
    def _add_flaw(item: _Item, flaw: Flaw) -> None:
        if len(item.flaws) < MAX_FLAWS_PER_ITEM:
            item.flaws.append(flaw)
        else:
            item.more += 1


def _copy(value: Any) -> Any:
    """A remembered value for another item: its lists and mappings new, its scalars (immutable)
    shared."""
    if type(value) is dict:
        return {key: _copy(item) for key, item in value.items()}
    if type(value) is list:
        return [_copy(item) for item in value]
    return value


def _bad_tag(tag: str, line: int) -> str:
    if tag in _NOT_JSON:
        return f"a YAML {tag[len(_PREFIX) :]} (line {line}) is not JSON data; write a list or a mapping"
    return f"invalid YAML: unknown tag {clip(tag)} (line {line})"


def _line(event: Event) -> int:
    mark = event.start_mark
    return mark.line + 1 if mark is not None else 0
