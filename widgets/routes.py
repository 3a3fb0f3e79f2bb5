"""Widget routes: the embed script, the public recommendations endpoint and the events
endpoint. Both public endpoints take the shop's publishable widget key, answer CORS only to
the shop's registered origins and are rate limited per widget key and client IP."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from plugin.engine.serving import serve_query
from plugin.store.shops import Shop, shop_by_widget_key
from plugin.web.params import BadRequest
from plugin.web.problems import problem
from widgets.cors import cached, cors_headers, preflight
from widgets.events import receive_events
from widgets.placements import build_query, parse_request
from widgets.ratelimit import retry_after

STATIC = Path(__file__).parent / "static"


async def embed_js(request: Request) -> Response:
    return Response(
        (STATIC / "embed.js").read_bytes(),
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"},
    )


async def public_shop(request: Request) -> Shop | Response:
    """The shop of the `key` parameter, or the 404 / 429 answer to send instead."""
    redis = request.app.state.redis
    shop = await shop_by_widget_key(redis, request.query_params.get("key", ""))
    if shop is None:
        return problem(404, "unknown widget key: copy data-key from `shopreco shops list`")
    if request.method == "OPTIONS":
        return shop
    client = request.client.host if request.client else "unknown"
    limit = request.app.state.settings.widget_rate_per_minute
    wait = await retry_after(redis, shop.shop_id, client, limit)
    if wait is not None:
        response = problem(429, f"too many widget requests from this address; retry in {wait} s")
        response.headers.update({"Retry-After": str(wait), **cors_headers(request, shop)})
        return response
    return shop


async def widget_recommendations(request: Request) -> Response:
    shop = await public_shop(request)
    if isinstance(shop, Response):
        return shop
    if request.method == "OPTIONS":
        return preflight(request, shop, "GET, OPTIONS")
    state = request.app.state
    cors = cors_headers(request, shop)
    try:
        widget = parse_request(request.query_params)
        query = await build_query(state.redis, shop.shop_id, widget)
    except BadRequest as error:
        response = problem(400, str(error))
        response.headers.update(cors)
        return response
    served = await serve_query(state.redis, state.models, shop.shop_id, shop.currency, query)
    body = {"placement": widget.placement, "model_version": served.model_version,
            "strategy": served.strategy, "currency": shop.currency, "locale": shop.locale,
            "items": served.items}
    return cached(request, JSONResponse(body, headers=cors), widget.customer_id is not None)


async def widget_events(request: Request) -> Response:
    shop = await public_shop(request)
    if isinstance(shop, Response):
        return shop
    if request.method == "OPTIONS":
        return preflight(request, shop, "POST, OPTIONS")
    response = await receive_events(request, shop)
    response.headers.update(cors_headers(request, shop))
    return response


routes = [
    Route("/widgets/v1/embed.js", embed_js),
    Route("/widgets/v1/recommendations", widget_recommendations, methods=["GET", "OPTIONS"]),
    Route("/widgets/v1/events", widget_events, methods=["POST", "OPTIONS"]),
]
