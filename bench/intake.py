"""Benchmark: webhook intake against a bare Starlette endpoint, the ingestion worker's drain
rate, and a replay of UCI Online Retail from the first POST to a serving model.

    .venv/bin/python bench/intake.py [--seconds 6] [--rounds 3] [--drain-events 20000]
                                     [--skip intake,drain,uci]

1. intake: `wrk -t1 -c32 --latency` against `POST /webhooks/shopify` of `shopreco serve`
   (embedded Redis in a temp folder, `appendfsync always`, the worker running as configured)
   and against a bare Starlette endpoint that reads the body and answers a JSON body of the
   same size, each in a process of its own under uvicorn with the same options
   (plugin.server.make_server's). Every request carries a realistic Shopify orders/create body
   (one of N distinct signed bodies built from Shopify's captured test notification, about
   6-9 KB) and an X-Shopify-Webhook-Id unique in the run (a duplicate is answered "duplicate",
   which is cheaper). Rounds interleave bare and shopreco; medians of req/s and p99. The run is
   checked afterwards: every answer 200, no duplicate counted by the shop, every accepted
   event in the stream.
2. drain: that many Shopify orders/create events of the same kind already in a stream (fsync
   always), an Ingestor in this process on one core reads them to the end: events/s.
3. uci: UCI Online Retail (../shared/data) as signed Shopify orders/create webhooks, POSTed
   over 32 keep-alive connections to a fresh `shopreco serve`, then `POST .../model/train?wait=
   true` (drain, choose the shop's strategy within SHOPRECO_TUNING_SECONDS, train, publish) and
   one recommendation call: seconds from the first POST to the first served recommendation.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import csv
import gzip
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from plugin.config import Settings
from plugin.store import keys
from plugin.store.connection import open_redis, text
from plugin.store.events import Event, append
from plugin.store.shops import add_shop
from plugin.web.body import decode_json
from plugin.web.responses import json_bytes
from webhooks import shopify
from webhooks.ingest import Ingestor
from webhooks.signatures import hmac_sha256_base64

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
TEMPLATE = SHARED / "webhooks" / "shopify" / "orders_test_notification_raw_2022-05.json"
UCI = SHARED / "online_retail_uci_2010-12_2011-12.csv.gz"
WRK = "/usr/bin/wrk"
CONNECTIONS = 32
DISTINCT_BODIES = 500
DOMAIN = "bench.myshopify.com"
BARE_PATH = "/bench/bare"
# What the bare endpoint answers: the size of shopreco's "accepted" answer.
BARE_ANSWER = b'{"status":"accepted","shop_id":"bench","event_id":"1700000000000-0"}'


# ---- realistic Shopify orders/create bodies ------------------------------------------------


def order_body(template: dict[str, Any], order_id: int, customer_id: int | None,
               lines: Sequence[tuple[str, int, str]], at: datetime) -> bytes:
    """Shopify's captured orders/create notification with its id, customer, time and lines
    replaced; `lines` are (product id, quantity, unit price)."""
    order = copy.deepcopy(template)
    stamp = at.isoformat()
    order.update(id=order_id, name=f"#{order_id}", order_number=order_id, created_at=stamp,
                 updated_at=stamp, processed_at=stamp, cancelled_at=None, closed_at=None,
                 financial_status="paid", admin_graphql_api_id=f"gid://shopify/Order/{order_id}")
    line_template = template["line_items"][0]
    items, total = [], 0.0
    for index, (product, quantity, price) in enumerate(lines):
        line = copy.deepcopy(line_template)
        line_id = order_id * 1000 + index
        line.update(id=line_id, product_id=product, variant_id=f"{product}01",
                    title=f"Product {product}", name=f"Product {product}", quantity=quantity,
                    fulfillable_quantity=quantity, price=price, sku=f"SKU-{product}",
                    admin_graphql_api_id=f"gid://shopify/LineItem/{line_id}")
        items.append(line)
        total += quantity * float(price)
    order["line_items"] = items
    order["total_price"] = order["subtotal_price"] = f"{total:.2f}"
    if customer_id is None:
        order["customer"] = None
    else:
        order["customer"] = {**template["customer"], "id": customer_id,
                             "admin_graphql_api_id": f"gid://shopify/Customer/{customer_id}"}
    return json.dumps(order, separators=(",", ":")).encode()


def synthetic_bodies(n: int, seed: int = 13) -> list[bytes]:
    """n distinct orders of 1-4 lines from 200 products, about 6-9 KB each."""
    template = json.loads(TEMPLATE.read_text())
    rng = random.Random(seed)
    start = datetime(2025, 1, 1, tzinfo=UTC).timestamp()
    return [
        order_body(template, 5_000_000_000 + n, rng.randrange(1, 2000),
                   [(str(7_000_000 + p), rng.randint(1, 3), "19.90")
                    for p in rng.sample(range(200), rng.randint(1, 4))],
                   datetime.fromtimestamp(start + 60 * n, UTC))
        for n in range(n)
    ]


def uci_bodies() -> list[bytes]:
    """Every UCI invoice that is a purchase (not a "C" return or an "A" adjustment; lines of
    positive quantity and price), guests included, as orders/create bodies in order placed."""
    template = json.loads(TEMPLATE.read_text())
    orders: dict[str, list[dict[str, str]]] = {}
    with gzip.open(UCI, "rt", newline="") as handle:
        for row in csv.DictReader(handle):
            if (not row["order_id"].isdigit() or float(row["quantity"]) <= 0
                    or float(row["unit_price"]) <= 0):
                continue
            orders.setdefault(row["order_id"], []).append(row)
    bodies = []
    for order_id, rows in orders.items():
        customer = rows[0]["customer_id"].split(".")[0]
        at = datetime.fromisoformat(rows[0]["ordered_at"]).replace(tzinfo=UTC)
        lines = [(row["product_id"], int(float(row["quantity"])), row["unit_price"])
                 for row in rows]
        bodies.append(order_body(template, int(order_id), int(customer) if customer else None,
                                 lines, at))
    return bodies


# ---- servers -------------------------------------------------------------------------------


def bare_server(port: int) -> None:
    """The baseline: a bare Starlette POST endpoint under uvicorn with shopreco's options."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from plugin.server import make_server

    async def bare(request: Request) -> Response:
        await request.body()
        return Response(BARE_ANSWER, media_type="application/json")

    settings = replace(Settings.from_env({}), log_level="WARNING")
    server = make_server(settings, "127.0.0.1", port)  # shopreco's uvicorn options ...
    server.config.app = Starlette(routes=[Route(BARE_PATH, bare, methods=["POST"])])  # ... bare
    server.run()


