"""Widget routes: the embed script and the public, CORS-enabled recommendations endpoint."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from plugin.api import BadRequest, parse_id, parse_limit
from plugin.problems import problem
from plugin.serving import Query, serve_query
from plugin.shops import shop_by_widget_key
from webhooks.records import customer_history

STATIC = Path(__file__).parent / "static"
CORS = {"Access-Control-Allow-Origin": "*", "Vary": "Origin"}
WIDGET_MAX_LIMIT = 24


async def embed_js(request: Request) -> Response:
    return Response(
        (STATIC / "embed.js").read_bytes(),
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=300", **CORS},
    )


async def widget_query(request: Request, shop_id: str) -> tuple[str, Query]:
    params = request.query_params
    placement = params.get("placement", "trending")
    limit = min(parse_limit(params.get("limit", "4")), WIDGET_MAX_LIMIT)
    if placement in {"product", "similar"}:
        product_id = parse_id("product_id", params.get("product_id"))
        if placement == "product":
            return placement, lambda m, b: m.bought_together(product_id, limit, b)
        return placement, lambda m, b: m.similar(product_id, limit, b)
    if placement == "cart":
        ids = [p for p in (params.get("product_ids") or "").split(",") if p]
        return placement, lambda m, b: m.for_cart(ids, params.get("customer_id"), limit, b)
    if placement == "customer":
        customer_id = parse_id("customer_id", params.get("customer_id"))
        history = await customer_history(request.app.state.redis, shop_id, customer_id)
        return placement, lambda m, b: m.for_customer(customer_id, limit, False, b, history)
    if placement == "trending":
        return placement, lambda m, b: m.trending(limit, b)
    raise BadRequest(
        f"placement must be product, similar, cart, customer or trending, got {placement!r}"
    )


async def widget_recommendations(request: Request) -> Response:
    shop = await shop_by_widget_key(request.app.state.redis, request.query_params.get("key", ""))
    if shop is None:
        return problem(404, "unknown widget key: copy data-key from `shopreco shops list`")
    try:
        placement, query = await widget_query(request, shop.shop_id)
    except BadRequest as error:
        return problem(400, str(error))
    state = request.app.state
    served = await serve_query(state.redis, state.models, shop.shop_id, shop.currency, query)
    body = {"placement": placement, "model_version": served.model_version, "items": served.items}
    return JSONResponse(body, headers={"Cache-Control": "public, max-age=60", **CORS})


routes = [
    Route("/widgets/v1/embed.js", embed_js),
    Route("/widgets/v1/recommendations", widget_recommendations),
]
