"""A fault-injecting HTTPS proxy on loopback, between a jobsched process and the local kube-apiserver.

    async with FaultProxy(control_plane, FaultPlan(rate_429=0.2)) as proxy:
        proxy.write_kubeconfig(tmp_path / "kubeconfig")   # point jobsched at this
        ...
        proxy.plan.rate_429 = 0.0                         # takes effect for the next request
        assert proxy.counts["429"] > 0

The proxy serves TLS with the dev cluster's own apiserver certificate (valid for 127.0.0.1), so the
generated kubeconfig keeps the cluster's CA and admin token and differs only in `server`. Requests are
forwarded as they are (method, path, query, headers, body); responses are streamed back chunk by chunk,
never buffered, because watches are long chunked streams. Content-Encoding passes through untouched.

Faults, decided per request with random.Random(seed) so a run is reproducible:
- 429 (with `Retry-After: 1`), 500, "timeout" (hold the request timeout_s, then drop the connection
  without a response) and "lost_reply" (forward the request, let the apiserver carry it out, then drop
  the connection instead of replying: the client cannot know its write happened, so its retry must be
  idempotent) hit requests whose method is in plan.methods (None = every method), and watch requests
  only if plan.include_watches. One draw per matching request: r < rate_429 is a 429, then the next
  rate_500, then rate_timeout, then rate_lost_reply; the rest are forwarded.
- watch_expire_after_s applies to every watch that is forwarded, whatever plan.methods says: after that
  long (at the next event boundary) the proxy writes the 410 Expired ERROR event a real apiserver sends
  for a compacted resourceVersion, and ends the stream.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import random
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn

import aiohttp
import yaml
from aiohttp import web
from multidict import CIMultiDict

from jobsched.devcluster.state import ClusterState

# Hop-by-hop headers (RFC 9110 §7.6.1) and the ones aiohttp computes itself for each leg.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
_WATCH_EXPIRED = (
    b'{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure",'
    b'"message":"too old resource version: injected by faultproxy","reason":"Expired","code":410}}\n'
)
# After the expiry instant the proxy finishes the event line it is in the middle of; a stream that
# stalls mid-line for this long is cut without the ERROR event rather than held open.
_FINISH_LINE_S = 10.0
_SHUTDOWN_S = 5.0


@dataclass
class FaultPlan:
    """What to inject. Mutable; rates are fractions of matching requests, 0..1."""

    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_timeout: float = 0.0
    rate_lost_reply: float = 0.0  # forwarded and carried out, but the reply never reaches the client
    timeout_s: float = 30.0  # a "timeout" fault holds the request this long, then drops the connection
    watch_expire_after_s: float | None = None  # watches get a 410 Expired ERROR event, then the stream ends
    methods: frozenset[str] | None = None  # None = every method
    include_watches: bool = False  # whether 429/500/timeout also hit watch requests


def _status_body(code: int, reason: str) -> bytes:
    status = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "reason": reason,
        "code": code,
        "message": "injected by faultproxy",
    }
    return json.dumps(status).encode()


def is_watch(request: web.BaseRequest) -> bool:
    return request.query.get("watch", "").lower() in ("true", "1") or "/watch/" in request.path


class FaultProxy:
    """An aiohttp HTTPS server on 127.0.0.1 in the caller's event loop; use as an async context manager."""

    def __init__(self, state: ClusterState, plan: FaultPlan, seed: int = 0) -> None:
        self.state = state
        self.plan = plan
        self.counts: collections.Counter[str] = collections.Counter()
        self.url = ""
        self._random = random.Random(seed)
        self._runner: web.ServerRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._handlers: set[asyncio.Task[Any]] = set()

    async def __aenter__(self) -> FaultProxy:
        pki = self.state.dir / "pki"
        server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_tls.load_cert_chain(pki / "apiserver.crt", pki / "apiserver.key")
        upstream_tls = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        # limit=0: watches hold their connection for minutes, a pool limit would queue other requests.
        # auto_decompress=False and no auto headers: bytes and encodings pass through as the client asked.
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=upstream_tls, limit=0),
            auto_decompress=False,
            skip_auto_headers=("Accept-Encoding", "User-Agent", "Content-Type"),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
        )
        server = web.Server(self._handle, handler_cancellation=True)
        # handler_cancellation: a client that hangs up cancels its handler, so a dropped watch does not
        # keep its upstream stream open until the next event.
        runner = self._runner = web.ServerRunner(server, shutdown_timeout=_SHUTDOWN_S, handle_signals=False)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            await runner.setup()
            sock.bind(("127.0.0.1", 0))
            sock.listen(512)
            sock.setblocking(False)
            port = sock.getsockname()[1]
            await web.SockSite(runner, sock, ssl_context=server_tls).start()
        except BaseException:
            sock.close()
            await self._close()
            raise
        self.url = f"https://127.0.0.1:{port}"
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._close()

    async def _close(self) -> None:
        # Open watches and held "timeout" requests never finish on their own: cancel them first, so
        # the runner's own shutdown does not wait out its timeout on each.
        for task in list(self._handlers):
            task.cancel()
        if self._handlers:
            await asyncio.wait(list(self._handlers), timeout=_SHUTDOWN_S)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    def write_kubeconfig(self, path: Path) -> Path:
        """The cluster's admin kubeconfig with server = self.url (same CA data, same token)."""
        if not self.url:
            raise RuntimeError("the proxy is not running")
        config = yaml.safe_load(self.state.kubeconfig.read_text())
        for cluster in config["clusters"]:
            cluster["cluster"]["server"] = self.url
        path.write_text(json.dumps(config, indent=2))
        path.chmod(0o600)
        return path

    def _decide(self, request: web.BaseRequest, watch: bool) -> str | None:
        plan = self.plan
        if plan.methods is not None and request.method not in plan.methods:
            return None
        if watch and not plan.include_watches:
            return None
        draw = self._random.random()
        faults = (
            ("429", plan.rate_429),
            ("500", plan.rate_500),
            ("timeout", plan.rate_timeout),
            ("lost_reply", plan.rate_lost_reply),
        )
        for fault, rate in faults:
            if draw < rate:
                return fault
            draw -= rate
        return None

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            watch = is_watch(request)
            fault = self._decide(request, watch)
            if fault is not None:
                self.counts[fault] += 1
            if fault == "429":
                return web.Response(
                    status=429,
                    body=_status_body(429, "TooManyRequests"),
                    content_type="application/json",
                    headers={"Retry-After": "1"},
                )
            if fault == "500":
                return web.Response(
                    status=500, body=_status_body(500, "InternalError"), content_type="application/json"
                )
            if fault == "timeout":
                return await self._drop_after(request, self.plan.timeout_s)
            if fault == "lost_reply":
                return await self._forward_then_drop(request)
            self.counts["forwarded"] += 1
            return await self._forward(request, watch)
        finally:
            self._handlers.discard(task)

    async def _drop_after(self, request: web.BaseRequest, delay: float) -> NoReturn:
        await asyncio.sleep(delay)
        if request.transport is not None:
            request.transport.abort()
        # The lost connection cancels this handler (handler_cancellation); this bound is a hang guard.
        await asyncio.sleep(_SHUTDOWN_S)
        raise ConnectionResetError("faultproxy dropped the connection")

    async def _upstream(self, request: web.BaseRequest) -> Any:
        """The same request, sent on to the apiserver (an aiohttp request context manager)."""
        assert self._session is not None
        headers = CIMultiDict((k, v) for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP)
        body = await request.read() if request.can_read_body else None
        upstream_url = self.state.server + request.rel_url.raw_path_qs
        return self._session.request(
            request.method, upstream_url, headers=headers, data=body, allow_redirects=False
        )

    async def _forward_then_drop(self, request: web.BaseRequest) -> NoReturn:
        """The apiserver gets the request and acts on it; the client gets a dropped connection."""
        async with await self._upstream(request) as upstream:
            await upstream.read()
        if request.transport is not None:
            request.transport.abort()
        await asyncio.sleep(_SHUTDOWN_S)
        raise ConnectionResetError("faultproxy dropped the reply")

    async def _forward(self, request: web.BaseRequest, watch: bool) -> web.StreamResponse:
        async with await self._upstream(request) as upstream:
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            for key, value in upstream.headers.items():
                if key.lower() not in _HOP_BY_HOP:
                    response.headers.add(key, value)
            if upstream.content_length is not None and not watch:
                response.content_length = upstream.content_length
            await response.prepare(request)
            expire = self.plan.watch_expire_after_s if watch and upstream.status == 200 else None
            if expire is None:
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
            else:
                await self._stream_expiring(upstream, response, expire)
            await response.write_eof()
            return response

    async def _stream_expiring(
        self, upstream: aiohttp.ClientResponse, response: web.StreamResponse, expire_after: float
    ) -> None:
        """Streams a watch until expire_after, then ends it with a 410 ERROR event at a line boundary."""
        at_line_start = True
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(expire_after):
                async for chunk in upstream.content.iter_any():
                    # Set before the write: the chunk is queued before write() first awaits, so a
                    # deadline landing in the await must see it as sent.
                    at_line_start = chunk.endswith(b"\n")
                    await response.write(chunk)
                return  # the apiserver ended the watch first (timeoutSeconds): nothing to inject
        if not at_line_start:
            # Finish the event in flight so the ERROR event starts on a line of its own.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_FINISH_LINE_S):
                    while not at_line_start:
                        chunk = await upstream.content.readany()
                        if not chunk:
                            return
                        newline = chunk.find(b"\n")
                        if newline >= 0:
                            chunk = chunk[: newline + 1]
                            at_line_start = True
                        await response.write(chunk)
            if not at_line_start:
                return
        self.counts["watch_expired"] += 1
        await response.write(_WATCH_EXPIRED)