def server_env(data_dir: Path, port: int, **extra: str) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items()
                 if not k.startswith("SHOPRECO_") and k != "REDIS_URL"}
    return {**inherited, "SHOPRECO_DATA_DIR": str(data_dir),
            "SHOPRECO_PUBLIC_URL": f"http://127.0.0.1:{port}", "SHOPRECO_LOG_LEVEL": "WARNING",
            **extra}


@contextlib.contextmanager
def process(args: list[str], env: dict[str, str], log_path: Path, port: int,
            settings: Settings | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """A server process until the block ends (SIGTERM, SIGKILL after 30 s); `settings`: its
    embedded Redis, stopped too if the server had to be killed."""
    with log_path.open("wb") as log:
        child = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                 start_new_session=True)
    try:
        wait_until_listening(port, child, log_path)
        yield child
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)  # its session: the server and its workers
                child.wait()
                if settings is not None:
                    asyncio.run(_stop_embedded(settings))


async def _stop_embedded(settings: Settings) -> None:
    async with open_redis(settings):  # the last client to leave stops it
        pass


def wait_until_listening(port: int, child: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise RuntimeError(f"{child.args!r} exited with {child.returncode}:\n"
                               f"{log_path.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            httpx.post(f"http://127.0.0.1:{port}/", timeout=2)
            return
        time.sleep(0.2)
    raise RuntimeError(f"{child.args!r} did not listen on port {port} within 120 s")


def serve_args(port: int, extra: Sequence[str] = ()) -> list[str]:
    return [sys.executable, "-m", "plugin.cli", "serve", "--port", str(port), *extra]


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def register_shop(settings: Settings) -> tuple[str, str]:
    """Shop "bench" (Shopify, DOMAIN); its webhook secret and API key."""
    async with open_redis(settings) as redis:
        new = await add_shop(redis, "bench", "shopify", DOMAIN, "")
    return new.shop.webhook_secrets[0].reveal(), new.api_key


# ---- 1. intake under wrk -------------------------------------------------------------------

LUA = """
local bodies = {%(bodies)s}
local signatures = {%(signatures)s}
local prefix, path, counter = "", "", 0
function init(args)
  prefix, path = args[1], args[2]
end
function request()
  counter = counter + 1
  local i = counter %% #bodies + 1
  return wrk.format("POST", path, {
    ["Content-Type"] = "application/json",
    ["X-Shopify-Topic"] = "orders/create",
    ["X-Shopify-Shop-Domain"] = "%(domain)s",
    ["X-Shopify-Api-Version"] = "2025-01",
    ["X-Shopify-Hmac-Sha256"] = signatures[i],
    ["X-Shopify-Webhook-Id"] = prefix .. counter,
  }, bodies[i])
end
"""


def lua_string(data: bytes) -> str:
    return "[==[" + data.decode() + "]==]"


def write_wrk_script(path: Path, bodies: list[bytes], secret: str) -> None:
    signatures = [hmac_sha256_base64(secret.encode(), body) for body in bodies]
    path.write_text(LUA % {
        "bodies": ",\n".join(lua_string(body) for body in bodies),
        "signatures": ",".join(f'"{s}"' for s in signatures), "domain": DOMAIN})


@dataclass(frozen=True)
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: str  # socket errors and non-2xx answers as wrk reports them; "" for none


def run_wrk(url: str, script: Path, seconds: int, prefix: str, path: str) -> WrkResult:
    out = subprocess.run(
        [WRK, "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", "-s", str(script), url,
         "--", prefix, path], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])  # type: ignore[index]
    requests = int(re.search(r"(\d+) requests in", out)[1])  # type: ignore[index]
    errors = " ".join(re.findall(r"(Socket errors:.*|Non-2xx or 3xx responses: \d+)", out))
    return WrkResult(rps, _latency(out, "50%"), _latency(out, "99%"), requests, errors)


def _latency(out: str, share: str) -> float:
    value, unit = re.search(rf"{share}\s+([\d.]+)(us|ms|s)\b", out).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def bench_intake(seconds: int, rounds: int, server_settings: dict[str, str],
                 serve_extra: Sequence[str]) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="shopreco-bench-intake-"))
    try:
        settings = replace(Settings.from_env({}), data_dir=data_dir)
        secret, _api_key = asyncio.run(register_shop(settings))
        bodies = synthetic_bodies(DISTINCT_BODIES)
        script = data_dir / "intake.lua"
        write_wrk_script(script, bodies, secret)
        sizes = sorted(len(b) for b in bodies)
        print(f"intake: {len(bodies)} distinct signed orders/create bodies, "
              f"{sizes[0]}-{sizes[-1]} bytes (median {sizes[len(sizes) // 2]}); wrk -t1 "
              f"-c{CONNECTIONS} -d{seconds}s, {rounds} interleaved rounds", flush=True)
        bare_port, reco_port = free_port(), free_port()
        results: dict[str, list[WrkResult]] = {"bare": [], "shopreco": []}
        total_requests = 0
        with (process([sys.executable, __file__, "--bare-server", str(bare_port)],
                      server_env(data_dir, bare_port), data_dir / "bare.log", bare_port),
              process(serve_args(reco_port, serve_extra),
                      server_env(data_dir, reco_port, **server_settings),
                      data_dir / "serve.log", reco_port, settings)):
            for round_number in range(rounds):
                for name, port, path in (("bare", bare_port, BARE_PATH),
                                         ("shopreco", reco_port, "/webhooks/shopify")):
                    result = run_wrk(f"http://127.0.0.1:{port}", script, seconds,
                                     f"r{round_number}-{name}-", path)
                    results[name].append(result)
                    if name == "shopreco":
                        total_requests += result.requests
                    print(f"  round {round_number + 1} {name:<9}{result.rps:9.0f} req/s   "
                          f"p50 {result.p50_ms:6.2f} ms   p99 {result.p99_ms:6.2f} ms"
                          f"{'   ' + result.errors if result.errors else ''}", flush=True)
            stats, length = asyncio.run(_stream_stats(settings))
        report_intake(results)
        print(f"  check: {total_requests} requests answered, shop counted "
              f"{stats.get('accepted', 0)} accepted and {stats.get('duplicates', 0)} "
              f"duplicates; {length} events in the stream")
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


