"""A lean HTTP/1.1 keep-alive pool for the apiserver's request-response calls.

aiohttp spends about 0.1 ms of CPU on each request (URL objects, header multidicts, the cookie jar,
payload registry, timers); a storm of 10,000 pods makes three requests per pod, so that was seconds of
the scheduler's CPU. Here a request is one write of bytes (the header block is encoded once per auth
refresh) and a response one small parser over a bytearray. Watches stay on aiohttp: they are few and
long-lived, and their cost is in decoding events, not in HTTP.

No pipelining: a connection carries one request at a time. A connection the server closes while idle
is dropped from the pool as soon as the loop sees it; one that fails mid-request raises, and the
caller's retry policy decides (names are deterministic, so a retried create answers 409).

A connection that has just carried a large reply is closed instead of kept. Over TLS, the loop feeds
what it reads into an OpenSSL memory buffer that keeps the size of the largest read for the
connection's life; the odd large reply (a status ConfigMap's patch, a list page) lands on a different
pooled connection each time, so in a long run every one of ~100 connections came to hold 100–150 KB
(9.7 MB in a 15-minute soak, traced with glibc's mtrace to `CRYPTO_clear_realloc`). Large replies are
rare, so closing after them costs a handshake now and then.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
from dataclasses import dataclass
from typing import Any, cast

MAX_HEAD_BYTES = 64 * 1024  # status line and headers; the apiserver's are well under 2 KB
MAX_CHUNK_LINE = 1024
KEEP_MAX_BODY_BYTES = 16 * 1024  # a connection whose reply was larger is closed, not reused


class ProtocolError(Exception):
    """The server sent bytes that are not an HTTP/1.1 response this parser understands."""


@dataclass(frozen=True, slots=True)
class RawResponse:
    status: int
    headers: dict[bytes, bytes]  # lower-cased names; a repeated header keeps its last value
    body: bytes
    keep_alive: bool


class ResponseParser:
    """Bytes in, one response out: `feed` what the socket delivers until it returns the response.

    Bodies are framed by Content-Length, chunked transfer coding, or (without either) the end of the
    connection, which `eof` then completes."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._status = 0
        self._headers: dict[bytes, bytes] = {}
        self._keep_alive = True
        self._mode = ""  # "" reading the head, then "length", "chunked", "trailer" or "close"
        self._remaining = 0  # body bytes still due (length) or of the current chunk (chunked)
        self._in_chunk = False
        self._body = bytearray()

    def feed(self, data: bytes) -> RawResponse | None:
        self._buf += data
        if not self._mode and not self._read_head():
            return None
        if self._mode == "length":
            return self._read_length()
        if self._mode in ("chunked", "trailer"):
            return self._read_chunked()
        self._body += self._buf  # "close": everything until EOF
        self._buf.clear()
        return None

    def eof(self) -> RawResponse:
        """The connection ended: the response if the body runs to EOF, else a ProtocolError."""
        if self._mode == "close":
            return self._done(keep_alive=False)
        state = "head" if not self._mode else f"{self._mode} body"
        raise ProtocolError(f"connection closed in the response's {state}")

    def _read_head(self) -> bool:
        while True:
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buf) > MAX_HEAD_BYTES:
                    raise ProtocolError(f"response head longer than {MAX_HEAD_BYTES} bytes")
                return False
            lines = bytes(self._buf[:end]).split(b"\r\n")
            del self._buf[: end + 4]
            version, _, rest = lines[0].partition(b" ")
            code = rest[:3]
            if not version.startswith(b"HTTP/1.") or not code.isdigit():
                raise ProtocolError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
            status = int(code)
            if 100 <= status < 200:  # informational (never asked for): its head is all there is
                continue
            headers: dict[bytes, bytes] = {}
            for line in lines[1:]:
                name, colon, value = line.partition(b":")
                if not colon:
                    raise ProtocolError(f"malformed header line: {line[:80]!r}")
                headers[name.strip().lower()] = value.strip()
            self._status, self._headers = status, headers
            connection = headers.get(b"connection", b"").lower()
            self._keep_alive = (
                connection != b"close" if version == b"HTTP/1.1" else connection == b"keep-alive"
            )
            self._frame(headers)
            return True

    def _frame(self, headers: dict[bytes, bytes]) -> None:
        if self._status in (204, 304):
            self._mode, self._remaining = "length", 0
        elif b"chunked" in headers.get(b"transfer-encoding", b"").lower():
            self._mode = "chunked"
        elif b"content-length" in headers:
            length = headers[b"content-length"]
            if not length.isdigit():
                raise ProtocolError(f"bad Content-Length {length[:40]!r}")
            self._mode, self._remaining = "length", int(length)
        else:
            self._mode = "close"

    def _read_length(self) -> RawResponse | None:
        if len(self._buf) < self._remaining:
            return None
        self._body += self._buf[: self._remaining]
        del self._buf[: self._remaining]
        return self._done(self._keep_alive and not self._buf)

    def _read_chunked(self) -> RawResponse | None:
        buf = self._buf
        while True:
            if self._in_chunk:
                if len(buf) < self._remaining + 2:
                    return None
                if buf[self._remaining : self._remaining + 2] != b"\r\n":
                    raise ProtocolError("chunk not followed by CRLF")
                self._body += buf[: self._remaining]
                del buf[: self._remaining + 2]
                self._in_chunk = False
                continue
            end = buf.find(b"\r\n")
            if end < 0:
                if len(buf) > MAX_CHUNK_LINE:
                    raise ProtocolError("chunk-size line too long")
                return None
            line = bytes(buf[:end])
            del buf[: end + 2]
            if self._mode == "trailer":
                if not line:
                    return self._done(self._keep_alive and not buf)
                continue  # a trailer field; none is needed
            size = line.split(b";", 1)[0].strip()
            try:
                self._remaining = int(size, 16)
            except ValueError:
                raise ProtocolError(f"bad chunk size {size[:20]!r}") from None
            if self._remaining == 0:
                self._mode = "trailer"
            else:
                self._in_chunk = True

    def _done(self, keep_alive: bool) -> RawResponse:
        return RawResponse(self._status, self._headers, bytes(self._body), keep_alive)


