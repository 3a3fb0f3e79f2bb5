"""What the adapters write: orders (idempotent upserts) and the per-shop catalog."""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import asdict, replace
from typing import Any, cast

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline

from plugin.store import changes, facts, keys, lines
from plugin.store.attribution import attribute_order, attribute_orders
from plugin.store.connection import text
from plugin.store.fields import PayloadError, display_text, http_url, id_string, money
from plugin.store.history import stored_json
from plugin.store.order import Order, Refund, stored_order
from plugin.store.scripts import Arg, Script, missing

log = logging.getLogger(__name__)

# Orders of one shop upserted in one call (the keys are the shop's): ARGV is, per order, the
# count of its arguments A, then A; the reply holds each order's reply (1 stored, 0 not newer,
# -1 read again), in order. Per order A (upsert below):
# The version kept per order is "<updated_at> <cancelled 0|1>". A newer updated_at wins; at the
# same updated_at only a cancellation of a not yet cancelled order changes anything.
# A[6] and A[7] are the stored order and pending refunds the caller merged in ('' for
# none): if either changed since it read them, nothing is written and -1 says "read again".
# The order's lifecycle fact (plugin.store.facts) is written with it: A[8], A[9]; and its
# training lines (plugin.store.lines): A[10]. A stored order it replaced changes its
# customers' histories: a change note (KEYS[10], KEYS[11], max length A[11]) for each
# customer digest from A[12] on (a new order's note comes from the order index, after it has
# joined it: _INDEX_ORDERS). One call for a batch: its keys are encoded once, one script runs.
_UPSERT = Script(facts.WRITE_FACT_LUA + lines.WRITE_LINES_LUA + changes.NOTE_LUA + """
local function upsert(A)
if (redis.call('HGET', KEYS[1], A[1]) or '') ~= A[6] then return -1 end
if (redis.call('HGET', KEYS[5], A[1]) or '') ~= A[7] then return -1 end
local current = redis.call('HGET', KEYS[2], A[1])
if current then
  local stamp, stored_cancelled = string.match(current, '^(%S+) ?(%d?)$')
  local stored = tonumber(stamp)
  local incoming = tonumber(A[3])
  if incoming < stored then return 0 end
  if incoming == stored and (A[4] == '0' or stored_cancelled == '1') then return 0 end
end
redis.call('HSET', KEYS[1], A[1], A[2])
redis.call('HDEL', KEYS[5], A[1])
redis.call('HSET', KEYS[2], A[1], A[3] .. ' ' .. A[4])
redis.call('HSETNX', KEYS[3], 'first', A[5])
redis.call('HSET', KEYS[3], 'last', A[5])
redis.call('HINCRBY', KEYS[4], 'order_changes', 1)
write_fact(KEYS[6], KEYS[7], A[1], A[8], A[9])
write_lines(KEYS[8], KEYS[9], KEYS[1], A[1], A[10])
if current then
  for i = 12, #A do note_change(KEYS[10], KEYS[11], A[11], 'customer', A[i]) end
end
return 1
end
local replies, at = {}, 1
while at <= #ARGV do
  local count = tonumber(ARGV[at])
  replies[#replies + 1] = upsert({unpack(ARGV, at + 1, at + count)})
  at = at + count + 1
end
return replies
""")


async def store_order(redis: aioredis.Redis, shop_id: str, order: Order) -> bool:
    """Upsert idempotently; True if this version replaced the stored one (or was new).

    Refunds are never lost: those of the stored version and those that arrived before the
    order are merged into the incoming one (union by refund id and line; the incoming wins).
    """
    for _attempt in range(_CAS_ATTEMPTS):
        stored_raw, pending_raw = await _order_and_pending(redis, shop_id, order.order_id)
        _merged, call_args = _upsert_call(order, stored_raw, pending_raw)
        stored = (await _UPSERT(redis, _upsert_keys(shop_id), [len(call_args), *call_args]))[0]
        if stored != -1:
            break
    else:
        raise ConcurrentUpdate(f"order {order.order_id!r} of shop {shop_id!r} kept changing")
    # Always (HSETNX, idempotent): a crash right after the upsert must not lose these entries.
    await _index_order(redis, shop_id, order)
    await attribute_order(redis, shop_id, order.order_id)  # widget clicks -> attributed revenue
    return bool(stored)


