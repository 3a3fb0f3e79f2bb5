"""Erasure: one customer's data erased now (orders, their lifecycle facts and training lines, raw
events and dead letters naming them, any other per-shop value naming them, their rows in every
stored model version), or a whole shop. Aggregates hold no identity; the shop is marked for
retraining so they are rebuilt."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from plugin.store import changes, keys
from plugin.store.browsing import note_every_visitor
from plugin.store.connection import text
from plugin.store.facts import remove_facts
from plugin.store.lines import remove_lines
from plugin.store.models import ModelInfo, load_model, model_keys, model_lock, publish_model
from plugin.store.order import email_customer_id
from plugin.store.privacy import PAGE, Subject, decode_value, find_subject, stream_entries
from plugin.store.shops import Shop, get_shop
from plugin.store.tracking import erase_customer_tracking
from recommender.shop_model import ShopModel

# A training in progress may have read the customer's orders: the model is rewritten after it.
MODEL_LOCK_WAIT_SECONDS = 600.0


@dataclass(frozen=True)
class Erasure:
    """What one customer's erasure removed, and the model version serving since."""

    orders: int  # stored orders
    events: int  # raw webhook events
    dead_letters: int
    other: int  # fields, members or keys of other per-shop data (pending refunds, exports)
    model_rows: int  # stored model versions that held a row for them
    model_versions_deleted: int
    model_version: str | None  # the cleaned version published, if one was needed


async def erase_customer(
    redis: aioredis.Redis, shop_id: str, customer_id: str, email: str | None = None,
    order_ids: Iterable[str] = (),
) -> Erasure:
    """Erase one customer now: their orders (and `order_ids`), every raw event and dead letter
    mentioning them, any other per-shop data naming them, and their rows in the served model
    (a cleaned copy is published as a new version; every other version is deleted). The shop
    is marked for retraining so the aggregates are rebuilt without them."""
    subject = await find_subject(redis, shop_id, customer_id, email, order_ids)
    orders = await _erase_orders(redis, shop_id, subject)
    await redis.delete(*(keys.customer_orders(shop_id, cid)
                         for cid in {customer_id, email_customer_id(email)} if cid))
    other = await _erase_elsewhere(redis, shop_id, subject)
    other += await erase_customer_tracking(redis, shop_id, customer_id)  # widget clicks
    await note_every_visitor(redis, shop_id)  # every process drops the browsing it holds
    rows, deleted, version = await _erase_from_models(redis, shop_id, customer_id)
    by_email = email_customer_id(email)
    if by_email and by_email != customer_id:  # the same person's orders imported by e-mail
        more_rows, more_deleted, newer = await _erase_from_models(redis, shop_id, by_email)
        rows, deleted, version = rows + more_rows, deleted + more_deleted, newer or version
    if orders or rows:
        await _mark_for_retraining(redis, shop_id)
    # Events last: a customers/redact being processed is acknowledged here, so a worker
    # draining the stream sees the erasure complete once nothing is pending.
    dead_letters = await _erase_entries(redis, shop_id, keys.dead_letters(shop_id), subject)
    events = await _erase_entries(redis, shop_id, keys.events(shop_id), subject)
    # every process drops their history and reloads the model before answering again
    await changes.note(redis, shop_id, *((changes.ERASED, changes.customer_digest(cid))
                                         for cid in {customer_id, by_email} if cid))
    return Erasure(orders, events, dead_letters, other, rows, deleted, version)


async def _erase_orders(redis: aioredis.Redis, shop_id: str, subject: Subject) -> int:
    if not subject.order_ids:
        return 0
    order_ids = sorted(subject.order_ids)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hdel(keys.orders(shop_id), *order_ids)
        pipe.hdel(keys.order_versions(shop_id), *order_ids)
        remove_facts(pipe, shop_id, order_ids)
        remove_lines(pipe, shop_id, order_ids)
        removed, *_ = await pipe.execute()
    return int(removed)


