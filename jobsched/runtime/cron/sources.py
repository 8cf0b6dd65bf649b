"""The entry-source seam: where cron entries come from, and where their status goes back to.

A source turns objects users write (today ConfigMaps holding entries; next, batch/v1 CronJob objects)
into the same `CronEntry` records and `Problem`s, grouped by the object they came from (a
`SourceDocument`). Nothing downstream knows which kind of source an entry came from: the planner, the
stager and the reporter see entries and documents only. The one thing a source still owns is its status,
because each kind keeps it in its own place (a status ConfigMap; a CronJob's status).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import anyio

from jobsched.core.cronentry import CronEntry, Problem
from jobsched.core.cronplan import EntryStatus
from jobsched.kube.events import ObjectRef


@dataclass(frozen=True, slots=True)
class SourceDocument:
    """One source object, parsed: its entries and everything wrong with it."""

    ref: ObjectRef  # the object itself, where Events about its entries go
    resource_version: str  # the version its entries were parsed from (problems are told once per version)
    entries: tuple[CronEntry, ...]
    problems: tuple[Problem, ...]
    problem_reason: str = "InvalidCronEntry"  # the Warning Event reason its problems are told with


class EntrySource(Protocol):
    """A kind of object cron entries are read from."""

    @property
    def synced(self) -> anyio.Event:
        """Set once the source has listed and parsed everything there was when it started."""

    def documents(self) -> Iterable[SourceDocument]:
        """Every source object currently known, parsed."""

    def recorded(self, entry: CronEntry) -> EntryStatus | None:
        """The entry's status as last written (by this or an earlier leader), if any."""

    async def write_status(self, document: SourceDocument, rendered: dict[str, Any]) -> bool:
        """Writes the status of a document's entries (`cronplan.status_document` of them, by entry
        name); False if it could not be written."""

    async def run(self) -> None:
        """Runs until cancelled: keeps the documents current (parsing happens here, off the watches)."""
