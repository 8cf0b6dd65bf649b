"""A raw-JSON Kubernetes API client for the hot paths.

kubernetes-asyncio does configuration and authentication (kubeconfig, in-cluster service account,
exec plugins, token refresh). Requests go through a lean HTTP/1.1 keep-alive pool (`http1`), watches
through aiohttp; bodies are encoded and decoded with orjson. The generated model classes cost about
0.5 ms per object, which at thousands of pods a second is the whole budget, so they are never used.
"""

from __future__ import annotations

import contextlib
import os
import random
import ssl
import time
import urllib.parse
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import anyio
import anyio.lowlevel
import orjson
from kubernetes_asyncio import config as kube_config
from kubernetes_asyncio.client import Configuration

from jobsched.core.outcomes import RETRYABLE
from jobsched.kube.http1 import Http1Pool, ProtocolError

AUTH_REFRESH_S = 60.0
# A watch is read ahead into this much memory (aiohttp pauses the socket at twice it), so a scheduler
# busy for a moment never leaves the apiserver blocked on its watch: the apiserver's dispatch budget
# (50 ms a second, at most 100 ms) is shared by every watcher of a resource, and one slow watcher spends
# it for all (the node agents' watches are then closed instead of waited for).
WATCH_READ_BUFSIZE = 4 * 2**20
WATCH_YIELD_LINES = 64  # events handed on between checkpoints while working through a backlog


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    retry_after: float | None = None

    def json(self) -> Any:
        return orjson.loads(self.body) if self.body else None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def message(self) -> str:
        """The apiserver's Status message, or the raw body's start."""
        try:
            data = orjson.loads(self.body)
        except orjson.JSONDecodeError:
            return self.body[:300].decode(errors="replace")
        if isinstance(data, dict) and "message" in data:
            return str(data["message"])
        return self.body[:300].decode(errors="replace")


class ApiError(Exception):
    """A non-2xx reply, with the request that caused it."""

    def __init__(self, method: str, path: str, response: Response) -> None:
        self.method = method
        self.path = path
        self.status = response.status
        self.response = response
        super().__init__(f"{method} {path}: HTTP {response.status}: {response.message()}")


class KubeconfigError(Exception):
    """No usable cluster configuration; the message says what to fix."""


def _kubeconfig_file(kubeconfig: str | None) -> tuple[str, bool]:
    """The kubeconfig file to read and whether it exists; an explicit one (the flag, KUBECONFIG) must."""
    env = os.environ.get("KUBECONFIG", "")
    default = os.path.expanduser("~/.kube/config")
    path = kubeconfig or next((p for p in env.split(os.pathsep) if p), "") or default
    exists = os.path.isfile(path)
    if (kubeconfig or env) and not exists:
        where = "--kubeconfig" if kubeconfig else "KUBECONFIG"
        raise KubeconfigError(f"kubeconfig {path} (from {where}) does not exist")
    return path, exists


async def load_configuration(kubeconfig: str | None, context: str | None) -> Configuration:
    """The client configuration from a kubeconfig file (explicit, KUBECONFIG or ~/.kube/config) or, when
    there is none, from the in-cluster service account."""
    cfg = Configuration()
    path, exists = _kubeconfig_file(kubeconfig)
    if exists:
        try:
            await kube_config.load_kube_config(config_file=path, context=context, client_configuration=cfg)
        except (kube_config.ConfigException, ValueError, TypeError, OSError) as err:
            raise KubeconfigError(f"kubeconfig {path} is not usable: {err}") from err
        return cfg
    try:
        kube_config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
    except kube_config.ConfigException as err:
        raise KubeconfigError(
            "no kubeconfig: set KUBECONFIG or pass --kubeconfig (or run inside a cluster, where the"
            f" service account is used; here: {err})"
        ) from err
    return cfg


IN_CLUSTER_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


def context_namespace(kubeconfig: str | None, context: str | None) -> str:
    """The namespace kubectl would use without -n: the kubeconfig context's (the named or current one),
    else in a pod its service account's, else "default". Raises KubeconfigError for an unusable file."""
    path, exists = _kubeconfig_file(kubeconfig)
    if not exists:
        try:
            with open(IN_CLUSTER_NAMESPACE) as file:
                return file.read().strip() or "default"
        except OSError:
            return "default"
    try:
        contexts, current = kube_config.list_kube_config_contexts(path)
    except (kube_config.ConfigException, ValueError, TypeError, OSError) as err:
        raise KubeconfigError(f"kubeconfig {path} is not usable: {err}") from err
    chosen = next((c for c in contexts if c.get("name") == context), None) if context else current
    if context and chosen is None:
        raise KubeconfigError(f"kubeconfig {path} has no context {context!r}")
    namespace = ((chosen or {}).get("context") or {}).get("namespace")
    return str(namespace) if namespace else "default"


