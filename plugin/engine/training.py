"""Training: stored orders -> a ShopModel, stored versioned in Redis and published atomically."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import asdict

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from plugin.store import keys
from plugin.store.models import ModelInfo, current_model_info, model_lock, publish_model
from plugin.store.order import Order
from plugin.store.records import iter_orders
from plugin.store.shops import shop_ids
from recommender.matrix import Purchase
from recommender.shop_model import Config, ShopModel
from recommender.tuning import TUNING_BUDGET_SECONDS, Choice, train_tuned

log = logging.getLogger(__name__)

# The dirty mark goes only if no order changed while the model trained.
# If orders changed while the model trained, only those changes are untrained: the first of
# them is no earlier than the moment training read the orders (ARGV[2]). Without this, a shop
# with a steady stream of orders would be "overdue" again as soon as each training ended.
_CLEAR_DIRTY = """
if redis.call('HGET', KEYS[1], 'last') == ARGV[1] then return redis.call('DEL', KEYS[1]) end
redis.call('HSET', KEYS[1], 'first', ARGV[2])
return 0
"""


class NothingToTrain(Exception):
    """The shop has no countable orders yet."""


def purchases_of(order: Order) -> list[Purchase]:
    """Purchase lines that count: a cancelled order counts for nothing, a refunded quantity
    stops counting."""
    if order.cancelled:
        return []
    if not order.refunds:  # nothing given back: each line counts as ordered (most orders)
        return [Purchase(order.order_id, order.customer_id, line.product_id, line.quantity,
                         order.created_at) for line in order.lines if line.quantity > 0]
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


# A shop's choice of strategy is made again once it is this old or the shop has this many
# times the orders it was made on (or on request); retraining in between reuses it.
RETUNE_AFTER_SECONDS = 24 * 3600
RETUNE_GROWTH = 1.25


async def train_shop(redis: aioredis.Redis, shop_id: str, lock_wait: float = 600.0,
                     tuning_seconds: float = TUNING_BUDGET_SECONDS,
                     retune: bool = False) -> ModelInfo:
    """Train the shop's model from every stored order and make it the one that serves. Its
    strategy and hyperparameters are chosen on its own history (recommender.tuning) within
    `tuning_seconds`, or reused from the serving model while that choice is recent (see
    RETUNE_AFTER_SECONDS and RETUNE_GROWTH) unless `retune`."""
    async with model_lock(redis, shop_id, lock_wait):
        dirty_mark = await redis.hget(keys.train_dirty(shop_id), "last")
        read_at = time.time()
        started = time.perf_counter()
        purchases, n_orders = await load_purchases(redis, shop_id)
        if not purchases:
            await redis.delete(keys.train_dirty(shop_id))
            raise NothingToTrain(f"shop {shop_id!r} has no orders to learn from yet")
        previous = None if retune else await _recent_choice(redis, shop_id, n_orders)
        if previous is not None:
            model = await asyncio.to_thread(ShopModel.train, purchases, previous.config)
            choice = previous
        else:
            model, choice = await asyncio.to_thread(train_tuned, purchases, tuning_seconds)
            choice = Choice(choice.config, {**choice.report, "chosen_at": time.time(),
                                            "orders": n_orders})
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
            await redis.eval(_CLEAR_DIRTY, 1, keys.train_dirty(shop_id), dirty_mark,
                             repr(read_at))
        log.info("trained shop %s: model %s, %d orders in %.2f s", shop_id, info.version,
                 n_orders, meta["train_seconds"])
        return info


async def _recent_choice(redis: aioredis.Redis, shop_id: str, n_orders: int) -> Choice | None:
    """The serving model's validated choice, if it is recent enough to reuse."""
    info = await current_model_info(redis, shop_id)
    report = info.meta.get("choice") if info else None
    config = info.meta.get("config") if info else None
    if not isinstance(report, dict) or not isinstance(config, dict):
        return None
    if report.get("chosen_by") != "time-split validation":
        return None  # defaults (too little history): try again, it is cheap
    age = time.time() - float(report.get("chosen_at", 0))
    if age > RETUNE_AFTER_SECONDS or n_orders > RETUNE_GROWTH * int(report.get("orders", 0)):
        return None
    return Choice(Config.from_json(json.dumps(config)), report)


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
            if await self.is_due(shop_id):
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

    async def is_due(self, shop_id: str) -> bool:
        """Whether the shop has untrained changes old enough to train now."""
        marks = await self.redis.hgetall(keys.train_dirty(shop_id))
        if b"last" not in marks:
            return False
        now = time.time()
        first, last = float(marks.get(b"first", marks[b"last"])), float(marks[b"last"])
        return now - last >= self.debounce or now - first >= self.max_delay
