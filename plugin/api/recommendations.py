"""The JSON API under /api/v1/shops/{shop_id}: recommendations and the model."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from plugin.api import PREFIX
from plugin.engine import queries, train_requests
from plugin.engine.queries import Query
from plugin.engine.serving import kept, serve_query
from plugin.engine.training import NothingToTrain, train_shop
from plugin.store import changes, keys
from plugin.store.connection import text
from plugin.store.exclusions import excluded, replace_excluded
from plugin.store.models import ModelInfo, current_model_info
from plugin.store.shops import Shop
from plugin.web.auth import authorized
from plugin.web.body import InvalidJson, decode_json, json_body, read_body
from plugin.web.params import BadRequest, parse_bool, parse_id, parse_limit
from plugin.web.problems import problem
from plugin.web.responses import json_bytes

log = logging.getLogger(__name__)
WORKER_TRAINING_SECONDS = 900.0  # a waiting train call gives the worker this long (then 503)

async def answer_response(
    request: Request, shop: Shop, query: Query,
    build: Callable[[], Awaitable[Query]] | None = None,
) -> Response:
    """The answer to `query` (built by `build` when it needs the customer's history: `query`
    then only names it), encoded once and kept until what it was made of changes."""
    cache = request.app.state.cache

    async def make() -> bytes:
        asked = query if build is None else await build()
        served = await serve_query(cache, shop.shop_id, shop.currency, asked)
        return json_bytes({"shop_id": shop.shop_id, "model_version": served.model_version,
                           "strategy": served.strategy, "items": served.items})

    body = await kept(cache, shop.shop_id, ("api", query.key), query.customer, make)
    return Response(body, media_type="application/json")


@authorized
async def product_recommendations(request: Request, shop: Shop) -> Response:
    product_id = parse_id("product_id", request.path_params["product_id"])
    kind = request.query_params.get("kind", "bought_together")
    limit = parse_limit(request.query_params.get("limit"))
    if kind == "bought_together":
        return await answer_response(request, shop, queries.BoughtTogether(product_id, limit))
    if kind == "similar":
        return await answer_response(request, shop, queries.Similar(product_id, limit))
    raise BadRequest(f"kind must be bought_together or similar, got {kind!r}")


@authorized
async def customer_recommendations(request: Request, shop: Shop) -> Response:
    customer_id = parse_id("customer_id", request.path_params["customer_id"])
    limit = parse_limit(request.query_params.get("limit"))
    exclude = parse_bool("exclude_purchased", request.query_params.get("exclude_purchased"))
    return await answer_response(
        request, shop, queries.Personal(customer_id, limit, exclude),
        lambda: queries.personal(request.app.state.cache, shop.shop_id, customer_id, limit,
                                 exclude))


@authorized
async def cart_recommendations(request: Request, shop: Shop) -> Response:
    raw = await read_body(request, request.app.state.settings.max_body_bytes)
    query = _cart_query(raw) if len(raw) <= REMEMBERED_BODY else _cart_query.__wrapped__(raw)
    if isinstance(query, str):
        raise BadRequest(query)
    return await answer_response(request, shop, query)


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


@authorized
async def trending(request: Request, shop: Shop) -> Response:
    limit = parse_limit(request.query_params.get("limit"))
    return await answer_response(request, shop, queries.Trending(limit))


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
    return JSONResponse({"shop_id": shop.shop_id,
                         "product_ids": await excluded(redis, shop.shop_id)})



routes = [
    Route(f"{PREFIX}/recommendations/products/{{product_id}}", product_recommendations),
    Route(f"{PREFIX}/recommendations/customers/{{customer_id}}", customer_recommendations),
    Route(f"{PREFIX}/recommendations/cart", cart_recommendations, methods=["POST"]),
    Route(f"{PREFIX}/recommendations/trending", trending),
    Route(f"{PREFIX}/exclusions", exclusions, methods=["GET", "PUT"]),
    Route(f"{PREFIX}/model", model_info),
    Route(f"{PREFIX}/model/train", train, methods=["POST"]),
]
