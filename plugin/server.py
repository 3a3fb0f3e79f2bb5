"""Run the app under uvicorn inside the current event loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence

import uvicorn
from starlette.routing import BaseRoute

from plugin.app import create_app
from plugin.config import Settings


def make_server(
    settings: Settings, host: str, port: int, extra_routes: Sequence[BaseRoute] = ()
) -> uvicorn.Server:
    app = create_app(settings, extra_routes)
    config = uvicorn.Config(
        app, host=host, port=port, log_level=settings.log_level.lower(), lifespan="on",
        access_log=False,
    )
    return uvicorn.Server(config)


async def serve(settings: Settings, host: str, port: int) -> None:
    await make_server(settings, host, port).serve()


@contextlib.asynccontextmanager
async def serving(server: uvicorn.Server) -> AsyncIterator[None]:
    """Run `server` in the background of this loop for the block; raise if it fails to start."""
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("the server stopped before it started")
        await asyncio.sleep(0.05)
    try:
        yield
    finally:
        server.should_exit = True
        await task