async def _erase_entries(
    redis: aioredis.Redis, shop_id: str, stream: str, subject: Subject
) -> int:
    """XDEL the entries naming them, acknowledged first in every group (a processed entry
    may still be pending), and forget their retry counts."""
    entry_ids = [entry_id async for entry_id, fields in stream_entries(redis, stream)
                 if subject.mentioned_in_entry(fields)]
    if not entry_ids:
        return 0
    groups = await redis.xinfo_groups(stream)
    async with redis.pipeline(transaction=True) as pipe:
        for group in groups:
            pipe.xack(stream, group["name"], *entry_ids)
        pipe.xdel(stream, *entry_ids)
        pipe.hdel(keys.event_attempts(shop_id), *entry_ids)
        await pipe.execute()
    return len(entry_ids)


def _handled_elsewhere(shop_id: str, key: str) -> bool:
    """Keys erased by their own step, or that hold nothing about a customer."""
    exact = {
        keys.shop_config(shop_id), keys.events(shop_id), keys.dead_letters(shop_id),
        keys.event_attempts(shop_id), keys.orders(shop_id), keys.order_versions(shop_id),
        keys.products(shop_id), keys.stats(shop_id), keys.backfill_cursor(shop_id),
        keys.train_dirty(shop_id), keys.train_lock(shop_id), keys.model_sequence(shop_id),
        keys.model_current(shop_id), keys.changes(shop_id), keys.changes_sequence(shop_id),
        keys.order_facts(shop_id), keys.order_facts_version(shop_id),
        keys.order_lines(shop_id), keys.order_lines_ready(shop_id),
    }
    return key in exact or key.startswith(
        (keys.model(shop_id, ""), keys.seen_delivery(shop_id, ""), keys.train_reply(shop_id, ""),
         keys.customer_orders(shop_id, "")))


async def _erase_elsewhere(redis: aioredis.Redis, shop_id: str, subject: Subject) -> int:
    """Every other per-shop key (pending refunds, stored exports, whatever is added later),
    checked by type: hash fields and set members named by their id, e-mail or an order id,
    and any value whose JSON names them, are removed."""
    removed = 0
    async for raw_key in redis.scan_iter(match=keys.shop_pattern(shop_id), count=PAGE):
        key = text(raw_key)
        if not _handled_elsewhere(shop_id, key):
            removed += await _erase_in_key(redis, shop_id, key, subject)
    return removed


async def _erase_in_key(redis: aioredis.Redis, shop_id: str, key: str, subject: Subject) -> int:
    kind = text(await redis.type(key))
    if kind == "string":
        raw = await redis.get(key)
        named = raw and subject.mentioned_in(decode_value(raw))
        return int(await redis.delete(key)) if named else 0
    if kind == "hash":
        fields = [name async for name, value in redis.hscan_iter(key, count=PAGE)
                  if subject.names(text(name)) or subject.mentioned_in(decode_value(value))]
        return int(await redis.hdel(key, *fields)) if fields else 0
    if kind == "stream":
        return await _erase_entries(redis, shop_id, key, subject)
    if kind == "set":
        members = [m async for m in redis.sscan_iter(key, count=PAGE) if subject.names(text(m))
                   or subject.mentioned_in(decode_value(m))]
        return int(await redis.srem(key, *members)) if members else 0
    if kind == "zset":
        members = [m async for m, _ in redis.zscan_iter(key, count=PAGE)
                   if subject.names(text(m)) or subject.mentioned_in(decode_value(m))]
        return int(await redis.zrem(key, *members)) if members else 0
    if kind == "list":
        values: set[Any] = {v for v in await redis.lrange(key, 0, -1)
                            if subject.names(text(v)) or subject.mentioned_in(decode_value(v))}
        removed = 0
        for value in values:
            removed += int(await redis.lrem(key, 0, value))
        return removed
    return 0


async def _mark_for_retraining(redis: aioredis.Redis, shop_id: str) -> None:
    now = repr(time.time())
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hsetnx(keys.train_dirty(shop_id), "first", now)
        pipe.hset(keys.train_dirty(shop_id), "last", now)
        await pipe.execute()


