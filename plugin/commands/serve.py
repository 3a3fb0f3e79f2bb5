"""`shopreco serve` (the plugin: API, webhooks, widgets, worker) and `shopreco worker` (only
ingestion and retraining, for scale-out)."""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
from dataclasses import replace

from plugin.commands import Subparsers
from plugin.config import Settings
from plugin.server import limit_malloc_arenas, lower_priority, serve, settle_gc
from plugin.store.connection import open_redis
from plugin.store.migrations import migrate
from plugin.supervisor import supervise
from plugin.worker import running_workers


def register(sub: Subparsers[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("serve", help="run the plugin (API, webhooks, widgets, worker)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--workers", type=int, default=0, metavar="N",
        help="run N web processes on the port, with ingestion and training in a process of "
             "their own (default: everything in this one process)")
    parser.add_argument("--socket-fd", type=int, help=argparse.SUPPRESS)  # a web process's
    parser.set_defaults(command=cmd_serve)
    worker = sub.add_parser("worker", help="run only ingestion and retraining (scale-out)")
    worker.set_defaults(command=cmd_worker)


async def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    if args.socket_fd is not None:  # started by `supervise` on its listening socket
        sock = socket.socket(fileno=args.socket_fd)
        await serve(replace(settings, run_worker=False), args.host, args.port, sock)
    elif args.workers:
        return await supervise(settings, args.host, args.port, args.workers)
    else:
        await serve(settings, args.host, args.port)
    return 0


async def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    limit_malloc_arenas()  # the worker trains in threads too
    lower_priority(settings.worker_nice)
    async with open_redis(settings) as redis:
        await migrate(redis)
        async with running_workers(redis, settings):
            settle_gc()
            print("shopreco worker running; Ctrl-C stops it", file=sys.stderr)
            await asyncio.Event().wait()
    return 0
