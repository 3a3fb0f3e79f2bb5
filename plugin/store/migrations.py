"""Data migrations that run by themselves when a process opens the store (the app's lifespan,
`shopreco worker`): each runs once per installation, is idempotent, and is recorded by name in
the MIGRATIONS set, so later starts cost one SMEMBERS.

input-boundary-1: stored orders and catalog entries written before today's field rules
(plugin.store.fields). An order is repaired where a rule only normalises (an upper-cased
currency, a title cut to length, an id written as a number) and moved to the shop's quarantine
hash otherwise; a catalog entry is normalised (unsafe URLs dropped) or removed and marked
unavailable.

order-facts-1: the lifecycle fact (plugin.store.facts) of every order stored before the order
store wrote one with each order. Runs after input-boundary-1, so only orders within the field
rules become facts.

seal-tokens-1: platform access tokens stored in clear before they were sealed
(plugin.store.sealing) are sealed under the keyring's first key.

order-lines-1: the training lines (plugin.store.lines) of every order stored before the order
store wrote them with each order; then each shop's records are marked complete, and training
reads them instead of the orders.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields
from typing import Any, NamedTuple

import redis.asyncio as aioredis

from plugin.store import changes, keys
from plugin.store.connection import text
from plugin.store.facts import backfill_facts, remove_facts
from plugin.store.fields import MAX_TEXT_CHARS, PayloadError
from plugin.store.lines import backfill_lines, remove_lines, rewrite_lines
from plugin.store.order import Order
from plugin.store.records import catalog_entry
from plugin.store.shops import reseal_token, shop_ids

log = logging.getLogger(__name__)

INPUT_BOUNDARY = "input-boundary-1"
ORDER_FACTS = "order-facts-1"
ORDER_LINES = "order-lines-1"
SEAL_TOKENS = "seal-tokens-1"
PAGE = 500


@dataclass
class Outcome:
    repaired: int = 0
    quarantined: int = 0
    products_fixed: int = 0
    products_removed: int = 0
    facts: int = 0  # orders whose lifecycle fact was written
    lines: int = 0  # orders whose training lines were written
    tokens_sealed: int = 0

    def __add__(self, other: Outcome) -> Outcome:
        return Outcome(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))


class Migration(NamedTuple):
    name: str
    run: Callable[[aioredis.Redis, str], Awaitable[Outcome]]  # one shop
    log_level: int  # of the line saying what it changed


async def migrate(redis: aioredis.Redis) -> dict[str, Outcome]:
    """Run every migration not done yet, in order; what they changed per shop."""
    done = {text(name) for name in await redis.smembers(keys.MIGRATIONS)}
    changed: dict[str, Outcome] = {}
    for migration in MIGRATIONS:
        if migration.name in done:
            continue
        outcomes = {shop_id: await migration.run(redis, shop_id)
                    for shop_id in await shop_ids(redis)}
        await redis.sadd(keys.MIGRATIONS, migration.name)
        moved = {s: o for s, o in outcomes.items() if o != Outcome()}
        for shop_id, outcome in moved.items():  # processes of an older release may cache it
            await changes.note(redis, shop_id, (changes.ALL, ""))
            changed[shop_id] = changed.get(shop_id, Outcome()) + outcome
        if moved:
            log.log(migration.log_level, "migration %s: %s", migration.name, moved)
    return changed


async def migrate_shop(redis: aioredis.Redis, shop_id: str) -> Outcome:
    outcome = Outcome()
    async for raw_id, raw in redis.hscan_iter(keys.orders(shop_id), count=PAGE):
        await _migrate_order(redis, shop_id, raw_id, raw, outcome)
    storefront = await redis.hget(keys.shop_config(shop_id), "storefront_url")
    base = text(storefront) if storefront else None
    async for raw_id, raw in redis.hscan_iter(keys.products(shop_id), count=PAGE):
        await _migrate_product(redis, shop_id, raw_id, raw, base, outcome)
    return outcome


async def _migrate_order(
    redis: aioredis.Redis, shop_id: str, order_id: bytes, raw: bytes, outcome: Outcome
) -> None:
    try:
        Order.from_json(raw)
        return
    except (ValueError, TypeError, KeyError, AttributeError):
        pass
    repaired = _repaired(raw)
    if repaired is not None and repaired.order_id.encode() == order_id:
        async with redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.orders(shop_id), order_id, repaired.to_json())
            rewrite_lines(pipe, shop_id, repaired)
            await pipe.execute()
        outcome.repaired += 1
        return
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(keys.orders_quarantine(shop_id), order_id, raw)
        pipe.hdel(keys.orders(shop_id), order_id)
        pipe.hdel(keys.order_versions(shop_id), order_id)
        remove_facts(pipe, shop_id, [text(order_id)])
        remove_lines(pipe, shop_id, [text(order_id)])
        await pipe.execute()
    outcome.quarantined += 1


def _repaired(raw: bytes) -> Order | None:
    """The order with what only normalises normalised; None if that is not enough."""
    try:
        data: Any = json.loads(raw)
        data["currency"] = str(data.get("currency") or "").strip().upper()
        for field in ("order_id", "customer_id"):
            if isinstance(data.get(field), int) and not isinstance(data[field], bool):
                data[field] = str(data[field])
        for line in data.get("lines") or ():
            if isinstance(line.get("title"), str):
                line["title"] = line["title"][:MAX_TEXT_CHARS]
        return Order.from_json(json.dumps(data))
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


async def _migrate_product(
    redis: aioredis.Redis, shop_id: str, product_id: bytes, raw: bytes, base: str | None,
    outcome: Outcome,
) -> None:
    try:
        stored = json.loads(raw)
        entry = catalog_entry(stored, base)
        if entry["product_id"].encode() != product_id:
            raise PayloadError("the entry names another product")
    except (ValueError, TypeError, AttributeError):
        async with redis.pipeline(transaction=True) as pipe:
            pipe.hdel(keys.products(shop_id), product_id)
            pipe.sadd(keys.unavailable(shop_id), product_id)
            await pipe.execute()
        outcome.products_removed += 1
        return
    if entry != stored:
        await redis.hset(keys.products(shop_id), product_id, json.dumps(entry))
        outcome.products_fixed += 1


async def backfill_shop(redis: aioredis.Redis, shop_id: str) -> Outcome:
    return Outcome(facts=await backfill_facts(redis, shop_id))


async def backfill_lines_of_shop(redis: aioredis.Redis, shop_id: str) -> Outcome:
    return Outcome(lines=await backfill_lines(redis, shop_id))


async def seal_token(redis: aioredis.Redis, shop_id: str) -> Outcome:
    return Outcome(tokens_sealed=int(await reseal_token(redis, shop_id, only_clear=True)))


MIGRATIONS = (
    Migration(INPUT_BOUNDARY, migrate_shop, logging.WARNING),
    Migration(ORDER_FACTS, backfill_shop, logging.INFO),
    Migration(SEAL_TOKENS, seal_token, logging.INFO),
    Migration(ORDER_LINES, backfill_lines_of_shop, logging.INFO),
)