class _Connection(asyncio.Protocol):
    """One socket; carries one request at a time for its pool."""

    def __init__(self, pool: Http1Pool) -> None:
        self._pool = pool
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._parser = ResponseParser()
        self._waiter: asyncio.Future[RawResponse] | None = None

    def begin(self, waiter: asyncio.Future[RawResponse]) -> None:
        self._parser = ResponseParser()
        self._waiter = waiter

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():  # bytes nobody asked for: the connection is unusable
            self.abort()
            return
        try:
            response = self._parser.feed(data)
        except ProtocolError as err:
            waiter.set_exception(err)
            self.abort()
            return
        if response is not None:
            self._waiter = None
            waiter.set_result(response)

    def eof_received(self) -> bool:
        self.closed = True  # the server is done with it: never hand it out again, even before it is lost
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            try:
                waiter.set_result(self._parser.eof())
            except ProtocolError as err:
                waiter.set_exception(err)
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(ConnectionResetError(f"connection lost: {exc or 'closed by the server'}"))
        self._pool._forget(self)

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def close(self) -> None:
        """Closes it cleanly after a complete exchange; the pool forgets it once the loop has."""
        self.closed = True
        if self.transport is not None:
            self.transport.close()


def _expire(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())


class Http1Pool:
    """Up to `limit` keep-alive connections to one server. Raises OSError (ConnectionError included),
    ssl.SSLError, ProtocolError or TimeoutError when there is no complete answer in time."""

    def __init__(
        self, host: str, port: int, ssl_context: ssl.SSLContext | None, limit: int, server_hostname: str
    ) -> None:
        self._host, self._port = host, port
        self._ssl = ssl_context
        self._server_hostname = server_hostname if ssl_context is not None else None
        self._limit = limit
        self._all: set[_Connection] = set()
        self._idle: list[_Connection] = []  # LIFO: the warmest connection first
        self._connecting = 0
        self._waiters: collections.deque[asyncio.Future[_Connection | None]] = collections.deque()

    async def request(self, head: bytes, body: bytes | None, timeout: float) -> RawResponse:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        conn = await self._acquire(loop, deadline)
        waiter: asyncio.Future[RawResponse] = loop.create_future()
        conn.begin(waiter)
        assert conn.transport is not None
        conn.transport.write(head + body if body is not None and len(body) < 65536 else head)
        if body is not None and len(body) >= 65536:
            conn.transport.write(body)
        timer = loop.call_at(deadline, _expire, waiter)
        try:
            response = await waiter
        except BaseException:
            conn.abort()  # half a response may still arrive: the connection cannot be reused
            raise
        finally:
            timer.cancel()
        if not response.keep_alive or conn.closed:
            conn.abort()
        elif len(response.body) > KEEP_MAX_BODY_BYTES:
            conn.close()
        else:
            self._release(conn)
        return response

    async def _acquire(self, loop: asyncio.AbstractEventLoop, deadline: float) -> _Connection:
        while True:
            while self._idle:
                conn = self._idle.pop()
                if not conn.closed:
                    return conn
            if len(self._all) + self._connecting < self._limit:
                return await self._connect(loop, deadline)
            waiter: asyncio.Future[_Connection | None] = loop.create_future()
            self._waiters.append(waiter)
            timer = loop.call_at(deadline, _expire, waiter)
            try:
                handed = await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                    given = waiter.result()  # handed over just as this request gave up
                    if given is not None:
                        self._release(given)
                raise
            finally:
                timer.cancel()
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
            if handed is not None and not handed.closed:
                return handed

    async def _connect(self, loop: asyncio.AbstractEventLoop, deadline: float) -> _Connection:
        self._connecting += 1
        try:
            async with asyncio.timeout_at(deadline):
                _, conn = await loop.create_connection(
                    lambda: _Connection(self),
                    self._host,
                    self._port,
                    ssl=self._ssl,
                    server_hostname=self._server_hostname,
                )
        except BaseException:
            self._connecting -= 1
            self._free_slot()  # a waiter may try in its place (the server may be back by then)
            raise
        self._connecting -= 1
        self._all.add(conn)
        return conn

    def _release(self, conn: _Connection) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        self._idle.append(conn)

    def _forget(self, conn: _Connection) -> None:
        """A connection closed: it leaves the pool, and one waiter may open a new one in its place."""
        self._all.discard(conn)
        if conn in self._idle:
            self._idle.remove(conn)
        self._free_slot()

    def _free_slot(self) -> None:
        """A place under the limit came free: the longest-waiting request may open a connection."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def close(self) -> None:
        for conn in list(self._all):
            conn.abort()
        self._idle.clear()

    @property
    def connections(self) -> int:
        return len(self._all)