class TransportError(Exception):
    """No HTTP answer: the connection failed, broke or timed out. The only transport exception that
    leaves `jobsched.kube`, so no other layer needs to know which HTTP library is underneath."""


class KubeClient:
    """One connection pool to one apiserver. Create with `KubeClient.connect()`."""

    def __init__(self, configuration: Configuration, connections: int) -> None:
        self._cfg = configuration
        self.base = str(configuration.host).rstrip("/")
        url = urllib.parse.urlsplit(self.base)
        self._tls = url.scheme == "https"
        self._host = url.hostname or "localhost"
        self._port = url.port or (443 if self._tls else 80)
        self._prefix = url.path  # a server URL may carry a path (API proxies)
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None
        self._pool: Http1Pool | None = None
        self._headers: dict[str, str] = {}
        self._head_block = b""  # the headers every request sends, encoded once per auth refresh
        self._auth_at = -AUTH_REFRESH_S

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(
        cls, kubeconfig: str | None = None, connections: int = 64, context: str | None = None
    ) -> AsyncIterator[KubeClient]:
        """Loads the kubeconfig (the given file, else KUBECONFIG, else ~/.kube/config), else the in-cluster
        configuration, and opens the pool. Raises KubeconfigError, with what to fix, when none works."""
        cfg = await load_configuration(kubeconfig, context)
        client = cls(cfg, connections)
        try:
            await client._open()
        except (OSError, ssl.SSLError) as err:
            raise KubeconfigError(f"cannot use the kubeconfig's credentials: {err}") from err
        try:
            yield client
        finally:
            await client.close()

    def _ssl(self) -> ssl.SSLContext:
        """TLS as the kubeconfig says; with verification off (insecure-skip-tls-verify) the server's
        certificate is not checked, but a client certificate is still presented."""
        ctx = ssl.create_default_context(cafile=self._cfg.ssl_ca_cert)
        if not self._cfg.verify_ssl:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if self._cfg.cert_file:
            ctx.load_cert_chain(self._cfg.cert_file, self._cfg.key_file)
        return ctx

    async def _open(self) -> None:
        context = self._ssl()
        connector = aiohttp.TCPConnector(
            limit=self._connections, ssl=context, keepalive_timeout=60, ttl_dns_cache=300
        )
        self._session = aiohttp.ClientSession(
            connector=connector, json_serialize=lambda o: orjson.dumps(o).decode(), raise_for_status=False
        )
        tls = context if self._tls else None
        self._pool = Http1Pool(self._host, self._port, tls, self._connections, server_hostname=self._host)
        await self._refresh_auth()

    async def _refresh_auth(self) -> None:
        headers = {"Accept": "application/json", "User-Agent": "jobsched/0.1"}
        for setting in (await self._cfg.auth_settings()).values():
            if setting.get("in") == "header" and setting.get("value"):
                headers[str(setting["key"]).title()] = str(setting["value"])
        self._headers = headers
        host = url_host(self._host, self._port, self._tls)
        lines = [f"Host: {host}", *(f"{k}: {v}" for k, v in headers.items())]
        self._head_block = "".join(f"{line}\r\n" for line in lines).encode("latin-1")
        self._auth_at = time.monotonic()

    async def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("KubeClient is closed")
        return self._session

    async def _fresh_auth(self) -> None:
        """Re-reads the credentials (a rotated token, an exec plugin's) at most every AUTH_REFRESH_S."""
        if time.monotonic() - self._auth_at > AUTH_REFRESH_S:
            await self._refresh_auth()

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        content_type: str = "application/json",
    ) -> Response:
        """One request; raises TransportError when there is no HTTP answer."""
        if self._pool is None:
            raise RuntimeError("KubeClient is closed")
        await self._fresh_auth()
        target = urllib.parse.quote(self._prefix + path, safe=PATH_SAFE)
        if params:
            target += "?" + urllib.parse.urlencode(params)
        data = None
        head = f"{method} {target} HTTP/1.1\r\n".encode() + self._head_block
        if body is not None:
            data = body if isinstance(body, bytes) else orjson.dumps(body)
            head += f"Content-Type: {content_type}\r\nContent-Length: {len(data)}\r\n".encode()
        elif method in BODY_METHODS:
            head += b"Content-Length: 0\r\n"
        try:
            raw = await self._pool.request(head + b"\r\n", data, timeout)
        except (OSError, ssl.SSLError, ProtocolError, TimeoutError) as err:
            raise TransportError(f"{method} {path}: {_describe(err)}") from err
        return Response(raw.status, raw.body, _seconds(raw.headers.get(b"retry-after")))

    async def warm(self, connections: int, timeout: float = 2.0) -> int:
        """Opens up to `connections` keep-alive connections ahead of a burst (concurrent GET /version),
        so its first requests do not wait on TLS handshakes. Returns how many requests succeeded."""
        ok = 0

        async def one() -> None:
            nonlocal ok
            with contextlib.suppress(TransportError):
                if (await self.request("GET", "/version", timeout=timeout)).ok:
                    ok += 1

        async with anyio.create_task_group() as tg:
            for _ in range(connections):
                tg.start_soon(one)
        return ok

    async def request_retrying(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        attempts: int = 6,
        timeout: float = 30.0,
        content_type: str = "application/json",
    ) -> Response:
        """Retries 429, 5xx and transport errors with jittered exponential backoff.

        Returns the last response (which may be an error) rather than raising on HTTP status;
        raises TransportError if every attempt failed in transport.
        """
        delay = 0.05
        for attempt in range(attempts):
            try:
                resp = await self.request(method, path, body, params, timeout, content_type)
            except TransportError:
                if attempt == attempts - 1:
                    raise
            else:
                if resp.status not in RETRYABLE or attempt == attempts - 1:
                    return resp
                if resp.retry_after is not None:
                    delay = max(delay, min(resp.retry_after, 5.0))
            await anyio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 5.0)
        raise AssertionError("unreachable")

    async def get_json(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        resp = await self.request_retrying("GET", path, params=params)
        if not resp.ok:
            raise ApiError("GET", path, resp)
        return resp.json()

    async def stream_lines(
        self, path: str, params: Mapping[str, str], read_timeout: float
    ) -> AsyncIterator[bytes]:
        """Yields the lines of a streaming (watch) response; ends when the server closes it.

        Raises ApiError for a non-200 answer and TransportError when the stream breaks."""
        await self._fresh_auth()
        headers = self._headers
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=read_timeout)
        try:
            async with self.session.get(
                self.base + path,
                params=params,
                headers=headers,
                timeout=timeout,
                read_bufsize=WATCH_READ_BUFSIZE,
            ) as resp:
                if resp.status != 200:
                    raise ApiError("GET", path, Response(resp.status, await resp.read()))
                lines = LineBuffer()
                handed = 0
                async for chunk in resp.content.iter_any():
                    for line in lines.feed(chunk):
                        yield line
                        handed += 1
                        if handed % WATCH_YIELD_LINES == 0:
                            await anyio.lowlevel.checkpoint()  # a backlog must not starve the binders
        except (aiohttp.ClientError, TimeoutError) as err:
            raise TransportError(f"watch {path}: {_describe(err)}") from err