async def _stream_stats(settings: Settings) -> tuple[dict[str, int], int]:
    async with open_redis(settings) as redis:
        raw = await redis.hgetall(keys.stats("bench"))
        length = await redis.xlen(keys.events("bench"))
    return {text(k): int(v) for k, v in raw.items()}, int(length)


def report_intake(results: dict[str, list[WrkResult]]) -> None:
    bare_rps = statistics.median(r.rps for r in results["bare"])
    reco_rps = statistics.median(r.rps for r in results["shopreco"])
    bare_p99 = statistics.median(r.p99_ms for r in results["bare"])
    reco_p99 = statistics.median(r.p99_ms for r in results["shopreco"])
    print(f"intake medians: bare {bare_rps:.0f} req/s (p99 {bare_p99:.2f} ms), "
          f"POST /webhooks/shopify {reco_rps:.0f} req/s (p99 {reco_p99:.2f} ms): "
          f"ratio {reco_rps / bare_rps:.2f}x of bare (goal >= 0.5), p99 {reco_p99 / bare_p99:.1f}x")


# ---- 2. drain rate -------------------------------------------------------------------------


async def fill_stream(redis: Any, bodies: list[bytes], n: int) -> None:
    """n distinct orders/create events of the shop "bench" in its stream, as intake stores
    them, with the order the receiver made of the body (orders numbered past the distinct
    bodies reuse their lines under a new id)."""
    batch = []
    for index in range(n):
        body = bodies[index % len(bodies)]
        if index >= len(bodies):
            body = body.replace(b'{"id":5', b'{"id":6%05d' % (index // len(bodies)), 1)
        order = shopify.ADAPTER.check("orders/create", decode_json(body))
        batch.append(append(redis, "bench", Event("shopify", "orders/create", f"d-{index}",
                                                  body, api_version="2025-01",
                                                  order=json_bytes(order))))
        if len(batch) == 64:
            await asyncio.gather(*batch)
            batch = []
    await asyncio.gather(*batch)


async def drain_rate(n: int) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="shopreco-bench-drain-"))
    try:
        settings = replace(Settings.from_env({}), data_dir=data_dir)
        await register_shop(settings)
        bodies = synthetic_bodies(DISTINCT_BODIES)
        async with open_redis(settings) as redis:
            await fill_stream(redis, bodies, n)
            ingestor = Ingestor(redis, consumer="bench-drain")
            started, cpu = time.perf_counter(), time.process_time()
            processed = 0
            while count := await ingestor.read_once(["bench"]):
                processed += count
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            stored = await redis.hlen(keys.orders("bench"))
            pending = (await redis.xpending(keys.events("bench"), "ingest"))["pending"]
        print(f"drain: {processed} orders/create events (about {len(bodies[0]) // 1000} KB) in "
              f"{elapsed:.2f} s: {processed / elapsed:.0f} events/s (goal >= 2000), worker CPU "
              f"{cpu / elapsed:.0%} of one core; {stored} orders stored, {pending} pending",
              flush=True)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


