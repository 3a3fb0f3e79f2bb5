"""Benchmark: the web process's CPU per webhook, in process, against a bare Starlette POST
endpoint driven the same way: the steady figure behind bench/throughput.py's intake ratio.

    .venv/bin/python bench/intake_cpu.py [--webhooks 6000] [--runs 5] [--profile N]
                                         [--sort FIELD] [--callers REGEX]
    .venv/bin/python bench/intake_cpu.py --instructions 2000 [--callgrind-out FILE]

On a shared VM req/s moves more between runs than a small change moves it (bench/throughput.py
saw the same bare GET at 5,035 and 7,067 req/s minutes apart), so to decide whether a change
to the intake helps, this drives both ASGI apps directly, with no HTTP server and no load
generator in the way: on uvloop as under uvicorn, 32 tasks at once, each handing the app a
signed Shopify orders/create delivery (the demo store's orders, as bench/throughput.py sends
them) the way uvicorn would, and awaiting its answer. shopreco's app runs as a web process of
`serve --workers N` does (no worker in it, the collector settled) on an embedded Redis in a
temporary folder with an fsync per write, so every webhook is group-committed and durable as
in production; the Redis daemon's CPU is its own process's and not counted here
(bench/throughput.py --by-process shows it).

Printed: the process CPU time per webhook of each app, best of `--runs` runs (the least
disturbed: this VM's neighbours move single runs by up to 50%), and shopreco's over bare.
Every answer is checked afterwards: 200 "accepted" for shopreco, 200 for bare. `--profile N`:
cProfile's N most expensive functions (cumulative) of one more shopreco run. The uvicorn part
(HTTP parsing and writing, about 70 us a request here) is the same for both and not in these
figures: bench/throughput.py's intake ratio is (uvicorn + bare) / (uvicorn + shopreco).

`--instructions N` counts instead the instructions of N webhooks through shopreco's app under
valgrind's callgrind (counting switched on around them only): the same figure to a fraction of
a percent from run to run, so a change of 2% shows, which CPU time on this VM cannot show.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import hashlib
import hmac
import json
import os
import pstats
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import uvloop
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from plugin.app import create_app
from plugin.config import Settings
from plugin.demo.store import generate_store
from plugin.server import settle_gc
from plugin.store.connection import open_redis
from plugin.store.shops import add_shop

CONCURRENCY = 32
DOMAIN = "bench.myshopify.com"
PATH = "/webhooks/shopify"

Message = dict[str, Any]
ASGI = Callable[[dict[str, Any], Callable[[], Awaitable[Message]],
                 Callable[[Message], Awaitable[None]]], Awaitable[None]]


def deliveries(secret: str, orders: list[dict[str, Any]], n: int, run: str
               ) -> list[tuple[list[tuple[bytes, bytes]], bytes]]:
    """n signed orders/create deliveries (headers as uvicorn gives them, body), each with a
    webhook id of its own."""
    out = []
    for number in range(n):
        body = json.dumps({**orders[number % len(orders)], "id": 10_000_000 + number}).encode()
        digest = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
        out.append(([
            (b"host", b"127.0.0.1:8000"), (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"x-shopify-topic", b"orders/create"), (b"x-shopify-shop-domain", DOMAIN.encode()),
            (b"x-shopify-webhook-id", f"bench-{run}-{number}".encode()),
            (b"x-shopify-hmac-sha256", digest)], body))
    return out


class Cycle:
    """One request as uvicorn's request cycle hands it to the app: `receive` is a method of
    an object whose `more_body` is False once the whole body is in (plugin.web.body reads
    that), and the client stays connected after it."""

    def __init__(self, body: bytes) -> None:
        self.body, self.more_body, self.sent = body, False, False
        self.status, self.answer = 0, b""

    async def receive(self) -> Message:
        if not self.sent:
            self.sent = True
            return {"type": "http.request", "body": self.body, "more_body": False}
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        else:
            self.answer += message.get("body", b"")


async def call(app: ASGI, path: str, headers: list[tuple[bytes, bytes]], body: bytes
               ) -> tuple[int, bytes]:
    """One POST as uvicorn hands it to the app: its status and body."""
    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"},
             "http_version": "1.1", "method": "POST", "scheme": "http", "path": path,
             "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": headers, "client": ("127.0.0.1", 50000),
             "server": ("127.0.0.1", 8000), "state": {}}
    cycle = Cycle(body)
    await app(scope, cycle.receive, cycle.send)
    return cycle.status, cycle.answer


async def drive(app: ASGI, path: str, requests: list[tuple[list[tuple[bytes, bytes]], bytes]],
                check: Callable[[int, bytes], bool]) -> float:
    """Every request through `app`, CONCURRENCY at a time: process CPU seconds per request.
    The answers are checked afterwards (outside the time)."""
    queue = iter(requests)
    answers: list[tuple[int, bytes]] = []

    async def client() -> None:
        for headers, body in queue:
            answers.append(await call(app, path, headers, body))

    started = time.process_time()
    await asyncio.gather(*(client() for _ in range(CONCURRENCY)))
    spent = time.process_time() - started
    failures = [answer for answer in answers if not check(*answer)]
    if failures or len(answers) != len(requests):
        raise SystemExit(f"{len(failures)} answers were wrong, e.g. {failures[:1]}")
    return spent / len(requests)


def bare_app() -> Starlette:
    """bench/throughput.py's bare POST: read the body, answer a small JSON body."""
    async def bare(request: Request) -> Response:
        await request.body()
        return Response(b'{"status":"accepted","shop_id":"bench","event_id":"1-0"}',
                        media_type="application/json")
    return Starlette(routes=[Route(PATH, bare, methods=["POST"])])