async def store_orders(redis: aioredis.Redis, shop_id: str, orders: Sequence[Order]
                       ) -> list[bool]:
    """store_order of each order in turn, with the same outcome, in a few round trips for all
    of them: one reads the stored versions, one upserts and indexes every order, three
    attribute them. An order whose stored version changed in between (the same order twice
    in `orders`, or another writer) is stored again on its own by store_order, in turn."""
    if not orders:
        return []
    order_ids = [order.order_id for order in orders]
    async with redis.pipeline(transaction=False) as pipe:
        pipe.hmget(keys.orders(shop_id), order_ids)
        pipe.hmget(keys.pending_refunds(shop_id), order_ids)
        stored_raws, pending_raws = await pipe.execute()
    calls = [_upsert_call(*read) for read in zip(orders, stored_raws, pending_raws, strict=True)]
    upsert_args: list[Arg] = []
    for _merged, call_args in calls:
        upsert_args += (len(call_args), *call_args)
    replies = await _upsert_and_index(redis, shop_id, orders, upsert_args)
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    stored = []
    for order, reply in zip(orders, replies[0], strict=True):
        if reply == -1:  # changed since it was read: again, on its own
            stored.append(await store_order(redis, shop_id, order))
        else:
            stored.append(bool(reply))
    once = {i for i, n in Counter(order_ids).items() if n == 1}  # stored as written:
    written = {merged.order_id: merged for (merged, _args), done  # no need to read
               in zip(calls, stored, strict=True) if done and merged.order_id in once}
    await attribute_orders(redis, shop_id, order_ids, written)
    return stored


async def _upsert_and_index(redis: aioredis.Redis, shop_id: str, orders: Sequence[Order],
                            upsert_args: list[Arg]) -> list[Any]:
    """One round trip: every order upserted (one _UPSERT call), then indexed; the replies of
    both."""
    async with redis.pipeline(transaction=False) as pipe:
        _UPSERT.queue(pipe, _upsert_keys(shop_id), upsert_args)
        _index_orders(pipe, shop_id, orders)
        replies = list(await pipe.execute(raise_on_error=False))
    again = [n for n, reply in enumerate(replies) if missing(reply)]
    if again:  # a new server: load the scripts, send those calls again (they ran nothing)
        await _UPSERT.load(redis)
        await _INDEX_ORDERS.load(redis)
        async with redis.pipeline(transaction=False) as pipe:
            for n in again:
                if n == 0:
                    _UPSERT.queue(pipe, _upsert_keys(shop_id), upsert_args)
                else:
                    _index_orders(pipe, shop_id, orders)
            for n, reply in zip(again, await pipe.execute(raise_on_error=False), strict=True):
                replies[n] = reply
    return replies


def _upsert_keys(shop_id: str) -> list[str]:
    """The keys of _UPSERT: the shop's, the same for every order."""
    return [keys.orders(shop_id), keys.order_versions(shop_id), keys.train_dirty(shop_id),
            keys.stats(shop_id), keys.pending_refunds(shop_id), *facts.fact_keys(shop_id),
            *lines.lines_keys(shop_id), *changes.note_keys(shop_id)]


def _upsert_call(order: Order, stored_raw: bytes | None, pending_raw: bytes | None
                 ) -> tuple[Order, list[Arg]]:
    """The order with the refunds read merged in, and the arguments of _UPSERT that store
    it."""
    stored_refunds, stored_customer = _stored_parts(stored_raw)
    merged = replace(order, refunds=union_refunds(
        order.refunds, stored_refunds, _pending_refunds(pending_raw)))
    noted = changes.customer_notes([order.customer_id, stored_customer])
    return (
        merged,
        [order.order_id, merged.to_json(), repr(order.updated_at),
         "1" if order.cancelled else "0", repr(time.time()), stored_raw or b"",
         pending_raw or b"", *facts.fact_args(merged), lines.line_record(merged),
         keys.CHANGES_MAXLEN, *(digest for _kind, digest in noted)],
    )


_CAS_ATTEMPTS = 50


class ConcurrentUpdate(RuntimeError):
    """An order changed under every attempt to update it (transient: retry the event)."""


