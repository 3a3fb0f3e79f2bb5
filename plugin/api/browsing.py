"""Shoppers' browsing through the JSON API, for custom storefronts and headless shops: their
product views and add-to-carts in, and the lists made of them out.

    POST /events                               a visitor's events (scope events:write)
    GET  /recommendations/visitors/{visitor}   kind=recently_viewed | inspired_by_browsing

A visitor is a browser or session, known or not (`visitor_id`, the storefront's own token;
the widget's is its `shopreco_vid`). Their history is short and expiring (plugin.store.browsing)
and held per process (plugin.store.visitor_cache): a list asked right after the events holds
them in the process that stored them at once, and in every other within REFRESH_SECONDS.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from plugin.api import PREFIX
from plugin.api.recommendations import LISTED, answer_response
from plugin.api.schemas import LIMIT, SHOP_ID, customer_id, product_id
from plugin.engine import browsing as lists
from plugin.engine.queries import Query
from plugin.store.browsing import KINDS, MAX_BROWSED, visitor_id
from plugin.store.fields import PayloadError, timestamp
from plugin.store.shops import Shop
from plugin.store.tracking import link_visitor
from plugin.web.auth import authorized
from plugin.web.body import json_body
from plugin.web.openapi import (
    Answer,
    Operation,
    Param,
    Schema,
    array,
    documented,
    integer,
    nullable,
    obj,
    string,
)
from plugin.web.params import BadRequest, parse_id, parse_limit

MAX_EVENTS = 100
SHAPE = ('{"visitor_id": "...", "customer_id": null, "events": [{"type": "product_view", '
         '"product_id": "...", "at": "2026-12-01T09:30:00Z"}]}')
BODY_FIELDS = frozenset({"visitor_id", "customer_id", "events"})
EVENT_FIELDS = frozenset({"type", "product_id", "at"})
KIND_NAMES = (lists.RECENTLY_VIEWED, lists.INSPIRED)

# ---- the reference (plugin.web.openapi) ---------------------------------------------------------

VISITOR_PATTERN = "^[A-Za-z0-9_.:-]{1,128}$"
VISITOR_ID_TEXT = ("The visitor: a browser or session, known or not (the storefront's own "
                   "token: 1 to 128 letters, digits, '_', '.', ':' or '-'; the widget's is its "
                   "`shopreco_vid` in localStorage).")


def visitor(description: str = VISITOR_ID_TEXT) -> Schema:
    return string(description, "9f3c2a71d04b4e59a8e3c1b2f6d7e8a0", pattern=VISITOR_PATTERN,
                  minLength=1, maxLength=128)


EVENTS = obj("A visitor's browsing events.", {
    "visitor_id": visitor(),
    "customer_id": nullable(customer_id("The customer signed in, if any: the visitor is "
                                        "linked to them (erasing the customer erases the "
                                        "visitor's history too).")),
    "events": array(obj("A product view or add-to-cart.", {
        "type": string("What the visitor did.", "product_view", enum=list(KINDS)),
        "product_id": product_id("The product viewed or added to the cart."),
        "at": string("When, ISO 8601 (a time without an offset is UTC); later than now counts "
                     "as now. Absent: now (events without one keep their order).",
                     "2026-12-01T09:30:00Z", format="date-time", maxLength=40),
    }, optional=("at",)), f"1 to {MAX_EVENTS} events, oldest first.", minItems=1,
        maxItems=MAX_EVENTS),
}, optional=("customer_id",))
RECORDED = obj("What was stored of the events.", {
    "shop_id": SHOP_ID,
    "visitor_id": visitor("The visitor, as sent."),
    "recorded": integer("Events stored in the visitor's history.", 2, minimum=0),
    "ignored": integer("Events older than the history's span (30 days): not stored.", 0,
                       minimum=0),
})


@documented(Operation(
    "POST", "postBrowsingEvents", "Record a visitor's product views and add-to-carts",
    "Browsing", {200: Answer("Stored.", RECORDED)}, "events:write", body=EVENTS,
    description="For `recently_viewed` and `inspired_by_browsing`, of visitors who have "
                f"not ordered yet too. Each visitor's history keeps the {MAX_BROWSED} "
                "products they most recently viewed or added to a cart, for 30 days. The "
                "storefront widget records its own shoppers' views itself. One bad event "
                "refuses the batch with a 400 that names it, and nothing is stored.",
    errors=(400, 401, 403, 404),
))
@authorized
async def browsing_events(request: Request, shop: Shop) -> Response:
    now = time.time()
    visitor_token, customer, events = parse_events(await json_body(request, SHAPE), now)
    redis = request.app.state.redis
    recorded = await request.app.state.cache.visitors.record(shop.shop_id, visitor_token,
                                                             events, now)
    if customer is not None:
        await link_visitor(redis, shop.shop_id, visitor_token, customer)
    return JSONResponse({"shop_id": shop.shop_id, "visitor_id": visitor_token,
                         "recorded": recorded, "ignored": len(events) - recorded})


def parse_events(body: Any, now: float) -> tuple[str, str | None, list[tuple[str, float]]]:
    """The visitor, the customer and the (product id, time) events of a body; BadRequest
    names what is wrong. Events without a time are now, in the order sent."""
    if not isinstance(body, dict) or set(body) - BODY_FIELDS \
            or not isinstance(body.get("events"), list):
        raise BadRequest(f"the body must be an object with `visitor_id` and a list `events`: "
                         f"{SHAPE}")
    sent = body["events"]
    if not 1 <= len(sent) <= MAX_EVENTS:
        raise BadRequest(f"events must hold 1 to {MAX_EVENTS} events, got {len(sent)}")
    try:
        token = visitor_id(body.get("visitor_id"))
    except PayloadError as error:
        raise BadRequest(str(error)) from None
    raw_customer = body.get("customer_id")
    customer = None if raw_customer is None else parse_id("customer_id", raw_customer)
    events = []
    for n, raw in enumerate(sent):
        where = f"events[{n}]"
        if not isinstance(raw, dict) or set(raw) - EVENT_FIELDS:
            raise BadRequest(f"{where} must be an object with type, product_id and "
                             f"optionally at: {SHAPE}")
        if raw.get("type") not in KINDS:
            raise BadRequest(f"{where}.type must be one of {', '.join(KINDS)}, got "
                             f"{raw.get('type')!r}")
        product = parse_id(f"{where}.product_id", raw.get("product_id"))
        at = raw.get("at")
        try:
            seconds = now - (len(sent) - 1 - n) * 1e-3 if at is None \
                else timestamp(at, f"{where}.at")
        except PayloadError as error:
            raise BadRequest(str(error)) from None
        events.append((product, seconds))
    return token, customer, events


VISITOR_ID = Param("visitor_id", visitor(), "path")


@documented(Operation(
    "GET", "visitorRecommendations", "From a visitor's browsing", "Recommendations", LISTED,
    "recommendations:read",
    description="`recently_viewed`: the products the visitor viewed (or added to a cart) "
                "lately, newest first (reason recently_viewed), those never shown left out; "
                "empty for a visitor without views. `inspired_by_browsing`: products the "
                "model links to their recent views (reason browsing, `because` the views), "
                "never one they viewed, filled with trending products. Both hold the events "
                "sent just before. The list is the widget placement of the same name: in an "
                "experiment running on it, the visitor's arm answers (`experiment`, `arm`).",
    params=(VISITOR_ID, Param("kind", string("Which list (default recently_viewed).",
                                             lists.RECENTLY_VIEWED, enum=list(KIND_NAMES))),
            LIMIT),
))
@authorized
async def visitor_recommendations(request: Request, shop: Shop) -> Response:
    try:
        token = visitor_id(request.path_params["visitor_id"])
    except PayloadError as error:
        raise BadRequest(str(error)) from None
    kind = request.query_params.get("kind", lists.RECENTLY_VIEWED)
    limit = parse_limit(request.query_params.get("limit"))
    cache = request.app.state.cache
    query: Query
    if kind == lists.RECENTLY_VIEWED:
        query = await lists.recently_viewed(cache, shop.shop_id, token, limit)
    elif kind == lists.INSPIRED:
        query = await lists.inspired_by_browsing(cache, shop.shop_id, token, limit)
    else:
        raise BadRequest(f"kind must be {' or '.join(KIND_NAMES)}, got {kind!r}")
    return await answer_response(request, shop, query, placement=kind, visitor=token)


routes = [
    Route(f"{PREFIX}/events", browsing_events, methods=["POST"]),
    Route(f"{PREFIX}/recommendations/visitors/{{visitor_id}}", visitor_recommendations),
]
