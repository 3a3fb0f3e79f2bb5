"""Privacy: export and erase one customer's data, erase a whole shop.

Shopify sends the mandatory privacy webhooks (customers/data_request, customers/redact,
shop/redact); the other platforms have none, so the API and the CLI offer the same actions.
Erasure is immediate, without waiting for a retrain: the customer's stored orders, the raw
webhook events and dead letters that mention them, any other per-shop data naming them, and
their rows in every stored model version. Aggregates (co-purchase scores, trending, product
factors) hold no identity; the shop is marked for retraining so they are rebuilt without them.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import redis.asyncio as aioredis

from plugin.store import keys
from plugin.store.connection import text
from plugin.store.models import ModelInfo, load_model, model_keys, model_lock, publish_model
from plugin.store.order import Order, PayloadError, email_customer_id, id_string
from plugin.store.records import iter_orders
from plugin.store.shops import Shop, get_shop
from plugin.store.tracking import erase_customer_tracking
from recommender.shop_model import ShopModel

SHOPIFY_DATA_REQUEST = "customers/data_request"
SHOPIFY_CUSTOMER_REDACT = "customers/redact"
SHOPIFY_SHOP_REDACT = "shop/redact"
SHOPIFY_TOPICS = frozenset({SHOPIFY_DATA_REQUEST, SHOPIFY_CUSTOMER_REDACT, SHOPIFY_SHOP_REDACT})

# A training in progress may have read the customer's orders: the model is rewritten after it.
MODEL_LOCK_WAIT_SECONDS = 600.0
PAGE = 500
_CUSTOMER_FIELDS = ("customer_id", "customerId")
_ORDER_FIELDS = ("order_id", "orderId")
NOT_PERSONAL = ("the product catalog, and the model's aggregates (co-purchase scores, trending, "
                "product factors), which hold no identity")


# ---- who: the customer, their e-mail and their orders ------------------------------------------


@dataclass(frozen=True)
class Subject:
    """The customer an export or erasure is about: their id, e-mail and order ids."""

    customer_id: str
    email: str | None = None  # lower-case
    order_ids: frozenset[str] = frozenset()

    def with_orders(self, order_ids: Iterable[str]) -> Subject:
        return replace(self, order_ids=self.order_ids | frozenset(order_ids))

    def names(self, name: str) -> bool:
        """`name` (a hash field, a set member) is their id, e-mail or one of their order ids."""
        return name == self.customer_id or name in self.order_ids or (
            self.email is not None and name.strip().lower() == self.email)

    def mentioned_in(self, value: Any, topic: str = "") -> bool:
        """A decoded JSON value names them: `customer{id}` / `customer_id` / `customerId`,
        `order_id` / `orderId` / `{type: order, id}` of one of their orders, the top-level id
        of an order (or customer) event, or a string equal to their e-mail."""
        if isinstance(value, dict):
            top_id = _id(value.get("id"))
            if ("order" in topic and top_id in self.order_ids) or (
                    "customer" in topic and top_id == self.customer_id):
                return True
        return self._walk(value)

    def mentioned_in_entry(self, fields: dict[bytes, bytes]) -> bool:
        """A stream entry (raw webhook event or dead letter) names them in any field."""
        topic = _text(fields.get(b"topic", b"")).lower()
        return any(self.mentioned_in(_decode(value), topic)
                   for name, value in fields.items()
                   if name != b"topic" and self._may_name(value))

    def _may_name(self, raw: bytes) -> bool:
        """Fast pre-check before parsing: an id or the e-mail occurs in the raw bytes."""
        return self._needles.search(raw.lower()) is not None

    @functools.cached_property
    def _needles(self) -> re.Pattern[bytes]:
        words = [self.customer_id, *self.order_ids]
        if self.email:  # as UTF-8 and as JSON escapes it (\u00e9)
            words += [self.email, json.dumps(self.email)[1:-1]]
        return re.compile(b"|".join(re.escape(word.lower().encode()) for word in words))

    def _walk(self, value: Any) -> bool:
        if isinstance(value, dict):
            return self._named_by_object(value) or any(self._walk(v) for v in value.values())
        if isinstance(value, list):
            return any(self._walk(item) for item in value)
        return isinstance(value, str) and self.email is not None \
            and value.strip().lower() == self.email

    def _named_by_object(self, obj: dict[str, Any]) -> bool:
        customer = obj.get("customer")
        return (
            any(_id(obj.get(name)) == self.customer_id for name in _CUSTOMER_FIELDS)
            or (isinstance(customer, dict) and _id(customer.get("id")) == self.customer_id)
            or any(_id(obj.get(name)) in self.order_ids for name in _ORDER_FIELDS)
            or (obj.get("type") == "order" and _id(obj.get("id")) in self.order_ids)
        )


async def find_subject(
    redis: aioredis.Redis, shop_id: str, customer_id: str, email: str | None = None,
    order_ids: Iterable[str] = (),
) -> Subject:
    """The customer with every order that is theirs: the given ids, their stored orders, and
    the orders of order events that mention them (a guest checkout found by e-mail)."""
    if not customer_id:
        raise ValueError("the customer id must not be empty")
    subject = Subject(customer_id, _email(email), frozenset(order_ids))
    ids = {customer_id, email_customer_id(email)} - {None}  # + orders imported by e-mail
    stored = [order.order_id async for order in iter_orders(redis, shop_id)
              if order.customer_id in ids]
    subject = subject.with_orders(stored)
    in_events = set()
    for stream in (keys.events(shop_id), keys.dead_letters(shop_id)):
        async for _entry_id, fields in _entries(redis, stream):
            order_id = _order_event_id(fields)
            if order_id is not None and subject.mentioned_in_entry(fields):
                in_events.add(order_id)
    return subject.with_orders(in_events)


# ---- export ------------------------------------------------------------------------------------


async def export_customer(
    redis: aioredis.Redis, shop_id: str, customer_id: str, email: str | None = None,
    order_ids: Iterable[str] = (),
) -> dict[str, Any]:
    """Everything held about one customer, JSON-ready: their stored orders (normalised), the
    raw webhook events and dead letters that mention them, and the served model's row for
    them (the products it holds as purchased). The catalog is not personal data."""
    subject = await find_subject(redis, shop_id, customer_id, email, order_ids)
    return {
        "shop_id": shop_id,
        "customer_id": customer_id,
        "email": subject.email,
        "exported_at": time.time(),
        "orders": await _stored_orders(redis, shop_id, subject),
        "events": await _exported_entries(redis, keys.events(shop_id), subject),
        "dead_letters": await _exported_entries(redis, keys.dead_letters(shop_id), subject),
        "model": await _model_row(redis, shop_id, customer_id),
        "not_personal": NOT_PERSONAL,
    }


async def store_data_request(
    redis: aioredis.Redis, shop_id: str, request_id: str, customer_id: str,
    email: str | None = None, order_ids: Iterable[str] = (),
) -> dict[str, Any]:
    """Export the customer and keep the export under the request id for 30 days."""
    export = {"request_id": request_id,
              **await export_customer(redis, shop_id, customer_id, email, order_ids)}
    await redis.set(keys.privacy_request(shop_id, request_id), json.dumps(export),
                    ex=keys.PRIVACY_REQUEST_TTL_SECONDS)
    return export


async def get_data_request(
    redis: aioredis.Redis, shop_id: str, request_id: str
) -> dict[str, Any] | None:
    raw = await redis.get(keys.privacy_request(shop_id, request_id))
    return None if raw is None else dict(json.loads(raw))


async def _stored_orders(
    redis: aioredis.Redis, shop_id: str, subject: Subject
) -> list[dict[str, Any]]:
    if not subject.order_ids:
        return []
    raw = await redis.hmget(keys.orders(shop_id), sorted(subject.order_ids))
    orders = [Order.from_json(entry) for entry in raw if entry is not None]
    return [asdict(order) for order in sorted(orders, key=lambda o: (o.created_at, o.order_id))]


async def _exported_entries(
    redis: aioredis.Redis, stream: str, subject: Subject
) -> list[dict[str, Any]]:
    return [
        {"entry_id": text(entry_id),
         **{_text(name): _decode(value) if name == b"body" else _text(value)
            for name, value in fields.items()}}
        async for entry_id, fields in _entries(redis, stream)
        if subject.mentioned_in_entry(fields)
    ]


async def _model_row(redis: aioredis.Redis, shop_id: str, customer_id: str) -> dict[str, Any]:
    version = await redis.get(keys.model_current(shop_id))
    model = None if version is None else await load_model(
        redis, keys.model(shop_id, text(version)))
    if version is None or model is None:
        return {"version": None, "holds_customer": False, "purchased_product_ids": []}
    rows = np.flatnonzero(model.user_ids == customer_id)
    products = [] if not len(rows) else sorted(
        model.item_ids[model.user_items[int(rows[0])].indices].tolist())
    return {"version": text(version), "holds_customer": bool(len(rows)),
            "purchased_product_ids": products}


# ---- erase one customer ------------------------------------------------------------------------


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
    return Erasure(orders, events, dead_letters, other, rows, deleted, version)


async def _erase_orders(redis: aioredis.Redis, shop_id: str, subject: Subject) -> int:
    if not subject.order_ids:
        return 0
    order_ids = sorted(subject.order_ids)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hdel(keys.orders(shop_id), *order_ids)
        pipe.hdel(keys.order_versions(shop_id), *order_ids)
        removed, _ = await pipe.execute()
    return int(removed)


async def _erase_entries(
    redis: aioredis.Redis, shop_id: str, stream: str, subject: Subject
) -> int:
    """XDEL the entries naming them, acknowledged first in every group (a processed entry
    may still be pending), and forget their retry counts."""
    entry_ids = [entry_id async for entry_id, fields in _entries(redis, stream)
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
        keys.model_current(shop_id),
    }
    return key in exact or key.startswith(
        (keys.model(shop_id, ""), keys.seen_delivery(shop_id, ""),
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
        return int(await redis.delete(key)) if raw and subject.mentioned_in(_decode(raw)) else 0
    if kind == "hash":
        fields = [name async for name, value in redis.hscan_iter(key, count=PAGE)
                  if subject.names(_text(name)) or subject.mentioned_in(_decode(value))]
        return int(await redis.hdel(key, *fields)) if fields else 0
    if kind == "stream":
        return await _erase_entries(redis, shop_id, key, subject)
    if kind == "set":
        members = [m async for m in redis.sscan_iter(key, count=PAGE) if subject.names(_text(m))
                   or subject.mentioned_in(_decode(m))]
        return int(await redis.srem(key, *members)) if members else 0
    if kind == "zset":
        members = [m async for m, _ in redis.zscan_iter(key, count=PAGE)
                   if subject.names(_text(m)) or subject.mentioned_in(_decode(m))]
        return int(await redis.zrem(key, *members)) if members else 0
    if kind == "list":
        values: set[Any] = {v for v in await redis.lrange(key, 0, -1)
                            if subject.names(_text(v)) or subject.mentioned_in(_decode(v))}
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


# ---- erase a shop ------------------------------------------------------------------------------

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
               keys.api_key_index(shop.api_key_hash), keys.widget_key_index(shop.widget_key)]
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


# ---- Shopify's mandatory privacy webhooks ------------------------------------------------------


def check_shopify(topic: str, payload: Any) -> None:
    """Refuse at the door (PayloadError -> 400) a privacy webhook that could not be acted on,
    so its personal data is never stored only to be dead-lettered."""
    if not isinstance(payload, dict):
        raise PayloadError(f"the body of a {topic} webhook must be a JSON object")
    if topic == SHOPIFY_SHOP_REDACT:
        return
    _shopify_customer(payload)
    if topic == SHOPIFY_DATA_REQUEST:
        request = payload.get("data_request")
        id_string(request.get("id") if isinstance(request, dict) else None, "data_request.id")


async def apply_shopify(redis: aioredis.Redis, shop: Shop, topic: str, payload: Any) -> None:
    """Act on customers/data_request, customers/redact or shop/redact (PayloadError names the
    field when the body cannot be acted on)."""
    if not isinstance(payload, dict):
        raise PayloadError(f"the body of a {topic} webhook must be a JSON object")
    domain = payload.get("shop_domain")
    if domain is not None and str(domain).lower() != shop.domain:
        raise PayloadError(f"shop_domain {domain!r} is not the domain of shop {shop.shop_id!r}")
    if topic == SHOPIFY_SHOP_REDACT:
        await erase_shop(redis, shop.shop_id)
        return
    customer_id, email = _shopify_customer(payload)
    if topic == SHOPIFY_DATA_REQUEST:
        request = payload.get("data_request")
        request_id = str(id_string(request.get("id") if isinstance(request, dict) else None,
                                   "data_request.id"))
        await store_data_request(redis, shop.shop_id, request_id, customer_id, email,
                                 _id_list(payload, "orders_requested"))
    elif topic == SHOPIFY_CUSTOMER_REDACT:
        await erase_customer(redis, shop.shop_id, customer_id, email,
                             _id_list(payload, "orders_to_redact"))


def _shopify_customer(payload: dict[str, Any]) -> tuple[str, str | None]:
    customer = payload.get("customer")
    if not isinstance(customer, dict):
        raise PayloadError("customer must be an object with the customer's id")
    email = customer.get("email")
    return str(id_string(customer.get("id"), "customer.id")), email if isinstance(
        email, str) and email else None


def _id_list(payload: dict[str, Any], field: str) -> list[str]:
    values = payload.get(field) or []
    if not isinstance(values, list):
        raise PayloadError(f"{field} must be a list of order ids")
    return [str(id_string(value, f"{field}[{index}]")) for index, value in enumerate(values)]


# ---- small helpers ---------------------------------------------------------------------------


async def _entries(
    redis: aioredis.Redis, stream: str
) -> AsyncIterator[tuple[bytes, dict[bytes, bytes]]]:
    start = "-"
    while True:
        batch: Any = await redis.xrange(stream, min=start, count=PAGE)
        for entry_id, fields in batch:
            yield entry_id, fields
        if len(batch) < PAGE:
            return
        start = "(" + text(batch[-1][0])


def _order_event_id(fields: dict[bytes, bytes]) -> str | None:
    if "order" not in _text(fields.get(b"topic", b"")).lower():
        return None
    body = _decode(fields.get(b"body", b""))
    return _id(body.get("id")) if isinstance(body, dict) else None


def _id(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | str) or value == "":
        return None
    return str(value)


def _email(email: str | None) -> str | None:
    return email.strip().lower() if email and email.strip() else None


def _decode(raw: bytes | str) -> Any:
    """A stored value as JSON if it is JSON, else as text."""
    try:
        return json.loads(raw)
    except ValueError:
        return _text(raw)


def _text(raw: bytes | str) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