# Refunds for an order: merged into the stored order, or kept pending until it arrives.
# ARGV[2], ARGV[3]: what the caller read (order, pending; '' for none), as in _UPSERT.
# ARGV[6], ARGV[7]: the stored order's lifecycle fact with the refunds (plugin.store.facts);
# ARGV[8]: its training lines (plugin.store.lines).
_MERGE_REFUNDS = facts.WRITE_FACT_LUA + lines.WRITE_LINES_LUA + """
local stored = redis.call('HGET', KEYS[1], ARGV[1]) or ''
if stored ~= ARGV[2] then return -1 end
if (redis.call('HGET', KEYS[2], ARGV[1]) or '') ~= ARGV[3] then return -1 end
if stored == '' then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
  return 1
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[4])
redis.call('HSETNX', KEYS[3], 'first', ARGV[5])
redis.call('HSET', KEYS[3], 'last', ARGV[5])
redis.call('HINCRBY', KEYS[4], 'order_changes', 1)
write_fact(KEYS[5], KEYS[6], ARGV[1], ARGV[6], ARGV[7])
write_lines(KEYS[7], KEYS[8], KEYS[1], ARGV[1], ARGV[8])
return 1
"""


async def merge_refunds(
    redis: aioredis.Redis, shop_id: str, order_id: str, refunds: Iterable[Refund]
) -> bool:
    """Add refunds to a stored order, or keep them until the order is stored; idempotent
    (refunds are keyed by refund id and line). True if anything changed."""
    refunds = tuple(refunds)
    for _attempt in range(_CAS_ATTEMPTS):
        stored_raw, pending_raw = await _order_and_pending(redis, shop_id, order_id)
        known = _stored_parts(stored_raw)[0] if stored_raw else _pending_refunds(pending_raw)
        merged = union_refunds(known, refunds)
        if len(merged) == len(known):
            return False
        if stored_raw:
            stored = stored_order(stored_raw)
            if stored is None:
                raise PayloadError(f"order {order_id!r} of shop {shop_id!r} is stored in a form "
                                   "that breaks the field rules; its refunds wait for a valid "
                                   "version of the order")
            refunded = replace(stored, refunds=merged)
            value, fact = refunded.to_json(), (*facts.fact_args(refunded),
                                               lines.line_record(refunded))
        else:
            value = json.dumps([asdict(refund) for refund in merged], separators=(",", ":"))
            fact = (b"", "", b"")
        written = await redis.eval(
            _MERGE_REFUNDS, 8, keys.orders(shop_id), keys.pending_refunds(shop_id),
            keys.train_dirty(shop_id), keys.stats(shop_id), *facts.fact_keys(shop_id),
            *lines.lines_keys(shop_id), order_id, stored_raw or b"", pending_raw or b"", value,
            repr(time.time()), *fact,
        )
        if written != -1:
            if stored_raw and stored is not None:
                await changes.note(redis, shop_id, *changes.customer_notes([stored.customer_id])
                                   or [(changes.CUSTOMER, "")])
            return True
    raise ConcurrentUpdate(f"order {order_id!r} of shop {shop_id!r} kept changing")


def union_refunds(*groups: Iterable[Refund]) -> tuple[Refund, ...]:
    """Every refund of the groups once per (refund id, line); an earlier group wins."""
    merged: dict[tuple[str, str], Refund] = {}
    for group in groups:
        for refund in group:
            merged.setdefault((refund.refund_id, refund.line_id), refund)
    return tuple(merged.values())


async def _order_and_pending(
    redis: aioredis.Redis, shop_id: str, order_id: str
) -> tuple[bytes | None, bytes | None]:
    async with redis.pipeline(transaction=False) as pipe:
        pipe.hget(keys.orders(shop_id), order_id)
        pipe.hget(keys.pending_refunds(shop_id), order_id)
        stored_raw, pending_raw = await pipe.execute()
    return stored_raw, pending_raw


