"""The HTTP/1.1 keep-alive pool against a loopback server that misbehaves on purpose: reuse, the limit,
a server closing idle connections, a server that never answers, and Connection: close.

(The same pool talks to the real apiserver, over TLS with client certificates, in every other
integration test; this file covers what a healthy apiserver never does on cue.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvloop

from jobsched.kube.http1 import KEEP_MAX_BODY_BYTES, Http1Pool

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
CLOSE = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"
HEAD = b"GET /version HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def on_both_loops(test: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[str], None]:
    """Runs a test on asyncio's loop and on uvloop: jobsched runs on uvloop, whose transports differ."""

    @pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
    def run(loop: str) -> None:
        (uvloop.run if loop == "uvloop" else asyncio.run)(test())

    run.__name__, run.__doc__ = test.__name__, test.__doc__
    return run


@dataclass
class Server:
    port: int = 0
    accepted: int = 0
    open: int = 0
    peak_open: int = 0
    answer: Callable[[int], bytes | None] = lambda n: OK  # request number → reply, None: stay silent
    delay: float = 0.0
    close_after_each: bool = False
    writers: list[asyncio.StreamWriter] = field(default_factory=list)
    requests: int = 0


@asynccontextmanager
async def loopback() -> AsyncIterator[Server]:
    state = Server()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state.accepted += 1
        state.open += 1
        state.peak_open = max(state.peak_open, state.open)
        state.writers.append(writer)
        try:
            while True:
                try:
                    await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                state.requests += 1
                reply = state.answer(state.requests)
                if reply is None:
                    continue
                await asyncio.sleep(state.delay)
                writer.write(reply)
                await writer.drain()
                if state.close_after_each:
                    return
        finally:
            state.open -= 1
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        for writer in state.writers:
            writer.close()
        server.close()
        await server.wait_closed()


@asynccontextmanager
async def pool_for(server: Server, limit: int) -> AsyncIterator[Http1Pool]:
    pool = Http1Pool("127.0.0.1", server.port, None, limit, server_hostname="127.0.0.1")
    try:
        yield pool
    finally:
        pool.close()


async def until_closed(pool: Http1Pool) -> None:
    """Waits (at most a second) for the pool to forget its connections: the loop sees a close as soon as it runs."""
    for _ in range(100):
        if pool.connections == 0:
            return
        await asyncio.sleep(0.01)


@on_both_loops
async def test_sequential_requests_share_one_connection() -> None:
    async with loopback() as server, pool_for(server, limit=4) as pool:
        for _ in range(5):
            response = await pool.request(HEAD, None, timeout=5)
            assert (response.status, response.body) == (200, b"ok")
        assert server.accepted == 1
        assert pool.connections == 1


@on_both_loops
async def test_concurrent_requests_never_open_more_than_the_limit_and_all_get_answers() -> None:
    async with loopback() as server, pool_for(server, limit=2) as pool:
        server.delay = 0.02
        responses = await asyncio.gather(*(pool.request(HEAD, None, timeout=5) for _ in range(10)))
        assert [r.status for r in responses] == [200] * 10
        assert server.accepted == 2
        assert server.peak_open <= 2


@on_both_loops
async def test_a_connection_the_server_closed_while_idle_is_replaced() -> None:
    async with loopback() as server, pool_for(server, limit=2) as pool:
        await pool.request(HEAD, None, timeout=5)
        for writer in server.writers:
            writer.close()
        await until_closed(pool)
        assert pool.connections == 0
        response = await pool.request(HEAD, None, timeout=5)
        assert response.status == 200
        assert server.accepted == 2


@on_both_loops
async def test_connection_close_is_honoured_and_the_next_request_reconnects() -> None:
    async with loopback() as server, pool_for(server, limit=2) as pool:
        server.answer = lambda n: CLOSE
        server.close_after_each = True
        for _ in range(3):
            assert (await pool.request(HEAD, None, timeout=5)).status == 200
        assert server.accepted == 3


@on_both_loops
async def test_a_connection_that_carried_a_large_reply_is_closed_and_the_next_request_reconnects() -> None:
    """Its TLS read buffer would keep the large reply's size for as long as the pool kept it."""
    large = b"x" * (KEEP_MAX_BODY_BYTES + 1)
    async with loopback() as server, pool_for(server, limit=2) as pool:
        server.answer = lambda n: (
            b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(large), large) if n == 2 else OK
        )
        assert (await pool.request(HEAD, None, timeout=5)).body == b"ok"
        assert (await pool.request(HEAD, None, timeout=5)).body == large
        await until_closed(pool)
        assert pool.connections == 0
        for _ in range(2):
            assert (await pool.request(HEAD, None, timeout=5)).body == b"ok"
        assert server.accepted == 2  # one before the large reply, one kept after it


@on_both_loops
async def test_a_server_that_never_answers_times_out_and_frees_the_connection() -> None:
    async with loopback() as server, pool_for(server, limit=1) as pool:
        server.answer = lambda n: None if n == 1 else OK
        with pytest.raises(TimeoutError):
            await pool.request(HEAD, None, timeout=0.2)
        # The timed-out connection is aborted (half an answer may still come); the limit is free again.
        response = await pool.request(HEAD, None, timeout=5)
        assert response.status == 200
        assert server.accepted == 2


@on_both_loops
async def test_a_request_waiting_for_a_connection_times_out_when_none_frees() -> None:
    async with loopback() as server, pool_for(server, limit=1) as pool:
        server.answer = lambda n: None if n == 1 else OK
        stuck = asyncio.ensure_future(pool.request(HEAD, None, timeout=5))
        await asyncio.sleep(0.05)
        with pytest.raises(TimeoutError):
            await pool.request(HEAD, None, timeout=0.1)
        stuck.cancel()
        with pytest.raises(asyncio.CancelledError):
            await stuck
        assert (await pool.request(HEAD, None, timeout=5)).status == 200


@on_both_loops
async def test_a_refused_connection_is_an_os_error() -> None:
    async with loopback() as server:
        port = server.port
    pool = Http1Pool("127.0.0.1", port, None, 1, server_hostname="127.0.0.1")
    with pytest.raises(ConnectionRefusedError):
        await pool.request(HEAD, None, timeout=2)
    assert pool.connections == 0


@on_both_loops
async def test_a_failed_connect_lets_a_waiting_request_try_in_its_place() -> None:
    """limit 1: the first request's connect is refused while a second waits for the slot; the second
    then connects itself (the server is back) instead of waiting out its timeout."""
    async with loopback() as server:
        port = server.port
    pool = Http1Pool("127.0.0.1", port, None, 1, server_hostname="127.0.0.1")
    first = asyncio.ensure_future(pool.request(HEAD, None, timeout=5))
    second = asyncio.ensure_future(pool.request(HEAD, None, timeout=5))
    with pytest.raises(ConnectionRefusedError):
        await first
    with pytest.raises(ConnectionRefusedError):  # it tried (and the port is still closed) at once
        await asyncio.wait_for(second, timeout=2)
    pool.close()
