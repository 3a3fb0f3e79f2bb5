"""Benchmark: a soak test of `shopreco serve`: minutes of mixed traffic at half its capacity,
with the server's memory (RSS) watched and every error counted.

    .venv/bin/python bench/soak.py [--minutes 10] [--warmup 2] [--rate REQUESTS_PER_SECOND]
                                   [--orders 6000]

The demo store is trained into a temporary data folder (bench/demo_shop.py), then
`python -m plugin.cli serve` runs on it as a subprocess (embedded Redis, worker included,
SHOPRECO_TRUSTED_PROXIES=127.0.0.1 so the widget limit applies per shopper address; new orders
retrain the shop at least once a minute). First the capacity: requests/s of the mix at 32
concurrent connections for 10 s, and one retraining through the API. Then `--warmup` and
`--minutes` of the same mix paced at `--rate` (default: half the capacity): signed Shopify
order webhooks (new, duplicate, cancellation), API calls, widget calls for every placement,
widget event batches, and bad requests (wrong signature, malformed JSON, oversized body,
unknown shop) that must get their 4xx. Goals: 0 errors (5xx, connection error, timeout,
unexpected answer, ERROR in the server log) and RSS growth under 5% from the end of the
warm-up to the end (a leak keeps growing; the warm-up is when the process's bounded caches of
answers and histories fill; the growth over the whole paced phase is printed too); the exit
code is 1 if one is missed.
Nothing is left behind: the server is stopped and the folder removed, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from demo_shop import trained_demo_shop  # bench/demo_shop.py (the script's folder)
from soak_traffic import Call, Traffic

from plugin.config import Settings
from plugin.store.connection import open_redis
from plugin.store.shops import Shop, get_shop

ROOT = Path(__file__).resolve().parents[1]
CAPACITY_SECONDS = 10
CAPACITY_CONNECTIONS = 32
MAX_IN_FLIGHT = 64  # paced phase: a slower server makes the pace slip, not the queue grow
TIMEOUT_SECONDS = 10
STOP_SECONDS = 30  # for the server to stop on SIGTERM before it is killed
RSS_GOAL_PERCENT = 5.0
RETRAIN_SECONDS = 60  # new orders keep coming: the worker retrains (and swaps models) this often
MB = 1024 * 1024


@dataclass
class Stats:
    sent: Counter[str] = field(default_factory=Counter)  # per kind
    classes: Counter[str] = field(default_factory=Counter)  # "2xx", "4xx", ...
    errors: Counter[str] = field(default_factory=Counter)  # "what: kind"
    latencies: defaultdict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    @property
    def total(self) -> int:
        return sum(self.sent.values())


def unexpected(call: Call, response: httpx.Response) -> str | None:
    """What is wrong with the answer, or None if it is the one the call must get."""
    status = response.status_code
    if status >= 500:
        return f"{status} (5xx)"
    if status != call.expect:
        return f"unexpected {status} (expected {call.expect})"
    if call.expect_status is not None:
        is_json = response.headers.get("content-type", "").startswith("application/json")
        answer = response.json().get("status") if is_json else None
        if answer != call.expect_status:
            return f"answered {answer!r} (expected {call.expect_status!r})"
    return None


async def send(client: httpx.AsyncClient, traffic: Traffic, call: Call, stats: Stats) -> None:
    stats.sent[call.kind] += 1
    started = time.perf_counter()
    try:
        response = await client.request(call.method, call.url, headers=call.headers,
                                         content=call.content)
    except httpx.TimeoutException:
        stats.errors[f"timeout: {call.kind}"] += 1
        return
    except httpx.HTTPError as error:
        stats.errors[f"connection error {type(error).__name__}: {call.kind}"] += 1
        return
    stats.latencies[call.kind].append(time.perf_counter() - started)
    stats.classes[f"{response.status_code // 100}xx"] += 1
    problem = unexpected(call, response)
    if problem is None:
        traffic.answered(call)
    else:
        stats.errors[f"{problem}: {call.kind}"] += 1


async def capacity(client: httpx.AsyncClient, traffic: Traffic, stats: Stats) -> float:
    """Requests/s of the mix, flat out at CAPACITY_CONNECTIONS concurrent connections."""
    started = time.monotonic()
    deadline = started + CAPACITY_SECONDS

    async def connection() -> None:
        while time.monotonic() < deadline:
            await send(client, traffic, traffic.draw(), stats)

    await asyncio.gather(*(connection() for _ in range(CAPACITY_CONNECTIONS)))
    return stats.total / (time.monotonic() - started)


async def paced(
    client: httpx.AsyncClient, traffic: Traffic, rate: float, seconds: float, stats: Stats
) -> float:
    """Start a call every 1/rate s for `seconds` (at most MAX_IN_FLIGHT at once); the rate
    achieved."""
    slots = asyncio.Semaphore(MAX_IN_FLIGHT)
    running: set[asyncio.Task[None]] = set()

    async def one(call: Call) -> None:
        try:
            await send(client, traffic, call, stats)
        finally:
            slots.release()

    started = time.monotonic()
    n = 0
    while (due := started + n / rate) < started + seconds:
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        await slots.acquire()
        task = asyncio.create_task(one(traffic.draw()))
        running.add(task)
        task.add_done_callback(running.discard)
        n += 1
    await asyncio.gather(*running)
    return n / (time.monotonic() - started)


async def retrain(client: httpx.AsyncClient, traffic: Traffic) -> str:
    """Train once in the server before the paced phase: its RSS then counts a model swap."""
    response = await client.post(f"{traffic.api.removesuffix('/recommendations')}/model/train",
                                 params={"wait": "true"}, headers=traffic.auth, timeout=300)
    if response.status_code != 200:
        return f"warm-up retraining answered {response.status_code}"
    return f"warm-up retraining: model {response.json()['model_version']}"


def rss_bytes(pid: int) -> int:
    try:
        import psutil
    except ImportError:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError(f"no VmRSS in /proc/{pid}/status") from None
    return int(psutil.Process(pid).memory_info().rss)


async def sample_rss(pid: int, interval: float, samples: list[tuple[float, int]]) -> None:
    while True:
        samples.append((time.monotonic(), rss_bytes(pid)))
        await asyncio.sleep(interval)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_env(data_dir: Path, base: str) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items()
                 if not k.startswith("SHOPRECO_") and k != "REDIS_URL"}
    return {**inherited, "SHOPRECO_DATA_DIR": str(data_dir), "SHOPRECO_PUBLIC_URL": base,
            "SHOPRECO_TRUSTED_PROXIES": "127.0.0.1", "SHOPRECO_RETRAIN_DEBOUNCE_SECONDS": "10",
            "SHOPRECO_RETRAIN_MAX_DELAY_SECONDS": str(RETRAIN_SECONDS)}


@contextlib.asynccontextmanager
async def running_server(
    settings: Settings, port: int, log_path: Path
) -> AsyncIterator[subprocess.Popen[bytes]]:
    """`shopreco serve` on the data folder until the block ends; then SIGTERM (SIGKILL after
    STOP_SECONDS, and then the embedded Redis it leaves running is stopped too)."""
    base = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "plugin.cli", "serve", "--port", str(port)], cwd=ROOT,
            env=server_env(settings.data_dir, base), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)  # Ctrl-C reaches only us: we stop it in order
    try:
        await until_healthy(base, process, log_path)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                async with open_redis(settings):  # the last client to leave stops it
                    pass


async def until_healthy(base: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 120
    async with httpx.AsyncClient(base_url=base, timeout=2) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"shopreco serve exited with {process.returncode}:\n"
                                   f"{log_path.read_text()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get("/healthz")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise RuntimeError("shopreco serve did not answer /healthz within 120 s")


async def bench_shop(settings: Settings) -> Shop:
    async with open_redis(settings) as redis:
        shop = await get_shop(redis, "bench")
    if shop is None:
        raise RuntimeError("the demo shop 'bench' is missing from the data folder")
    return shop


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def read_log(log_path: Path) -> list[str]:
    """Print what the server log tells (retrainings, warnings); return its ERROR lines."""
    lines = log_path.read_text(errors="replace").splitlines()
    trained = [line for line in lines if "trained shop bench" in line]
    last = re.search(r"(\d+) orders", trained[-1]) if trained else None
    warnings = [line for line in lines if re.search(r"\bWARNING\b", line)]
    errors = [line for line in lines if re.search(r"\bERROR\b|\bCRITICAL\b|^Traceback", line)]
    print(f"server log: {len(trained)} trainings" + (f" (the last on {last[1]} orders)"
          if last else "") + f", {len(warnings)} warnings, {len(errors)} errors")
    for line in warnings[:3]:
        print(f"  {line[:160]}")
    return errors


def report(stats: Stats, seconds: float, rate: float, achieved: float) -> None:
    print(f"\npaced phase: {seconds / 60:.1f} min at {rate:.1f} req/s (achieved {achieved:.1f}), "
          f"{stats.total} requests")
    print(f"{'kind':<26}{'sent':>8}{'p50 ms':>10}{'p99 ms':>10}")
    for kind in sorted(stats.sent):
        latencies = stats.latencies[kind] or [float("nan")]
        print(f"{kind:<26}{stats.sent[kind]:>8}{statistics.median(latencies) * 1000:>10.1f}"
              f"{percentile(latencies, 0.99) * 1000:>10.1f}")
    print("answers: " + ", ".join(f"{c} {n}" for c, n in sorted(stats.classes.items())))


def verdict(errors: Counter[str], log_errors: list[str], timed: list[tuple[float, int]],
            warmup_seconds: float) -> bool:
    """Print errors and memory against the goals; True if both are met. The memory goal is
    the growth after the warm-up (the process's bounded caches fill in it); the growth over
    the whole paced phase is printed beside it."""
    count = sum(errors.values()) + len(log_errors)
    print(f"errors: {count} (goal 0)")
    for what, n in errors.most_common():
        print(f"  {n:>6}  {what}")
    for line in log_errors[:10]:
        print(f"  server log: {line[:160]}")
    samples = [rss for _at, rss in timed]
    began = timed[0][0]
    steady = [rss for at, rss in timed if at - began >= warmup_seconds] or samples[-1:]
    first, start, end = samples[0], steady[0], samples[-1]
    whole = (end - first) / first * 100
    growth = (end - start) / start * 100
    print(f"server RSS: paced phase began at {first / MB:.1f} MB; after the "
          f"{warmup_seconds / 60:g} min warm-up {start / MB:.1f} MB, end {end / MB:.1f} MB, peak "
          f"{max(samples) / MB:.1f} MB ({len(samples)} samples)")
    print(f"  growth after the warm-up {growth:+.1f}% (goal < {RSS_GOAL_PERCENT:g}%); over the "
          f"whole paced phase {whole:+.1f}%")
    step = max(1, len(samples) // 10)
    print("  trend MB: " + " ".join(f"{s / MB:.1f}" for s in samples[::step]))
    ok = count == 0 and growth < RSS_GOAL_PERCENT
    print("PASS" if ok else "FAIL")
    return ok


async def soak(minutes: float, rate: float | None, n_orders: int, warmup: float) -> bool:
    async with trained_demo_shop(n_orders) as demo:
        shop = await bench_shop(demo.settings)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log_path = demo.settings.data_dir / "serve.log"
        traffic = Traffic(base, demo, shop, demo.settings.max_body_bytes)
        limits = httpx.Limits(max_connections=MAX_IN_FLIGHT,
                              max_keepalive_connections=MAX_IN_FLIGHT)
        async with (running_server(demo.settings, port, log_path) as server,
                    httpx.AsyncClient(timeout=TIMEOUT_SECONDS, limits=limits) as client):
            first = Stats()
            capacity_rate = await capacity(client, traffic, first)
            target = rate or capacity_rate / 2
            print(f"demo shop: {n_orders} orders, {len(demo.customers)} customers; capacity "
                  f"{capacity_rate:.1f} req/s at {CAPACITY_CONNECTIONS} connections "
                  f"({first.total} requests, {sum(first.errors.values())} errors)", flush=True)
            print(f"{await retrain(client, traffic)}; pacing at {target:.1f} req/s for "
                  f"{warmup:g} min of warm-up and {minutes:g} min measured", flush=True)
            seconds = (warmup + minutes) * 60
            samples: list[tuple[float, int]] = []
            sampler = asyncio.create_task(
                sample_rss(server.pid, min(5.0, max(1.0, seconds / 30)), samples))
            stats = Stats()
            try:
                achieved = await paced(client, traffic, target, seconds, stats)
            finally:
                sampler.cancel()
            samples.append((time.monotonic(), rss_bytes(server.pid)))
        report(stats, seconds, target, achieved)
        return verdict(first.errors + stats.errors, read_log(log_path), samples, warmup * 60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0,
                        help="length of the measured paced phase (default 10; 0.5 for a quick "
                             "check)")
    parser.add_argument("--warmup", type=float, default=2.0,
                        help="minutes paced before the memory is measured, while the bounded "
                             "per-process caches fill (default 2)")
    parser.add_argument("--rate", type=float, default=None,
                        help="requests/s of the paced phase (default: half the capacity)")
    parser.add_argument("--orders", type=int, default=6000, help="orders of the demo store")
    args = parser.parse_args()
    if args.minutes <= 0 or args.warmup < 0 or (args.rate is not None and args.rate <= 0):
        parser.error("--minutes and --rate must be positive, --warmup at least 0")
    try:
        return 0 if asyncio.run(soak(args.minutes, args.rate, args.orders, args.warmup)) else 1
    except KeyboardInterrupt:
        print("interrupted; the server is stopped and its folder removed", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