def _stored_parts(raw: bytes | None) -> tuple[tuple[Refund, ...], str | None]:
    """The refunds and the customer of a stored order, read from its JSON (the refunds checked
    again, not its lines: an order's many lines are what made reading it as an Order cost);
    an unreadable version (logged) has none, and is replaced whole."""
    stored = stored_json(raw) if raw else None
    if stored is None:
        return (), None
    try:
        refunds = tuple(Refund(**refund) for refund in stored.get("refunds") or ())
    except (TypeError, ValueError) as error:
        log.warning("replacing a stored order whose refunds break the field rules: %s", error)
        return (), None
    customer = stored["customer_id"]
    return refunds, customer if isinstance(customer, str) else None


def _pending_refunds(raw: bytes | None) -> tuple[Refund, ...]:
    return tuple(Refund(**refund) for refund in json.loads(raw)) if raw else ()


async def get_order(redis: aioredis.Redis, shop_id: str, order_id: str) -> Order | None:
    raw = await redis.hget(keys.orders(shop_id), order_id)
    return None if raw is None else stored_order(raw)


async def cancel_order(redis: aioredis.Redis, shop_id: str, order_id: str, at: float) -> bool:
    """An order deleted at the platform stops counting: the stored version is kept, cancelled,
    at max(its updated_at, at); an unknown order gets an empty cancelled placeholder, so a
    late delivery of an older version cannot bring it back. True if anything changed."""
    stored = await get_order(redis, shop_id, order_id)
    if stored is None:
        stored = Order(order_id=order_id, customer_id=None, created_at=at, updated_at=at,
                       cancelled=True, currency="", total_price="0", lines=())
    updated_at = max(stored.updated_at, at)
    return await store_order(redis, shop_id, replace(stored, cancelled=True, updated_at=updated_at))


async def iter_orders(redis: aioredis.Redis, shop_id: str) -> AsyncIterator[Order]:
    """Every stored order of the shop (training, erasure): read as stored, unchecked."""
    async for page in stored_order_pages(redis, shop_id):
        for raw in page:
            yield Order.from_json(raw, trusted=True)  # checked when stored (and by migration)


async def stored_order_pages(redis: aioredis.Redis, shop_id: str,
                             count: int = 1000) -> AsyncIterator[list[bytes]]:
    """Every stored order of the shop as stored (Order.to_json's JSON, checked when stored),
    a page of about `count` at a time, each order once (HSCAN may repeat one while the hash
    grows)."""
    seen: set[bytes] = set()
    cursor = 0
    while True:
        cursor, found = await redis.hscan(keys.orders(shop_id), cursor, count=count)
        page = cast(dict[bytes, bytes], found)  # order id -> JSON (hscan's reply, typed)
        fresh = page.keys() - seen
        seen |= fresh
        yield list(page.values()) if len(fresh) == len(page) else \
            [raw for order_id, raw in page.items() if order_id in fresh]
        if not cursor:
            return


# What storing orders indexes, in one call: KEYS[1] the catalog, KEYS[2], KEYS[3] the change
# notes (plugin.store.changes), KEYS[4..] customers' order indexes. ARGV: the notes' maximum
# length, the number n of catalog entries, n (product id, entry) pairs for HSETNX, then per
# customer key the customer's digest, the number m of its orders and m (created_at, order id)
# pairs for ZADD. A customer whose index gained an order gets a change note; an order already
# indexed changed their history only if its upsert replaced it, which notes it then.
_INDEX_ORDERS = Script(changes.NOTE_LUA + """
local i = 3
for _ = 1, tonumber(ARGV[2]) do
  redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1])
  i = i + 2
end
for k = 4, #KEYS do
  local digest, m, added = ARGV[i], tonumber(ARGV[i + 1]), 0
  i = i + 2
  for _ = 1, m do
    added = added + redis.call('ZADD', KEYS[k], ARGV[i], ARGV[i + 1])
    i = i + 2
  end
  if added > 0 then note_change(KEYS[2], KEYS[3], ARGV[1], 'customer', digest) end
end
return 1
""")


async def _index_order(redis: aioredis.Redis, shop_id: str, order: Order) -> None:
    async with redis.pipeline(transaction=False) as pipe:
        _index_orders(pipe, shop_id, [order])
        replies = await pipe.execute(raise_on_error=False)
    if missing(replies[0]):
        await _INDEX_ORDERS.load(redis)
        await _index_order(redis, shop_id, order)
    for reply in replies:
        if isinstance(reply, Exception) and not missing(reply):
            raise reply


