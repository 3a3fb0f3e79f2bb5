"""Widget placements: which named query (plugin.engine.queries) answers each storefront slot.

Each placement turns the widget's query parameters into a query on the shop's serving model
(the merchandising filter `blocked` is added by `serve_query`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import redis.asyncio as aioredis

from plugin.engine import queries
from plugin.engine.queries import Query
from plugin.web.params import BadRequest, parse_id, parse_limit

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
    customer_id = params.get("customer_id") or None
    return WidgetRequest(
        placement=placement,
        limit=min(parse_limit(params.get("limit", DEFAULT_LIMIT)), MAX_LIMIT),
        product_id=params.get("product_id") or None,
        product_ids=tuple(parse_id("product_ids[]", p) for p in product_ids),
        customer_id=None if customer_id is None else parse_id("customer_id", customer_id),
    )


def _product(request: WidgetRequest) -> str:
    return parse_id(f"product_id (placement {request.placement})", request.product_id)


def _customer(request: WidgetRequest) -> str:
    return parse_id(f"customer_id (placement {request.placement})", request.customer_id)


async def _bundle(redis: aioredis.Redis, shop_id: str, request: WidgetRequest) -> Query:
    return queries.BoughtTogether(_product(request), request.limit)


async def _also_bought(redis: aioredis.Redis, shop_id: str, request: WidgetRequest) -> Query:
    return queries.Similar(_product(request), request.limit)


async def _cart(redis: aioredis.Redis, shop_id: str, request: WidgetRequest) -> Query:
    return queries.Cart(request.product_ids, request.customer_id, request.limit)


async def _customer_list(redis: aioredis.Redis, shop_id: str, request: WidgetRequest) -> Query:
    return await queries.personal(redis, shop_id, _customer(request), request.limit)


async def _thank_you(redis: aioredis.Redis, shop_id: str, request: WidgetRequest) -> Query:
    return await queries.thank_you(redis, shop_id, request.product_ids, request.customer_id,
                                   request.limit)


async def _home(redis: aioredis.Redis, shop_id: str, request: WidgetRequest) -> Query:
    if request.customer_id is None:
        return queries.Trending(request.limit)
    return await queries.home(redis, shop_id, request.customer_id, request.limit)


async def _trending(redis: aioredis.Redis, shop_id: str, request: WidgetRequest) -> Query:
    return queries.Trending(request.limit)


async def _buy_again(redis: aioredis.Redis, shop_id: str, request: WidgetRequest) -> Query:
    return await queries.buy_again(redis, shop_id, _customer(request), request.limit)


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