class LineBuffer:
    """A watch stream's bytes in, its complete non-blank lines out. A large event arrives in many
    chunks: they are joined once, when its newline comes, not re-copied on every chunk."""

    def __init__(self) -> None:
        self._pending: list[bytes] = []

    def feed(self, chunk: bytes) -> list[bytes]:
        if not self._pending and chunk.find(b"\n") == len(chunk) - 1:
            line = chunk[:-1]  # the usual chunk: one whole event, nothing to join or split
            return [line] if line and not line.isspace() else []
        self._pending.append(chunk)
        if b"\n" not in chunk:
            return []
        *lines, rest = b"".join(self._pending).split(b"\n")
        self._pending = [rest] if rest else []
        return [line for line in lines if line.strip()]


PATH_SAFE = "/:@!$&'()*+,;=-._~"  # RFC 3986 path characters, left as they are
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def url_host(host: str, port: int, tls: bool) -> str:
    """The Host header's value: the port only when it is not the scheme's default; IPv6 in brackets."""
    name = f"[{host}]" if ":" in host else host
    return name if port == (443 if tls else 80) else f"{name}:{port}"


def _seconds(header: bytes | None) -> float | None:
    """A Retry-After header in seconds; the HTTP-date form (never sent by the apiserver) is ignored."""
    if not header:
        return None
    try:
        return float(header)
    except ValueError:
        return None


def _describe(err: BaseException) -> str:
    """A transport error in one short line: aiohttp's message, or the exception's name (a timeout)."""
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__