def _index_orders(pipe: Pipeline, shop_id: str, orders: Sequence[Order]) -> None:
    """Queue in `pipe`: products first seen in an order get a catalog entry until the product
    webhook comes (the first order's line; HSETNX), each order joins its customer's order index
    (fresh personal recommendations)."""
    entries: dict[str, str] = {}
    by_customer: dict[str, dict[str, float]] = {}
    for order in orders:
        for line in order.lines:
            if line.product_id not in entries:
                entries[line.product_id] = json.dumps({
                    "product_id": line.product_id, "title": line.title, "price": line.price,
                    "url": None, "image_url": None, "available": True, "source": "order"})
        if order.customer_id is not None:
            by_customer.setdefault(order.customer_id, {})[order.order_id] = order.created_at
    args: list[Arg] = [keys.CHANGES_MAXLEN, len(entries)]
    for product_id, entry in entries.items():
        args += [product_id, entry]
    for customer, created in by_customer.items():
        args += [changes.customer_digest(customer), len(created)]
        for order_id, created_at in created.items():
            args += [repr(created_at), order_id]
    _INDEX_ORDERS.queue(pipe, [keys.products(shop_id), *changes.note_keys(shop_id), *(
        keys.customer_orders(shop_id, customer) for customer in by_customer)], args)


def catalog_entry(product: Mapping[str, Any], storefront_url: str | None = None) -> dict[str, Any]:
    """A catalog entry within the field rules (plugin.store.fields): product and variant ids
    and the price checked (PayloadError names the field), the title capped, `url` and
    `image_url` absolute http(s) (a path joined to `storefront_url`) or None."""
    entry = dict(product)
    entry["product_id"] = id_string(product.get("product_id"), "product_id")
    entry["title"] = display_text(product.get("title"), "title")
    for name in ("url", "image_url"):
        entry[name] = http_url(product.get(name), storefront_url)
    price = product.get("price")
    entry["price"] = None if price is None else money(price, "price")
    if entry.get("variant_id") is not None:
        entry["variant_id"] = id_string(entry["variant_id"], "variant_id")
    entry["available"] = product.get("available", True) is not False
    return entry


async def store_product(
    redis: aioredis.Redis, shop_id: str, product: Mapping[str, Any],
    storefront_url: str | None = None,
) -> None:
    """Store a catalog entry (checked by catalog_entry: a URL that is a path is joined to
    `storefront_url`, the shop's); one that is not `available` joins the never-shown set."""
    product = catalog_entry(product, storefront_url)
    product_id = product["product_id"]
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(keys.products(shop_id), product_id, json.dumps(product))
        if product.get("available", True):
            pipe.srem(keys.unavailable(shop_id), product_id)
        else:
            pipe.sadd(keys.unavailable(shop_id), product_id)
        changes.note(pipe, shop_id, (changes.PRODUCT, product_id))
        await pipe.execute()


async def delete_product(redis: aioredis.Redis, shop_id: str, product_id: str) -> None:
    """A deleted product stays in the catalog, unavailable, so it is never shown again."""
    raw = await redis.hget(keys.products(shop_id), product_id)
    entry = json.loads(raw) if raw else {"product_id": product_id, "title": ""}
    entry.update(available=False, deleted=True)
    await store_product(redis, shop_id, entry)


_MARK_UNINSTALLED = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'uninstalled_at', ARGV[1])
  redis.call('HDEL', KEYS[1], 'api_token')
end
"""


async def mark_uninstalled(redis: aioredis.Redis, shop_id: str, at: float) -> None:
    """Note in the shop's config that the platform app was uninstalled and delete its access
    token (data stays until shop/redact); a shop deleted meanwhile is not brought back as a
    config without fields."""
    await redis.eval(_MARK_UNINSTALLED, 1, keys.shop_config(shop_id), repr(at))
    await changes.note(redis, shop_id, (changes.SHOP, ""))


async def blocked_products(redis: aioredis.Redis, shop_id: str) -> set[str]:
    """Products never shown: unavailable (out of stock, deleted) or excluded by the owner."""
    members = await redis.sunion([keys.unavailable(shop_id), keys.excluded(shop_id)])
    return {text(member) for member in members}
