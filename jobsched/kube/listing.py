"""Paged lists for the command line (`status`, `release`): every object of a collection, a page at a time.

The apiserver serves a large list in pages (`limit`, `continue`), so a command that walks every pod of a
big cluster never asks it for one huge reply. When a continue token expires mid-list (410 Gone),
`list_all` lists again from the start, since a command wants a complete view, not half of one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from jobsched.kube.client import ApiError, KubeClient

PAGE_SIZE = 500
MAX_RESTARTS = 3


async def pages(
    client: KubeClient, path: str, params: Mapping[str, str] | None = None, page_size: int = PAGE_SIZE
) -> AsyncIterator[list[dict[str, Any]]]:
    """Yields the items of `path` page by page. Raises ApiError (410 when a continue token expired) or
    TransportError."""
    base = {**(params or {}), "limit": str(page_size)}
    query = base
    while True:
        reply = await client.get_json(path, query)
        yield list(reply.get("items") or [])
        token = (reply.get("metadata") or {}).get("continue")
        if not token:
            return
        query = {**base, "continue": token}


async def list_all(
    client: KubeClient, path: str, params: Mapping[str, str] | None = None, page_size: int = PAGE_SIZE
) -> list[dict[str, Any]]:
    """Every item of `path`, read in pages (again from the start if a continue token expires)."""
    for attempt in range(MAX_RESTARTS + 1):
        items: list[dict[str, Any]] = []
        try:
            async for page in pages(client, path, params, page_size):
                items.extend(page)
        except ApiError as err:
            if err.status != 410 or attempt == MAX_RESTARTS:
                raise
            continue
        return items
    raise AssertionError("unreachable")
