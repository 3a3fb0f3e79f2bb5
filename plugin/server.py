"""Run the app under uvicorn inside the current event loop."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import gc
import os
import socket
from collections.abc import AsyncIterator, Sequence
from typing import Any

import uvicorn
from starlette.routing import BaseRoute

from plugin.app import create_app
from plugin.config import Settings

# An idle keep-alive connection is closed after this many seconds (a storefront page makes its
# widget calls within a second or two; a client that stops talking should not hold a socket).
KEEP_ALIVE_SECONDS = 5
# The request line and headers may take at most this many bytes (h11's own default, stated here
# so it is a decision: webhook and widget headers are small). uvicorn's h11 protocol enforces it
# while reading; under httptools (which we run) HeadLimit answers a larger head 431 before the
# app sees it.
MAX_HEAD_BYTES = 16 * 1024
# Connections (and requests in flight) beyond this are answered 503 at once instead of being
# served: slow clients then cost a bounded number of sockets, and the process keeps file
# descriptors for Redis and platform calls under the usual open-file limit of 1024.
MAX_CONNECTIONS = 512
M_ARENA_MAX = -8  # glibc's mallopt parameter number
# The cyclic garbage collector's thresholds in a serving process (Python's are 700, 10, 10).
# A webhook's JSON body alone allocates a few hundred containers, so at 700 the collector ran
# every few requests, and its full collections walked the whole heap (numpy, scipy, the
# models): tens of milliseconds in the middle of a request (intake p99 103 -> 75 ms, CPU per
# webhook -20%). At 20,000 the young collections are rarer and no dearer (what they walk is
# young), and start-up's objects are frozen out of all of them.
GC_THRESHOLDS = (20_000, 50, 100)


def make_server(
    settings: Settings, host: str, port: int, extra_routes: Sequence[BaseRoute] = (),
    log_level: str | None = None,
) -> uvicorn.Server:
    """uvicorn around the app; X-Forwarded-For / -Proto are believed only from
    SHOPRECO_TRUSTED_PROXIES (none by default: the peer address is the client)."""
    limit_malloc_arenas()
    app = HeadLimit(create_app(settings, extra_routes))
    config = uvicorn.Config(
        app, host=host, port=port, log_level=(log_level or settings.log_level).lower(),
        lifespan="on",
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=",".join(settings.trusted_proxies),  # never $FORWARDED_ALLOW_IPS
        **uvicorn_options(),
    )
    return uvicorn.Server(config)


class HeadLimit:
    """ASGI wrapper: an HTTP request whose request line and headers exceed MAX_HEAD_BYTES is
    answered 431 (RFC 6585) without reaching the app; anything else passes through."""

    def __init__(self, app: Any, limit: int = MAX_HEAD_BYTES) -> None:
        self.app, self.limit = app, limit
        self.state = app.state  # the app's state, for whoever holds the server

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            size = len(scope["method"]) + len(scope.get("raw_path") or b"") + \
                len(scope.get("query_string") or b"") + \
                sum(len(name) + len(value) + 4 for name, value in scope["headers"])
            if size > self.limit:
                body = (b'{"type":"/api/docs/problems#headers-too-large",'
                        b'"title":"Request Header Fields Too Large",'
                        b'"status":431,"detail":"the request line and headers may take at most '
                        + str(self.limit).encode() + b' bytes"}')
                await send({"type": "http.response.start", "status": 431, "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def uvicorn_options() -> dict[str, Any]:
    """The uvicorn options every web process runs with (bench/throughput.py gives its bare
    baseline the same). uvicorn picks httptools and uvloop, which the project installs."""
    return {"access_log": False, "timeout_keep_alive": KEEP_ALIVE_SECONDS,
            "h11_max_incomplete_event_size": MAX_HEAD_BYTES,
            "limit_concurrency": MAX_CONNECTIONS}


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Ask glibc for at most `arenas` malloc arenas (M_ARENA_MAX). Training and model loads
    run in worker threads, and glibc gives each new thread an arena of its own (up to 8 per
    core) that it rarely returns: the server's memory then grew in steps with each retraining.
    False where the C library is not glibc (nothing changes there)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(M_ARENA_MAX, arenas))
    except (OSError, AttributeError):
        return False


def lower_priority(niceness: int) -> int:
    """Raise this process's niceness to `niceness` (never lower it: that needs privileges
    and is not ours to do); the niceness it runs at."""
    current = os.nice(0)
    return os.nice(niceness - current) if niceness > current else current


def settle_gc() -> None:
    """For a long-running process once it has started: what start-up made (modules, the app,
    its clients) lives as long as the process, so move it out of the collector's sight
    (gc.freeze) and collect less often (GC_THRESHOLDS). Cycles are still collected."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


async def serve(
    settings: Settings, host: str, port: int, sock: socket.socket | None = None
) -> None:
    """One process: the app on host:port, or on `sock`, a listening socket it inherited from
    `supervise` (one of its web processes). Once it has started, settle_gc."""
    server = make_server(settings, host, port)
    task = asyncio.create_task(server.serve(sockets=None if sock is None else [sock]))
    while not (server.started or task.done()):
        await asyncio.sleep(0.05)
    if server.started:
        settle_gc()
    await task


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
