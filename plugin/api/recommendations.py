"""The JSON API under /api/v1/shops/{shop_id}: recommendations and the model."""

from __future__ import annotations

import asyncio
import bisect
import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine, Hashable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from plugin.api import PREFIX
from plugin.api.schemas import (
    CUSTOMER_ID,
    EXCLUDE_PURCHASED,
    LIMIT,
    MODEL_VERSION,
    PRODUCT_ID,
    RECOMMENDATIONS,
    SHOP_ID,
    VISITOR_ID,
    customer_id,
    product_id,
)
from plugin.engine import queries, train_requests
from plugin.engine.blended import arm_query
from plugin.engine.experiments import assign, served_by
from plugin.engine.queries import Query
from plugin.engine.serving import kept, serve_query
from plugin.engine.training import NothingToTrain, train_shop
from plugin.store import changes, keys
from plugin.store.browsing import visitor_id
from plugin.store.connection import text
from plugin.store.exclusions import excluded, replace_excluded
from plugin.store.experiments import CHOSEN, HOLDOUT
from plugin.store.fields import PayloadError
from plugin.store.models import ModelInfo, current_model_info
from plugin.store.shops import Shop
from plugin.web.auth import authorized
from plugin.web.body import InvalidJson, decode_json, json_body, read_body
from plugin.web.openapi import (
    Answer,
    Operation,
    Param,
    array,
    boolean,
    documented,
    integer,
    mapping,
    nullable,
    obj,
    string,
)
from plugin.web.params import (
    BadRequest,
    page_cursor,
    parse_bool,
    parse_id,
    parse_int,
    parse_limit,
    parse_page_cursor,
)
from plugin.web.problems import problem
from plugin.web.responses import json_bytes

log = logging.getLogger(__name__)
WORKER_TRAINING_SECONDS = 900.0  # a waiting train call gives the worker this long (then 503)

async def answer_response(
    request: Request, shop: Shop, query: Query,
    build: Callable[[], Awaitable[Query]] | None = None, placement: str | None = None,
    visitor: str | None = None,
) -> Response:
    """The answer to `query` (built by `build` when it needs the customer's history: `query`
    then only names it), encoded once and kept until what it was made of changes. A call
    answered for a widget placement is in the experiment running on it when it names a
    visitor (`visitor`, else ?visitor_id=) or a customer, and served with the placement's
    strategy (plugin.engine.experiments)."""
    cache = request.app.state.cache
    assignment = None
    if placement is not None and shop.experiments:
        assignment = await assign(cache, shop, placement, visitor or _visitor(request),
                                  query.customer)
    strategy = CHOSEN if placement is None else served_by(shop, placement, assignment)

    async def make() -> bytes:
        found: dict[str, Any] = {"shop_id": shop.shop_id, "model_version": None,
                                 "strategy": HOLDOUT, "items": []}
        if strategy != HOLDOUT:
            asked = arm_query(strategy, query if build is None else await build())
            served = await serve_query(cache, shop.shop_id, shop.currency, asked)
            found.update(model_version=served.model_version, strategy=served.strategy,
                         items=served.items)
        if assignment is not None:
            found.update(assignment.fields())
        return json_bytes(found)

    key: Hashable = ("api", query.key)
    if assignment is not None or strategy != CHOSEN:  # an arm's answer is its own
        key = (key, strategy if assignment is None else assignment.key)
    body = await kept(cache, shop.shop_id, key, query.customer, make)
    return Response(body, media_type="application/json",
                    headers={"Cache-Control": "private"} if assignment else None)


def _visitor(request: Request) -> str | None:
    raw = request.query_params.get("visitor_id")
    if raw is None:
        return None
    try:
        return visitor_id(raw)
    except PayloadError as error:
        raise BadRequest(str(error)) from None


TAG = "Recommendations"
SCOPE = "recommendations:read"
LISTED = {200: Answer("Recommended products, best first.", RECOMMENDATIONS)}


def _more(operation_id: str) -> dict[str, object]:
    """Links from an answer's first item to the next call about it (Schemathesis follows them)."""
    return {"BoughtTogether": {"operationId": operation_id,
                               "parameters": {"shop_id": "$request.path.shop_id",
                                              "product_id": "$response.body#/items/0/product_id"}}}


