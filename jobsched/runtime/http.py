"""The HTTP side door: /metrics for Prometheus, /healthz for liveness, /readyz for readiness.

It runs in a thread of its own (the standard library's threading HTTP server), not on the event loop:
a liveness probe has to be answered, and answered truthfully, precisely when the loop is stuck.
prometheus-client renders its registry safely from any thread.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import anyio
import anyio.to_thread
import structlog
from prometheus_client import CONTENT_TYPE_LATEST

from jobsched.runtime.health import Health, Verdict
from jobsched.runtime.metrics import Metrics

log = structlog.get_logger(__name__)


class _Handler(BaseHTTPRequestHandler):
    metrics: ClassVar[Metrics]
    health: ClassVar[Health]

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._send(200, self.metrics.exposition(), CONTENT_TYPE_LATEST)
        elif path == "/healthz":
            self._verdict(self.health.live())
        elif path == "/readyz":
            self._verdict(self.health.ready())
        else:
            self._send(404, b"not found\n", "text/plain")

    def _verdict(self, verdict: Verdict) -> None:
        self._send(200 if verdict.ok else 503, verdict.text.encode(), "text/plain; charset=utf-8")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Probes every few seconds are not news."""


async def serve(host: str, port: int, metrics: Metrics, health: Health) -> None:
    """Serves until cancelled; the server thread is stopped before this returns."""
    handler = type("Handler", (_Handler,), {"metrics": metrics, "health": health})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="jobsched-http", daemon=True)
    thread.start()
    log.info("serving /metrics, /healthz and /readyz", address=host, port=server.server_address[1])
    try:
        await anyio.sleep_forever()
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(server.shutdown)
            server.server_close()
