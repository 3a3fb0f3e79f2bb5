"""Training: stored orders -> a ShopModel, stored versioned in Redis and published atomically."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from dataclasses import asdict, dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from plugin import keys
from plugin.shops import shop_ids
from plugin.storage import text
from recommender.matrix import Purchase
from recommender.tuning import TUNING_BUDGET_SECONDS, train_tuned
from webhooks.order import Order
from webhooks.records import iter_orders

log = logging.getLogger(__name__)

_RELEASE_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# The dirty mark goes only if no order changed while the model trained.
_CLEAR_DIRTY = """
if redis.call('HGET', KEYS[1], 'last') == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class NothingToTrain(Exception):
    """The shop has no countable orders yet."""


@dataclass(frozen=True)
class ModelInfo:
    version: str
    meta: dict[str, Any]


def purchases_of(order: Order) -> list[Purchase]:
    """Purchase lines that count: a cancelled order counts for nothing, a refunded quantity
    stops counting."""
    if order.cancelled:
        return []
    kept = [(line, order.net_quantity(line)) for line in order.lines]
    return [
        Purchase(order.order_id, order.customer_id, line.product_id, quantity, order.created_at)
        for line, quantity in kept
        if quantity > 0
    ]


async def load_purchases(redis: aioredis.Redis, shop_id: str) -> tuple[list[Purchase], int]:
    purchases: list[Purchase] = []
    orders = 0
    async for order in iter_orders(redis, shop_id):
        lines = purchases_of(order)
        orders += bool(lines)
        purchases += lines
    return purchases, orders


async def train_shop(redis: aioredis.Redis, shop_id: str, lock_wait: float = 600.0,
                     tuning_seconds: float = TUNING_BUDGET_SECONDS) -> ModelInfo:
    """Train the shop's model from every stored order and make it the one that serves: its
    strategy and hyperparameters chosen first on its own history (recommender.tuning) within
    `tuning_seconds`."""
    token = await _acquire_lock(redis, shop_id, lock_wait)
    try:
        dirty_mark = await redis.hget(keys.train_dirty(shop_id), "last")
        started = time.perf_counter()
        purchases, n_orders = await load_purchases(redis, shop_id)
        if not purchases:
            await redis.delete(keys.train_dirty(shop_id))
            raise NothingToTrain(f"shop {shop_id!r} has no orders to learn from yet")
        model, choice = await asyncio.to_thread(train_tuned, purchases, tuning_seconds)
        blob = await asyncio.to_thread(model.to_bytes)
        meta = {
            "trained_at": time.time(),
            "train_seconds": round(time.perf_counter() - started, 3),
            "orders": n_orders,
            "customers": len(model.user_ids),
            "products": len(model.item_ids),
            "strategy": model.config.strategy,
            "config": asdict(model.config),
            "choice": choice.report,
            "model_bytes": len(blob),
        }
        info = await publish_model(redis, shop_id, blob, meta)
        if dirty_mark is not None:
            await redis.eval(_CLEAR_DIRTY, 1, keys.train_dirty(shop_id), dirty_mark)
        log.info("trained shop %s: model %s, %d orders in %.2f s", shop_id, info.version,
                 n_orders, meta["train_seconds"])
        return info
    finally:
        await redis.eval(_RELEASE_LOCK, 1, keys.train_lock(shop_id), token)


async def _acquire_lock(redis: aioredis.Redis, shop_id: str, wait: float) -> str:
    token = secrets.token_hex(8)
    deadline = time.monotonic() + wait
    while not await redis.set(keys.train_lock(shop_id), token, nx=True,
                              ex=keys.TRAIN_LOCK_SECONDS):
        if time.monotonic() > deadline:
            raise TimeoutError(f"shop {shop_id!r} is already training; try again later")
        await asyncio.sleep(0.2)
    return token


async def publish_model(
    redis: aioredis.Redis, shop_id: str, blob: bytes, meta: dict[str, Any]
) -> ModelInfo:
    """Store the new version, then switch `current` to it; keep only it and the previous one."""
    version = str(await redis.incr(keys.model_sequence(shop_id)))
    meta = {"version": version, **meta}
    previous = await redis.get(keys.model_current(shop_id))
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(keys.model(shop_id, version), mapping={"arrays": blob, "meta": json.dumps(meta)})
        pipe.set(keys.model_current(shop_id), version)
        await pipe.execute()
    keep = {version, text(previous) if previous else None}
    async for key in redis.scan_iter(match=keys.model(shop_id, "*"), count=100):
        if text(key).rsplit(":", 1)[1] not in keep:
            await redis.delete(key)
    return ModelInfo(version, meta)


async def current_model_info(redis: aioredis.Redis, shop_id: str) -> ModelInfo | None:
    version = await redis.get(keys.model_current(shop_id))
    if version is None:
        return None
    meta = await redis.hget(keys.model(shop_id, text(version)), "meta")
    return ModelInfo(text(version), json.loads(meta) if meta else {})


class AutoTrainer:
    """Retrains a shop after its orders changed: `debounce` s after the last change, or at
    the latest `max_delay` s after the first untrained one."""

    def __init__(self, redis: aioredis.Redis, debounce: float, max_delay: float,
                 tuning_seconds: float = TUNING_BUDGET_SECONDS) -> None:
        self.redis = redis
        self.debounce = debounce
        self.max_delay = max_delay
        self.tuning_seconds = tuning_seconds

    async def run(self, stop: asyncio.Event, poll: float = 1.0) -> None:
        while not stop.is_set():
            try:
                await self.train_due_shops()
            except RedisError as error:
                log.warning("auto-train: Redis unavailable (%s); retrying", type(error).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=poll)

    async def train_due_shops(self) -> list[str]:
        trained = []
        for shop_id in await shop_ids(self.redis):
            if await self._is_due(shop_id):
                try:
                    await train_shop(self.redis, shop_id, lock_wait=0,
                                     tuning_seconds=self.tuning_seconds)
                    trained.append(shop_id)
                except (NothingToTrain, TimeoutError) as error:
                    log.info("auto-train of %s skipped: %s", shop_id, error)
                except RedisError:
                    raise
                except Exception:  # one shop's failure must not stop the others' training
                    log.exception("auto-train of %s failed", shop_id)
        return trained

    async def _is_due(self, shop_id: str) -> bool:
        marks = await self.redis.hgetall(keys.train_dirty(shop_id))
        if b"last" not in marks:
            return False
        now = time.time()
        first, last = float(marks.get(b"first", marks[b"last"])), float(marks[b"last"])
        return now - last >= self.debounce or now - first >= self.max_delay