@documented(Operation(
    "GET", "productRecommendations", "Products bought together with, or similar to, a product",
    TAG, LISTED, SCOPE,
    description="`bought_together`: what customers buy with it (product pages, thank-you "
                "pages); `similar`: products with the same buyers. A product the shop has "
                "never sold gets trending products.",
    params=(PRODUCT_ID, Param("kind", string("Which list (default bought_together).",
                                             "bought_together",
                                             enum=["bought_together", "similar"])), LIMIT,
            VISITOR_ID),
    links={200: _more("productRecommendations")},
))
@authorized
async def product_recommendations(request: Request, shop: Shop) -> Response:
    product_id = parse_id("product_id", request.path_params["product_id"])
    kind = request.query_params.get("kind", "bought_together")
    limit = parse_limit(request.query_params.get("limit"))
    if kind == "bought_together":
        return await answer_response(request, shop, queries.BoughtTogether(product_id, limit),
                                     placement="bundle")
    if kind == "similar":
        return await answer_response(request, shop, queries.Similar(product_id, limit),
                                     placement="also_bought")
    raise BadRequest(f"kind must be bought_together or similar, got {kind!r}")


@documented(Operation(
    "GET", "customerRecommendations", "Picked for one customer", TAG, LISTED, SCOPE,
    description="What this customer is most likely to buy next, from their orders (`reason` "
                "buy_again or personal); a customer the shop has not seen gets trending "
                "products.",
    params=(CUSTOMER_ID, LIMIT, EXCLUDE_PURCHASED, VISITOR_ID),
    links={200: _more("productRecommendations")},
))
@authorized
async def customer_recommendations(request: Request, shop: Shop) -> Response:
    customer_id = parse_id("customer_id", request.path_params["customer_id"])
    limit = parse_limit(request.query_params.get("limit"))
    exclude = parse_bool("exclude_purchased", request.query_params.get("exclude_purchased"))
    return await answer_response(
        request, shop, queries.Personal(customer_id, limit, exclude),
        lambda: queries.personal(request.app.state.cache, shop.shop_id, customer_id, limit,
                                 exclude), "home")


CART = obj("A cart.", {
    "product_ids": array(product_id(), "The products in the cart.", maxItems=100),
    "customer_id": nullable(customer_id("The shopper, when known (their history counts too).")),
    "limit": LIMIT.schema,
}, optional=("customer_id", "limit"), closed=False)


@documented(Operation(
    "POST", "cartRecommendations", "What completes a cart", TAG, LISTED, SCOPE,
    description="Products that go with everything in the cart (never one already in it).",
    params=(VISITOR_ID,), body=CART, errors=(400, 401, 403, 404, 413),
))
@authorized
async def cart_recommendations(request: Request, shop: Shop) -> Response:
    raw = await read_body(request, request.app.state.settings.max_body_bytes)
    query = _cart_query(raw) if len(raw) <= REMEMBERED_BODY else _cart_query.__wrapped__(raw)
    if isinstance(query, str):
        raise BadRequest(query)
    return await answer_response(request, shop, query, placement="cart")


REMEMBERED_BODY = 1024  # a storefront sends the same few carts again and again


@functools.lru_cache(maxsize=4096)
def _cart_query(raw: bytes) -> queries.Cart | str:
    """The cart query of a body, or what is wrong with it (remembered for short bodies: the
    JSON checks and id rules cost more than answering from the kept answer)."""
    try:
        body = decode_json(raw)
    except InvalidJson as error:
        return f'{error}; send JSON: {{"product_ids": [...], "limit": N}}'
    try:
        if not isinstance(body, dict) or not isinstance(body.get("product_ids"), list):
            raise BadRequest("the body must be an object with a list `product_ids`")
        product_ids = [parse_id("product_ids[]", p) for p in body["product_ids"]]
        raw_customer = body.get("customer_id")
        customer_id = None if raw_customer is None else parse_id("customer_id", raw_customer)
        return queries.Cart(tuple(product_ids), customer_id, parse_limit(body.get("limit")))
    except BadRequest as error:
        return str(error)