async def _erase_from_models(
    redis: aioredis.Redis, shop_id: str, customer_id: str
) -> tuple[int, int, str | None]:
    """(versions that held them, versions deleted, the cleaned version now serving)."""
    async with model_lock(redis, shop_id, MODEL_LOCK_WAIT_SECONDS):
        return await _republish_without(redis, shop_id, customer_id)


async def _republish_without(
    redis: aioredis.Redis, shop_id: str, customer_id: str
) -> tuple[int, int, str | None]:
    holding = 0
    for key in await model_keys(redis, shop_id):
        model = await load_model(redis, key)
        holding += model is not None and model.knows_customer(customer_id)
    if not holding:
        return 0, 0, None
    current = await redis.get(keys.model_current(shop_id))
    info = None if current is None else await _publish_without(
        redis, shop_id, text(current), customer_id)
    keep = None if info is None else keys.model(shop_id, info.version)
    stale = [key for key in await model_keys(redis, shop_id) if key != keep]
    if stale:
        await redis.delete(*stale)
    return holding, len(stale), None if info is None else info.version


async def _publish_without(
    redis: aioredis.Redis, shop_id: str, version: str, customer_id: str
) -> ModelInfo | None:
    blob: Any
    blob, raw_meta = await redis.hmget(keys.model(shop_id, version), ["arrays", "meta"])
    if blob is None:
        return None
    cleaned, customers = await asyncio.to_thread(_without_customer, blob, customer_id)
    meta = {k: v for k, v in json.loads(raw_meta or "{}").items() if k != "version"}
    meta.update(customers=customers, model_bytes=len(cleaned), erased_at=time.time(),
                erased_from_version=version)
    return await publish_model(redis, shop_id, cleaned, meta)


def _without_customer(blob: bytes, customer_id: str) -> tuple[bytes, int]:
    model = ShopModel.from_bytes(blob).without_customers([customer_id])
    return model.to_bytes(), len(model.user_ids)


_DELETE_IF_VALUE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


async def erase_shop(redis: aioredis.Redis, shop_id: str) -> dict[str, int]:
    """Erase every key of the shop and its global index entries (domain and store id, API key,
    widget key, the shops set). Safe to run again after an interruption.

    The registration goes first (no worker recreates the shop's stream once it is gone), the
    event stream last, so a worker draining it sees the erasure complete when it vanishes.
    """
    config = keys.shop_config(shop_id)  # refuses an invalid shop id before anything is done
    shop = await get_shop(redis, shop_id)
    index = int(await redis.srem(keys.SHOPS, shop_id))
    for key in _index_keys(shop) if shop else []:
        index += int(await redis.eval(_DELETE_IF_VALUE, 1, key, shop_id))
    deleted = int(await redis.delete(config))
    deleted += await _delete_shop_keys(redis, shop_id, keep=keys.events(shop_id))
    deleted += int(await redis.delete(keys.events(shop_id)))
    deleted += await _delete_shop_keys(redis, shop_id)  # anything written meanwhile
    return {"keys": deleted, "index_entries": index}


def _index_keys(shop: Shop) -> list[str]:
    lookups = [keys.domain_index(shop.platform, shop.domain),
               keys.widget_key_index(shop.widget_key)]
    lookups += [keys.api_key_index(k.key_hash) for k in shop.api_keys or ()
                if k.key_hash] or [keys.api_key_index(shop.api_key_hash)]
    if shop.access.store_ref:
        lookups.append(keys.domain_index(shop.platform, shop.access.store_ref))
    return lookups


async def _delete_shop_keys(redis: aioredis.Redis, shop_id: str, keep: str = "") -> int:
    deleted, batch = 0, []
    async for key in redis.scan_iter(match=keys.shop_pattern(shop_id), count=PAGE):
        if text(key) != keep:
            batch.append(key)
        if len(batch) >= PAGE:
            deleted += int(await redis.delete(*batch))
            batch = []
    return deleted + (int(await redis.delete(*batch)) if batch else 0)
