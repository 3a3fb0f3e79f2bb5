"""Training: stored orders -> a ShopModel, stored versioned in Redis and published atomically."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import asdict
from typing import Any, cast

import numpy as np
import orjson
import redis.asyncio as aioredis

from plugin.store import keys
from plugin.store.connection import UNAVAILABLE
from plugin.store.history import net_quantities
from plugin.store.lines import parse_lines, read_records
from plugin.store.models import ModelInfo, current_model_info, model_lock, publish_model
from plugin.store.order import Order
from plugin.store.records import stored_order_pages
from plugin.store.shops import shop_ids
from recommender.matrix import Purchase, PurchaseLines, coded
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
    """purchases_of every stored order, and how many orders have a purchase."""
    lines, orders = await load_lines(redis, shop_id)
    return lines.purchases(), orders


async def load_lines(redis: aioredis.Redis, shop_id: str) -> tuple[PurchaseLines, int]:
    """load_purchases as columns: the lines purchases_of keeps of every stored order, in no
    particular order, and how many orders have one; from the shop's training lines once every
    order has its record (plugin.store.lines: one read and a few numpy steps), else from the
    stored orders (lines_of_orders)."""
    records = await read_records(redis, shop_id)
    return parse_lines(records) if records is not None else await lines_of_orders(redis, shop_id)


async def lines_of_orders(redis: aioredis.Redis, shop_id: str) -> tuple[PurchaseLines, int]:
    """load_lines read from the stored orders' JSON, in the order read, without an object per
    order or line (on UCI Online Retail a sixth of the time Order objects took)."""
    columns = _LineColumns()
    async for page in stored_order_pages(redis, shop_id):
        for order in _stored_json(page):
            columns.add(order)
    return columns.lines(), len(columns.counts)


def _stored_json(page: list[bytes]) -> list[dict[str, Any]]:
    """Orders as Order.to_json wrote them, read as one JSON array by orjson, which reads them
    as the json module does when it accepts them at all (plugin.web.body); an order it
    refuses (a lone surrogate) and those of its page are read one by one, by the json module
    if need be."""
    with contextlib.suppress(orjson.JSONDecodeError):
        orders = orjson.loads(b"[%b]" % b",".join(page))
        if len(orders) == len(page):  # each stored value is one JSON object
            return cast(list[dict[str, Any]], orders)
    return [_one_json(raw) for raw in page]


def _one_json(raw: bytes) -> dict[str, Any]:
    try:
        return cast(dict[str, Any], orjson.loads(raw))
    except orjson.JSONDecodeError:
        return cast(dict[str, Any], json.loads(raw))


class _LineColumns:
    """The columns of PurchaseLines, filled an order at a time."""

    def __init__(self) -> None:
        self.products: list[str] = []  # per line kept
        self.quantities: list[int] = []
        self.counts: list[int] = []  # per order with a line kept: how many
        self.orders: list[str] = []
        self.customers: list[str | None] = []
        self.times: list[float] = []

    def add(self, order: dict[str, Any]) -> None:
        """purchases_of an order as Order.to_json wrote it (its fields checked when stored)."""
        if order["cancelled"]:
            return
        lines = order["lines"]
        quantities = net_quantities(lines, order.get("refunds"))
        if not quantities or min(quantities) <= 0:
            lines = [line for line, kept in zip(lines, quantities, strict=True) if kept > 0]
            quantities = [kept for kept in quantities if kept > 0]
            if not quantities:
                return
        self.products += [line["product_id"] for line in lines]
        self.quantities += quantities
        self.counts.append(len(quantities))
        self.orders.append(order["order_id"])
        self.customers.append(order["customer_id"])
        self.times.append(order["created_at"])

    def lines(self) -> PurchaseLines:
        counts = np.array(self.counts, np.int64)
        (orders, order_codes), (customers, customer_codes), (products, product_codes) = \
            coded(self.orders), coded(self.customers), coded(self.products)
        return PurchaseLines(
            orders, customers, products, np.repeat(order_codes, counts),
            np.repeat(customer_codes, counts), product_codes,
            np.array(self.quantities, np.int64), np.repeat(np.array(self.times), counts))


# A shop's choice of strategy is made again once it is this old or the shop has this many
# times the orders it was made on (or on request); retraining in between reuses it.
RETUNE_AFTER_SECONDS = 24 * 3600
RETUNE_GROWTH = 1.25


async def train_shop(redis: aioredis.Redis, shop_id: str, lock_wait: float = 600.0,
                     tuning_seconds: float = TUNING_BUDGET_SECONDS,
                     retune: bool = False, if_marked: bool = False) -> ModelInfo:
    """Train the shop's model from every stored order and make it the one that serves. Its
    strategy and hyperparameters are chosen on its own history (recommender.tuning) within
    `tuning_seconds`, or reused from the serving model while that choice is recent (see
    RETUNE_AFTER_SECONDS and RETUNE_GROWTH) unless `retune`. With `if_marked` (a trainer
    that found the shop due), only if it is still marked for retraining once the lock is
    held: another trainer may have trained it meanwhile (NothingToTrain)."""
    async with model_lock(redis, shop_id, lock_wait):
        dirty_mark = await redis.hget(keys.train_dirty(shop_id), "last")
        if if_marked and dirty_mark is None:
            raise NothingToTrain(f"shop {shop_id!r} was trained meanwhile")
        read_at = time.time()
        started = time.perf_counter()
        lines, n_orders = await load_lines(redis, shop_id)
        if not len(lines):
            await redis.delete(keys.train_dirty(shop_id))
            raise NothingToTrain(f"shop {shop_id!r} has no orders to learn from yet")
        previous = None if retune else await _recent_choice(redis, shop_id, n_orders)
        if previous is not None:
            model = await asyncio.to_thread(ShopModel.train, lines, previous.config)
            choice = previous
        else:
            model, choice = await asyncio.to_thread(_train_tuned, lines, tuning_seconds)
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


def _train_tuned(lines: PurchaseLines, tuning_seconds: float) -> tuple[ShopModel, Choice]:
    """train_tuned on the lines (its validation reads Purchase objects)."""
    return train_tuned(lines.purchases(), tuning_seconds)


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
            except UNAVAILABLE as error:
                log.warning("auto-train: Redis unavailable (%s); retrying", type(error).__name__)
            except Exception:  # the loop outlives anything (see webhooks.ingest.Ingestor.run)
                log.exception("auto-train: a round failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=poll)

    async def train_due_shops(self) -> list[str]:
        trained = []
        for shop_id in await shop_ids(self.redis):
            if await self.is_due(shop_id):
                try:
                    await train_shop(self.redis, shop_id, lock_wait=0,
                                     tuning_seconds=self.tuning_seconds, if_marked=True)
                    trained.append(shop_id)
                except (NothingToTrain, TimeoutError) as error:
                    log.info("auto-train of %s skipped: %s", shop_id, error)
                except UNAVAILABLE:
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