@documented(Operation(
    "GET", "trendingProducts", "What sells now", TAG, LISTED, SCOPE,
    description="Products by recent sales, newer orders weighing more.",
    params=(LIMIT, VISITOR_ID),
))
@authorized
async def trending(request: Request, shop: Shop) -> Response:
    limit = parse_limit(request.query_params.get("limit"))
    return await answer_response(request, shop, queries.Trending(limit), placement="trending")


MODEL_META = nullable({"type": "object", "description": "The model's description: when it was "
                      "trained, on what, its strategy and the per-shop choice's validation "
                      "scores (null before the first training).",
                      "examples": [{"version": "7", "trained_at": 1796173891.8, "orders": 120}]})
MODEL = obj("The shop's serving model and its counters.", {
    "shop_id": SHOP_ID,
    "model_version": MODEL_VERSION,
    "model": MODEL_META,
    "stats": mapping(integer("A count.", 120), "Counters of what the shop's webhooks brought "
                     "(events accepted, orders stored, ...).", {"orders": 120}),
})


@documented(Operation(
    "GET", "modelInfo", "The serving model: version, sizes, strategy, counters", "Model",
    {200: Answer("The model.", MODEL)}, "recommendations:read", errors=(401, 403, 404),
))
@authorized
async def model_info(request: Request, shop: Shop) -> Response:
    redis = request.app.state.redis
    info = await current_model_info(redis, shop.shop_id)
    stats = {text(k): int(v) for k, v in (await redis.hgetall(keys.stats(shop.shop_id))).items()}
    return JSONResponse({
        "shop_id": shop.shop_id,
        "model_version": info.version if info else None,
        "model": info.meta if info else None,
        "stats": stats,
    })


TRAINED = obj("The outcome of a training.", {
    "shop_id": SHOP_ID,
    "status": string("serving: the new model answers now; training: it started and will "
                     "serve when done.", "serving", enum=["serving", "training"]),
    "model_version": MODEL_VERSION,
    "model": MODEL_META,
}, optional=("model_version", "model"))


@documented(Operation(
    "POST", "trainModel", "Process every accepted event, train and serve", "Model",
    {200: Answer("Trained (wait=true): the new model serves.", TRAINED),
     202: Answer("Training started (wait=false).", TRAINED)}, "admin",
    params=(Param("wait", boolean("true: answer once the new model serves.", True)),
            Param("retune", boolean("true: run the per-shop choice of model again even if "
                                    "the shop's data did not change much.", False))),
    errors=(400, 401, 403, 404, 409),
))
@authorized
async def train(request: Request, shop: Shop) -> Response:
    wait = parse_bool("wait", request.query_params.get("wait"))
    retune = parse_bool("retune", request.query_params.get("retune"))
    state = request.app.state
    if not wait:
        _spawn(state, _drain_and_train(state, shop.shop_id, retune))
        return JSONResponse({"shop_id": shop.shop_id, "status": "training"}, status_code=202)
    try:
        info = await _drain_and_train(state, shop.shop_id, retune)
    except NothingToTrain as error:
        return problem(409, str(error))
    except TimeoutError as error:
        return problem(503, str(error))
    return JSONResponse(
        {"shop_id": shop.shop_id, "status": "serving", "model_version": info.version,
         "model": info.meta}
    )


def _spawn(state: Any, work: Coroutine[Any, Any, Any]) -> None:
    """Run `work` after the response; keep a reference until it ends, log how it ended."""
    task = asyncio.create_task(work)
    state.background.add(task)

    def finished(done: asyncio.Task[Any]) -> None:
        state.background.discard(done)
        if not done.cancelled() and done.exception() is not None:
            log.warning("background training failed: %s", done.exception())

    task.add_done_callback(finished)


