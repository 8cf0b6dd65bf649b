"""The HTTP side door: /metrics for Prometheus, /healthz for liveness, /readyz for readiness."""

from __future__ import annotations

from collections.abc import Callable

import anyio
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from jobsched.runtime.metrics import Metrics


async def serve(host: str, port: int, metrics: Metrics, ready: Callable[[], bool]) -> None:
    """Serves until cancelled."""

    async def handle_metrics(_: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def handle_healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def handle_readyz(_: web.Request) -> web.Response:
        return web.Response(text="ok") if ready() else web.Response(status=503, text="not ready")

    app = web.Application()
    app.add_routes(
        [
            web.get("/metrics", handle_metrics),
            web.get("/healthz", handle_healthz),
            web.get("/readyz", handle_readyz),
        ]
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    try:
        await anyio.sleep_forever()
    finally:
        with anyio.CancelScope(shield=True):
            await runner.cleanup()