def accepted(status: int, body: bytes) -> bool:
    return status == 200 and json.loads(body)["status"] == "accepted"


async def main(args: argparse.Namespace) -> None:
    orders = generate_store(n_orders=2000, n_products=145).orders
    data_dir = Path(tempfile.mkdtemp(prefix="shopreco-bench-intake-cpu-"))
    try:
        settings = replace(Settings.from_env({}), data_dir=data_dir, run_worker=False)
        async with open_redis(settings) as redis:
            secret = (await add_shop(redis, "bench", "shopify", DOMAIN, "")
                      ).shop.webhook_secrets[0].reveal()
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            settle_gc()  # as `serve` does once it has started
            warm = deliveries(secret, orders, 500, "warm")
            await drive(app, PATH, warm, accepted)
            if args.callgrind_child:
                requests = deliveries(secret, orders, args.webhooks, "counted")
                callgrind_instrumentation(True)
                await drive(app, PATH, requests, accepted)
                callgrind_instrumentation(False)
                return
            await compare(app, secret, orders, args)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


async def compare(app: ASGI, secret: str, orders: list[dict[str, Any]],
                  args: argparse.Namespace) -> None:
    """CPU a webhook of shopreco and bare, `args.runs` alternating runs; the profile."""
    bare = bare_app()
    await drive(bare, PATH, deliveries(secret, orders, 500, "warm"), lambda s, _b: s == 200)
    ours: list[float] = []
    theirs: list[float] = []
    for run in range(args.runs):
        requests = deliveries(secret, orders, args.webhooks, f"r{run}")
        theirs.append(await drive(bare, PATH, requests, lambda s, _b: s == 200))
        ours.append(await drive(app, PATH, requests, accepted))
        print(f"  run {run + 1}: bare {theirs[-1] * 1e6:6.1f} us   shopreco "
              f"{ours[-1] * 1e6:6.1f} us CPU a webhook", flush=True)
    if args.profile:
        requests = deliveries(secret, orders, args.webhooks, "profile")
        profiler = cProfile.Profile()
        profiler.enable()
        await drive(app, PATH, requests, accepted)
        profiler.disable()
        stats = pstats.Stats(profiler).sort_stats(args.sort)
        stats.print_stats(args.profile)
        if args.callers:
            stats.print_callers(args.callers)
    print(f"best of {args.runs} runs of {args.webhooks} webhooks, {CONCURRENCY} at once: "
          f"bare {min(theirs) * 1e6:.1f} us, shopreco {min(ours) * 1e6:.1f} us CPU a webhook "
          f"in the web process ({min(ours) / min(theirs):.2f}x bare)")


# ---- --instructions: the same drive counted by callgrind ------------------------------------


def callgrind_instrumentation(on: bool) -> None:
    """Switch callgrind's counting in this process on or off (it notices within a moment)."""
    subprocess.run(["callgrind_control", "-i", "on" if on else "off", str(os.getpid())],
                   check=True, stdout=subprocess.DEVNULL)


def count_instructions(webhooks: int, keep: str) -> None:
    """Run this script under callgrind, counting only while `webhooks` webhooks go through
    shopreco's app; print the instructions a webhook (and keep callgrind's file at `keep` for
    callgrind_annotate). Deterministic to a fraction of a percent, where CPU time moves with
    the machine's neighbours; cache misses are not in it, so it ranks changes to the code, and
    CPU time still says what they are worth."""
    if not shutil.which("valgrind"):
        raise SystemExit("--instructions needs valgrind (apt-get install valgrind)")
    with tempfile.TemporaryDirectory(prefix="shopreco-callgrind-") as folder:
        out = keep or str(Path(folder) / "callgrind.out")
        run = subprocess.run(
            ["valgrind", "--tool=callgrind", "--instr-atstart=no",
             f"--callgrind-out-file={out}", sys.executable, __file__, "--callgrind-child",
             "--webhooks", str(webhooks)], capture_output=True, text=True, check=True)
    collected = re.search(r"Collected : (\d+)", run.stderr)
    if collected is None:
        raise SystemExit(f"callgrind counted nothing:\n{run.stderr[-2000:]}")
    print(f"{int(collected.group(1)) / webhooks:,.0f} instructions a webhook in the web "
          f"process ({webhooks} webhooks, {CONCURRENCY} at once)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--webhooks", type=int, default=6000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--profile", type=int, default=0, metavar="N")
    parser.add_argument("--sort", default="cumulative", help="the profile's order (pstats)")
    parser.add_argument("--callers", default="", metavar="REGEX",
                        help="also print who called the profile's functions matching REGEX")
    parser.add_argument("--instructions", type=int, default=0, metavar="N",
                        help="count instructions a webhook over N webhooks under callgrind")
    parser.add_argument("--callgrind-out", default="", metavar="FILE",
                        help="with --instructions: keep callgrind's file here")
    parser.add_argument("--callgrind-child", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.instructions:
        count_instructions(arguments.instructions, arguments.callgrind_out)
    else:
        uvloop.run(main(arguments))  # the event loop uvicorn runs the app on
