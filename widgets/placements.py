"""Widget placements: which named query (plugin.engine.queries) answers each storefront slot.

Each placement turns the widget's query parameters into a query on the shop's serving model
(the merchandising filter `blocked` is added by `serve_query`).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from starlette.datastructures import QueryParams

from plugin.engine import browsing, queries
from plugin.engine.queries import Query
from plugin.store.browsing import visitor_id
from plugin.store.cache import ShopCache
from plugin.store.fields import PayloadError
from plugin.web.params import BadRequest, parse_id, parse_limit

MAX_LIMIT = 24
DEFAULT_LIMIT = "4"
MAX_PRODUCT_IDS = 50
MAX_REMEMBERED_QUERY = 512  # bytes of a query string parse_query remembers
# Placements made of the visitor's browsing: their answers name the history they were made
# of (held per process, plugin.store.visitor_cache), so they are never cached by a browser.
VISITOR_PLACEMENTS = frozenset({"recently_viewed", "inspired_by_browsing"})


@dataclass(frozen=True)
class WidgetRequest:
    """The parsed parameters of one widget call."""

    placement: str
    limit: int
    product_id: str | None
    product_ids: tuple[str, ...]
    customer_id: str | None
    visitor_id: str | None = None  # the browser's `shopreco_vid` (browsing placements only)
    # the same id on any placement, for experiments only (plugin.engine.experiments): not part
    # of the request's identity, so answers stay shared by every visitor of an arm
    experiment_visitor: str | None = field(default=None, compare=False)


Builder = Callable[[ShopCache, str, WidgetRequest], Awaitable[Query]]


def parse_query(query_string: bytes) -> tuple[str, WidgetRequest | str]:
    """The widget key and the parsed request (or what is wrong with it) of a raw query
    string; remembered for short ones (a storefront asks the same few URLs again and
    again)."""
    if len(query_string) <= MAX_REMEMBERED_QUERY:
        return _parse_query(query_string)
    return _parse_query.__wrapped__(query_string)


@functools.lru_cache(maxsize=4096)
def _parse_query(query_string: bytes) -> tuple[str, WidgetRequest | str]:
    params = QueryParams(query_string)
    try:
        return params.get("key", ""), parse_request(params)
    except BadRequest as error:
        return params.get("key", ""), str(error)


def parse_request(params: Mapping[str, str]) -> WidgetRequest:
    placement = params.get("placement", "trending")
    if placement not in PLACEMENTS:
        raise BadRequest(f"placement must be one of {', '.join(PLACEMENTS)}, got {placement!r}")
    raw_ids = params.get("product_ids") or ""
    product_ids = tuple(dict.fromkeys(p.strip() for p in raw_ids.split(",") if p.strip()))
    if len(product_ids) > MAX_PRODUCT_IDS:
        raise BadRequest(f"product_ids takes at most {MAX_PRODUCT_IDS} ids, got {len(product_ids)}")
    customer_id = params.get("customer_id") or None
    visitor = params.get("visitor_id") or None
    if visitor is not None:
        try:
            visitor_id(visitor)
        except PayloadError as error:
            if placement in VISITOR_PLACEMENTS:
                raise BadRequest(str(error)) from None
            visitor = None  # elsewhere it only places the visitor in an experiment
    return WidgetRequest(
        placement=placement,
        limit=min(parse_limit(params.get("limit", DEFAULT_LIMIT)), MAX_LIMIT),
        product_id=params.get("product_id") or None,
        product_ids=tuple(parse_id("product_ids[]", p) for p in product_ids),
        customer_id=None if customer_id is None else parse_id("customer_id", customer_id),
        # kept only where it counts: other placements' answers stay shared by every visitor
        visitor_id=visitor if placement in VISITOR_PLACEMENTS else None,
        experiment_visitor=visitor,
    )


def _product(request: WidgetRequest) -> str:
    return parse_id(f"product_id (placement {request.placement})", request.product_id)


def _customer(request: WidgetRequest) -> str:
    return parse_id(f"customer_id (placement {request.placement})", request.customer_id)


async def _bundle(cache: ShopCache, shop_id: str, request: WidgetRequest) -> Query:
    return queries.BoughtTogether(_product(request), request.limit)


async def _also_bought(cache: ShopCache, shop_id: str, request: WidgetRequest) -> Query:
    return queries.Similar(_product(request), request.limit)


async def _cart(cache: ShopCache, shop_id: str, request: WidgetRequest) -> Query:
    return queries.Cart(request.product_ids, request.customer_id, request.limit)


async def _customer_list(cache: ShopCache, shop_id: str, request: WidgetRequest) -> Query:
    return await queries.personal(cache, shop_id, _customer(request), request.limit)


async def _thank_you(cache: ShopCache, shop_id: str, request: WidgetRequest) -> Query:
    return await queries.thank_you(cache, shop_id, request.product_ids, request.customer_id,
                                   request.limit)


async def _home(cache: ShopCache, shop_id: str, request: WidgetRequest) -> Query:
    if request.customer_id is None:
        return queries.Trending(request.limit)
    return await queries.home(cache, shop_id, request.customer_id, request.limit)


async def _trending(cache: ShopCache, shop_id: str, request: WidgetRequest) -> Query:
    return queries.Trending(request.limit)


async def _buy_again(cache: ShopCache, shop_id: str, request: WidgetRequest) -> Query:
    return await queries.buy_again(cache, shop_id, _customer(request), request.limit)


def _visitor(request: WidgetRequest) -> str:
    if request.visitor_id is None:
        raise BadRequest(f"visitor_id is missing (placement {request.placement}): the "
                         "script sends its visitor id")
    return request.visitor_id


def _page_product(request: WidgetRequest) -> str | None:
    return None if request.product_id is None else _product(request)


async def _recently_viewed(cache: ShopCache, shop_id: str, request: WidgetRequest) -> Query:
    """The visitor's views, without the product of the page it is on (`product_id`)."""
    return await browsing.recently_viewed(cache, shop_id, _visitor(request), request.limit,
                                          _page_product(request))


async def _inspired(cache: ShopCache, shop_id: str, request: WidgetRequest) -> Query:
    """What goes with the visitor's views, the page's product (`product_id`) the newest."""
    return await browsing.inspired_by_browsing(cache, shop_id, _visitor(request),
                                               request.limit, _page_product(request))


PLACEMENTS: dict[str, Builder] = {
    "bundle": _bundle,
    "also_bought": _also_bought,
    "cart": _cart,
    "thank_you": _thank_you,
    "home": _home,
    "trending": _trending,
    "buy_again": _buy_again,
    "recently_viewed": _recently_viewed,
    "inspired_by_browsing": _inspired,
    # names of the first widget version, kept working
    "product": _bundle,
    "similar": _also_bought,
    "customer": _customer_list,
}


async def build_query(cache: ShopCache, shop_id: str, request: WidgetRequest) -> Query:
    """The model query for the request's placement; BadRequest names a missing id."""
    return await PLACEMENTS[request.placement](cache, shop_id, request)
