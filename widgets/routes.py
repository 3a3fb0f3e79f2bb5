"""Widget routes: the embed script, the public recommendations endpoint and the events
endpoint. Both public endpoints take the shop's publishable widget key, answer CORS only to
the shop's registered origins and are rate limited per widget key and client IP."""

from __future__ import annotations

from collections.abc import Hashable
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from plugin.engine.blended import arm_query
from plugin.engine.experiments import Assignment, assign, served_by
from plugin.engine.queries import Query
from plugin.engine.serving import kept, serve_query
from plugin.store.cache import ShopCache
from plugin.store.experiments import CHOSEN, HOLDOUT
from plugin.store.shops import Shop
from plugin.web.params import BadRequest
from plugin.web.problems import problem
from plugin.web.responses import json_bytes
from widgets.cors import cached, cors_headers, preflight, strong_etag
from widgets.events import receive_events
from widgets.placements import VISITOR_PLACEMENTS, WidgetRequest, build_query, parse_query

STATIC = Path(__file__).parent / "static"


async def embed_js(request: Request) -> Response:
    return Response(
        (STATIC / "embed.js").read_bytes(),
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"},
    )


async def public_shop(request: Request, widget_key: str | None = None) -> Shop | Response:
    """The shop of the `key` parameter (or `widget_key`), or the 404 / 429 answer to send
    instead."""
    if widget_key is None:
        widget_key = request.query_params.get("key", "")
    shop = await request.app.state.cache.shop_by_widget_key(widget_key)
    if shop is None:
        return problem(404, "unknown widget key: copy data-key from `shopreco shops list`")
    if request.method == "OPTIONS":
        return shop
    client = request.client.host if request.client else "unknown"
    wait = request.app.state.widget_rate.retry_after(shop.shop_id, client)
    if wait is not None:
        response = problem(429, f"too many widget requests from this address; retry in {wait} s")
        response.headers.update({"Retry-After": str(wait), **cors_headers(request, shop)})
        return response
    return shop


async def widget_recommendations(request: Request) -> Response:
    widget_key, widget = parse_query(request.scope["query_string"])
    shop = await public_shop(request, widget_key)
    if isinstance(shop, Response):
        return shop
    if request.method == "OPTIONS":
        return preflight(request, shop, "GET, OPTIONS")
    cache = request.app.state.cache
    cors = cors_headers(request, shop)
    try:
        if isinstance(widget, str):
            raise BadRequest(widget)
        assignment = None
        if shop.experiments and shop.uninstalled_at is None:
            assignment = await assign(cache, shop, widget.placement, widget.experiment_visitor,
                                      widget.customer_id)
        strategy = served_by(shop, widget.placement, assignment)
        key: Hashable = ("widget", widget)
        built: Query | None = None
        browsing = widget.placement in VISITOR_PLACEMENTS
        if browsing and shop.uninstalled_at is None:  # the visitor's history, read now, is
            built = await build_query(cache, shop.shop_id, widget)  # named by the key
            key = ("widget", widget.placement, built.key)
        if assignment is not None or strategy != CHOSEN:  # an arm's answer is its own
            key = (key, strategy if assignment is None else assignment.key)
        body, etag = await kept(cache, shop.shop_id, key, widget.customer_id, lambda: answer(
            cache, shop, widget, built, strategy, assignment))
    except BadRequest as error:
        refused = problem(400, str(error))
        refused.headers.update(cors)
        return refused
    response = cached(request, body, etag, cors, private=browsing or assignment is not None
                      or widget.customer_id is not None)
    if browsing:  # a view on the next page changes it: asked again each time (304 if not)
        response.headers["Cache-Control"] = "private, no-cache"
    return response


async def answer(cache: ShopCache, shop: Shop, widget: WidgetRequest, built: Query | None,
                 strategy: str, assignment: Assignment | None) -> tuple[bytes, str]:
    """The widget's answer body and ETag: the placement's strategy (plugin.store.experiments:
    the shop's model, popularity or nothing), and the experiment's arm when it is in one."""
    found: dict[str, Any] = {
        "placement": widget.placement, "model_version": None, "strategy": "none",
        "currency": shop.currency, "locale": shop.locale, "items": []}
    if assignment is not None:
        found.update(assignment.fields())
    if shop.uninstalled_at is None and strategy == HOLDOUT:
        found["strategy"] = HOLDOUT  # no widget: the placeholder stays hidden
    elif shop.uninstalled_at is None:  # else the platform app was removed: show nothing
        query = arm_query(strategy, built or await build_query(cache, shop.shop_id, widget))
        served = await serve_query(cache, shop.shop_id, shop.currency, query)
        found.update(model_version=served.model_version, strategy=served.strategy,
                     items=served.items)
    body = json_bytes(found)
    return body, strong_etag(body)


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