# ---- 3. UCI replay -------------------------------------------------------------------------


def signed_request(body: bytes, secret: str, webhook_id: str) -> bytes:
    head = (f"POST /webhooks/shopify HTTP/1.1\r\nHost: bench\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"X-Shopify-Topic: orders/create\r\nX-Shopify-Shop-Domain: {DOMAIN}\r\n"
            f"X-Shopify-Webhook-Id: {webhook_id}\r\nX-Shopify-Api-Version: 2025-01\r\n"
            f"X-Shopify-Hmac-Sha256: {hmac_sha256_base64(secret.encode(), body)}\r\n\r\n")
    return head.encode() + body


async def post_all(port: int, requests: list[bytes]) -> dict[int, int]:
    """Send every request over CONNECTIONS keep-alive connections (a minimal HTTP/1.1
    client: httpx would be the bottleneck); the count of each answer status."""
    queue = list(reversed(requests))
    statuses: dict[int, int] = {}

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while queue:
                writer.write(queue.pop())
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                length = int(re.search(rb"(?i)content-length: (\d+)", head)[1])  # type: ignore[index]
                await reader.readexactly(length)
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(CONNECTIONS)))
    return statuses


async def uci_replay() -> None:
    bodies = uci_bodies()
    data_dir = Path(tempfile.mkdtemp(prefix="shopreco-bench-uci-"))
    try:
        settings = replace(Settings.from_env({}), data_dir=data_dir)
        secret, api_key = await register_shop(settings)
        requests = [signed_request(body, secret, f"uci-{n}") for n, body in enumerate(bodies)]
        sizes = sorted(len(b) for b in bodies)
        print(f"uci: {len(bodies)} orders as orders/create webhooks, median "
              f"{sizes[len(sizes) // 2] // 1000} KB, {sum(sizes) / 1e6:.0f} MB in all; "
              f"tuning budget {settings.tuning_seconds} s", flush=True)
        port = free_port()
        with process(serve_args(port), server_env(data_dir, port), data_dir / "serve.log", port,
                     settings):
            started = time.perf_counter()
            statuses = await post_all(port, requests)
            posted = time.perf_counter() - started
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=600,
                                         headers={"Authorization": f"Bearer {api_key}"}) as api:
                info = (await api.get("/api/v1/shops/bench/model")).json()
                stored = info["stats"].get("order_changes", 0)
                trained = await api.post("/api/v1/shops/bench/model/train",
                                         params={"wait": "true"})
                trained_at = time.perf_counter() - started
                answer = await api.get("/api/v1/shops/bench/recommendations/trending")
                served = time.perf_counter() - started
        items = len(answer.json().get("items", [])) if answer.status_code == 200 else 0
        print(f"uci: POSTs {posted:.1f} s ({len(bodies) / posted:.0f} webhooks/s, answers "
              f"{statuses}, {stored} orders stored by then); drained and trained at "
              f"{trained_at:.1f} s (HTTP "
              f"{trained.status_code}); first recommendation at {served:.1f} s (HTTP "
              f"{answer.status_code}, {items} items). Goal <= 60 s + "
              f"{settings.tuning_seconds} s", flush=True)
        if trained.status_code != 200:
            print(f"  train answered: {trained.text[:500]}")
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=6, help="length of one wrk round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--drain-events", type=int, default=20_000)
    parser.add_argument("--skip", default="", help="comma-separated: intake, drain, uci")
    parser.add_argument("--server-setting", action="append", default=[], metavar="NAME=VALUE",
                        help="a SHOPRECO_* variable for the intake's shopreco serve "
                             "(e.g. SHOPRECO_RUN_WORKER=false to see intake alone)")
    parser.add_argument("--serve-args", default="",
                        help="more arguments of the intake's `shopreco serve` (e.g. "
                             "'--workers 1': ingestion in a process of its own)")
    parser.add_argument("--bare-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        bare_server(args.bare_server)
        return
    skip = set(filter(None, args.skip.split(",")))
    one, five, fifteen = os.getloadavg()
    print(f"load average before the run: {one:.2f} {five:.2f} {fifteen:.2f} "
          f"({os.cpu_count()} cores)", flush=True)
    if "intake" not in skip:
        bench_intake(args.seconds, args.rounds,
                     dict(setting.split("=", 1) for setting in args.server_setting),
                     args.serve_args.split())
    if "drain" not in skip:
        asyncio.run(drain_rate(args.drain_events))
    if "uci" not in skip:
        if UCI.exists():
            asyncio.run(uci_replay())
        else:
            print(f"uci: {UCI} is missing; skipped")


if __name__ == "__main__":
    main()