async def _drain_and_train(state: Any, shop_id: str, retune: bool = False) -> ModelInfo:
    """Drain and train in the worker process when one runs beside this web process (serve
    --workers), else here."""
    if not state.settings.run_worker and await train_requests.worker_is_alive(state.redis):
        request_id = await train_requests.ask_worker(state.redis, shop_id, retune)
        info = await train_requests.worker_answer(state.redis, shop_id, request_id,
                                                  WORKER_TRAINING_SECONDS)
    else:
        await state.ingestor.drain(shop_id)
        info = await train_shop(state.redis, shop_id,
                                tuning_seconds=state.settings.tuning_seconds, retune=retune)
    await state.cache.refresh()  # what was drained (catalog, orders) serves here now ...
    await state.cache.reload_model(shop_id)  # ... and so does the new model
    return info


PAGE_LIMIT = 1000  # product ids a page of the excluded list holds at most
EXCLUDED = obj("The products the owner never wants recommended: a page of them.", {
    "shop_id": SHOP_ID,
    "product_ids": array(product_id(), "Excluded products, in id order (as text): at most "
                         "`limit`.", maxItems=PAGE_LIMIT),
    "next_cursor": nullable(string("Pass it as `cursor` for the next page; null on the last.",
                                   "MTAwNTQ")),
})
PAGING = (Param("limit", integer(f"Ids per page (default and at most {PAGE_LIMIT}).",
                                 PAGE_LIMIT, minimum=1, maximum=PAGE_LIMIT)),
          Param("cursor", string("next_cursor of the previous page, unchanged.", "MTAwNTQ")))


@documented(
    Operation("GET", "getExclusions", "Products never recommended", "Catalog",
              {200: Answer("The excluded products.", EXCLUDED)}, "catalog:read",
              params=PAGING),
    Operation("PUT", "putExclusions", "Replace the products never recommended", "Catalog",
              {200: Answer("The excluded products as stored: the first page.", EXCLUDED)},
              "catalog:write",
              body=obj("The whole new list.",
                       {"product_ids": array(product_id(), "Products to exclude.")},
                       closed=False),
              errors=(400, 401, 403, 404, 413)),
)
@authorized
async def exclusions(request: Request, shop: Shop) -> Response:
    """GET: the products the owner excluded. PUT {"product_ids": [...]}: replace that list."""
    redis = request.app.state.redis
    if request.method == "PUT":
        body = await json_body(request, '{"product_ids": [...]}')
        if not isinstance(body, dict) or not isinstance(body.get("product_ids"), list):
            raise BadRequest("the body must be an object with a list `product_ids`")
        ids = [parse_id("product_ids[]", p) for p in body["product_ids"]]
        await replace_excluded(redis, shop.shop_id, ids)
        request.app.state.cache.changed(shop.shop_id, (changes.BLOCKED, ""))
        return _excluded_page(shop, await excluded(redis, shop.shop_id), PAGE_LIMIT, None)
    params = request.query_params
    return _excluded_page(shop, await excluded(redis, shop.shop_id),
                          parse_int("limit", params.get("limit"), PAGE_LIMIT, 1, PAGE_LIMIT),
                          parse_page_cursor(params.get("cursor")))


def _excluded_page(shop: Shop, ids: list[str], limit: int, after: str | None) -> Response:
    start = 0 if after is None else bisect.bisect_right(ids, after)
    page = ids[start:start + limit]
    more = start + limit < len(ids)
    return JSONResponse({"shop_id": shop.shop_id, "product_ids": page,
                         "next_cursor": page_cursor(page[-1]) if more and page else None})



# The busiest calls: the app answers them before routing (plugin.app.WebhookShortcut).
hot_routes = [
    Route(f"{PREFIX}/recommendations/products/{{product_id}}", product_recommendations),
    Route(f"{PREFIX}/recommendations/customers/{{customer_id}}", customer_recommendations),
    Route(f"{PREFIX}/recommendations/cart", cart_recommendations, methods=["POST"]),
    Route(f"{PREFIX}/recommendations/trending", trending),
]
routes = [
    *hot_routes,
    Route(f"{PREFIX}/exclusions", exclusions, methods=["GET", "PUT"]),
    Route(f"{PREFIX}/model", model_info),
    Route(f"{PREFIX}/model/train", train, methods=["POST"]),
]
