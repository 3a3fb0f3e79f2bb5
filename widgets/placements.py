"""Widget placements: which model query answers each storefront slot.

Each placement turns the widget's query parameters into a `Query` on the shop's serving model
(the merchandising filter `blocked` is added by `serve_query`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

import redis.asyncio as aioredis

from plugin.engine.serving import Query
from plugin.store.records import customer_history
from plugin.web.params import BadRequest, parse_id, parse_limit
from recommender.shop_model import Answer, ShopModel

MAX_LIMIT = 24
DEFAULT_LIMIT = "4"
MAX_PRODUCT_IDS = 50


@dataclass(frozen=True)
class WidgetRequest:
    """The parsed parameters of one widget call."""

    placement: str
    limit: int
    product_id: str | None
    product_ids: tuple[str, ...]
    customer_id: str | None


Builder = Callable[[aioredis.Redis, str, WidgetRequest], Awaitable[Query]]


def parse_request(params: Mapping[str, str]) -> WidgetRequest:
    placement = params.get("placement", "trending")
    if placement not in PLACEMENTS:
        raise BadRequest(f"placement must be one of {', '.join(PLACEMENTS)}, got {placement!r}")
    raw_ids = params.get("product_ids") or ""
    product_ids = tuple(dict.fromkeys(p.strip() for p in raw_ids.split(",") if p.strip()))
    if len(product_ids) > MAX_PRODUCT_IDS:
        raise BadRequest(f"product_ids takes at most {MAX_PRODUCT_IDS} ids, got {len(product_ids)}")
    return WidgetRequest(
        placement=placement,
        limit=min(parse_limit(params.get("limit", DEFAULT_LIMIT)), MAX_LIMIT),
        product_id=params.get("product_id") or None,
        product_ids=product_ids,
        customer_id=params.get("customer_id") or None,
    )


def _product(request: WidgetRequest) -> str:
    return parse_id(f"product_id (placement {request.placement})", request.product_id)


def _customer(request: WidgetRequest) -> str:
    return parse_id(f"customer_id (placement {request.placement})", request.customer_id)


async def _bundle(redis: aioredis.Redis, shop_id: str, request: WidgetRequest) -> Query:
    product_id, limit = _product(request), request.limit
    return lambda m, b: m.bought_together(product_id, limit, b)


async def _also_bought(redis: aioredis.Redis, shop_id: str, request: WidgetRequest) -> Query:
    product_id, limit = _product(request), request.limit
    return lambda m, b: m.similar(product_id, limit, b)


async def _cart(redis: aioredis.Redis, shop_id: str, request: WidgetRequest) -> Query:
    ids, customer_id, limit = list(request.product_ids), request.customer_id, request.limit
    return lambda m, b: m.for_cart(ids, customer_id, limit, b)


async def _customer_list(redis: aioredis.Redis, shop_id: str, request: WidgetRequest) -> Query:
    customer_id, limit = _customer(request), request.limit
    history = await customer_history(redis, shop_id, customer_id)
    return lambda m, b: m.for_customer(customer_id, limit, False, b, history)


async def _thank_you(redis: aioredis.Redis, shop_id: str, request: WidgetRequest) -> Query:
    """Known customer: products they never bought (nor in this order); otherwise what goes
    with the order's products."""
    ids, customer_id, limit = list(request.product_ids), request.customer_id, request.limit
    history = await customer_history(redis, shop_id, customer_id) if customer_id else {}

    def query(model: ShopModel, blocked: AbstractSet[str]) -> Answer:
        if customer_id is not None and (history or model.knows_customer(customer_id)):
            return model.for_customer(customer_id, limit, True, set(blocked) | set(ids), history)
        return model.for_cart(ids, None, limit, blocked)

    return query


async def _home(redis: aioredis.Redis, shop_id: str, request: WidgetRequest) -> Query:
    """Trending for a visitor; for a known customer their picks among products they never
    bought (what they rebuy has its own shelf, buy_again)."""
    if request.customer_id is None:
        return await _trending(redis, shop_id, request)
    customer_id, limit = request.customer_id, request.limit
    history = await customer_history(redis, shop_id, customer_id)
    return lambda m, b: m.for_customer(customer_id, limit, True, b, history)


async def _trending(redis: aioredis.Redis, shop_id: str, request: WidgetRequest) -> Query:
    limit = request.limit
    return lambda m, b: m.trending(limit, b)


async def _buy_again(redis: aioredis.Redis, shop_id: str, request: WidgetRequest) -> Query:
    customer_id, limit = _customer(request), request.limit
    history = await customer_history(redis, shop_id, customer_id)
    return lambda m, b: m.buy_again(customer_id, limit, b, history)


PLACEMENTS: dict[str, Builder] = {
    "bundle": _bundle,
    "also_bought": _also_bought,
    "cart": _cart,
    "thank_you": _thank_you,
    "home": _home,
    "trending": _trending,
    "buy_again": _buy_again,
    # names of the first widget version, kept working
    "product": _bundle,
    "similar": _also_bought,
    "customer": _customer_list,
}


async def build_query(redis: aioredis.Redis, shop_id: str, request: WidgetRequest) -> Query:
    """The model query for the request's placement; BadRequest names a missing id."""
    return await PLACEMENTS[request.placement](redis, shop_id, request)
