"""The service-account existence cache: a storm of lookups costs one GET per account, answers expire.

The engine refuses to create a slot whose template names an account that does not exist
(docs/trust-model.md); staging thousands of entries must not turn that check into thousands of GETs. A
fake client stands in for the apiserver, so the request count is exact.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from jobsched.kube.client import Response, TransportError
from jobsched.kube.serviceaccounts import Found, ServiceAccountCache


class FakeClient:
    """Answers GET .../serviceaccounts/<name> from a dict of name -> HTTP status (or an exception)."""

    def __init__(self, answers: dict[str, int | Exception]) -> None:
        self.answers = answers
        self.paths: list[str] = []

    async def request_retrying(self, method: str, path: str, *args: Any, **kwargs: Any) -> Response:
        assert method == "GET"
        self.paths.append(path)
        await anyio.sleep(0.01)  # long enough for every concurrent caller to arrive meanwhile
        answer = self.answers[path.rsplit("/", 1)[-1]]
        if isinstance(answer, Exception):
            raise answer
        body = (
            b'{"kind":"Status","message":"serviceaccounts \\"x\\" is forbidden"}' if answer >= 400 else b"{}"
        )
        return Response(answer, body)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def cache(client: FakeClient, clock: Clock) -> ServiceAccountCache:
    return ServiceAccountCache(client, ttl_s=30.0, clock=clock)  # type: ignore[arg-type]


async def test_a_storm_costs_one_get_per_account() -> None:
    client = FakeClient({"etl": 200, "ghost": 404})
    accounts = cache(client, Clock())
    results: list[Found] = []

    async def look(name: str) -> None:
        results.append((await accounts.lookup("batch", name)).found)

    async with anyio.create_task_group() as tg:
        for i in range(200):
            tg.start_soon(look, "etl" if i % 2 else "ghost")
    assert results.count(Found.EXISTS) == 100
    assert results.count(Found.MISSING) == 100
    assert sorted(client.paths) == [
        "/api/v1/namespaces/batch/serviceaccounts/etl",
        "/api/v1/namespaces/batch/serviceaccounts/ghost",
    ]


async def test_answers_expire_after_the_ttl() -> None:
    client = FakeClient({"etl": 404})
    clock = Clock()
    accounts = cache(client, clock)
    assert (await accounts.lookup("batch", "etl")).found is Found.MISSING
    clock.now += 29
    assert (await accounts.lookup("batch", "etl")).found is Found.MISSING
    assert len(client.paths) == 1
    client.answers["etl"] = 200  # created meanwhile
    clock.now += 2
    assert (await accounts.lookup("batch", "etl")).found is Found.EXISTS
    assert len(client.paths) == 2
    clock.now += 31
    accounts.forget_expired()
    assert accounts._answers == {}


async def test_the_same_name_in_another_namespace_is_another_account() -> None:
    client = FakeClient({"etl": 200})
    accounts = cache(client, Clock())
    await accounts.lookup("a", "etl")
    await accounts.lookup("b", "etl")
    assert len(client.paths) == 2


@pytest.mark.parametrize(
    ("answer", "found"),
    [(403, Found.REFUSED), (500, Found.UNKNOWN), (TransportError("down"), Found.UNKNOWN)],
)
async def test_refusals_and_failures(answer: int | Exception, found: Found) -> None:
    client = FakeClient({"etl": answer})
    accounts = cache(client, Clock())
    first = await accounts.lookup("batch", "etl")
    assert first.found is found
    assert first.message
    await accounts.lookup("batch", "etl")
    # A refusal is an answer and is kept; a failure is asked again next time.
    assert len(client.paths) == (1 if found is Found.REFUSED else 2)
