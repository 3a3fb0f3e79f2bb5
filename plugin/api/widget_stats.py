"""GET /api/v1/shops/{shop_id}/widgets/stats: what the storefront widgets did for a shop."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from plugin.api import PREFIX
from plugin.api.schemas import SHOP_ID
from plugin.store.shops import Shop
from plugin.web.auth import authorized
from plugin.web.openapi import (
    Answer,
    Operation,
    Param,
    Schema,
    documented,
    integer,
    mapping,
    named,
    nullable,
    number,
    obj,
    string,
)
from widgets.events import EVENT_PLACEMENTS
from widgets.stats import MAX_DAYS, parse_days, widget_stats

DEFAULT_DAYS = 30  # what parse_days gives when `days` is not sent


def revenue(description: str, example: dict[str, str]) -> Schema:
    """Money per currency code, as decimal strings."""
    value = string("A decimal string in the currency of its key.", "25.00",
                   pattern=r"^-?\d+(\.\d+)?(E[+-]?\d+)?$")
    return {**mapping(value, f"{description} By ISO 4217 currency code (empty: none).",
                      example), "propertyNames": {"pattern": "^[A-Z]{3}$"}}


def count(description: str, example: int) -> Schema:
    return integer(description, example, minimum=0)


STATS = named("WidgetPlacementStats", obj("What widgets did over the days asked.", {
    "impressions": count("Times a recommended product was shown.", 1200),
    "clicks": count("Clicks on a recommended product.", 36),
    "add_to_carts": count("Recommended products added to a cart from the widget.", 9),
    "ctr": nullable(number("Clicks per impression, rounded to 4 places; null without "
                           "impressions.", 0.03, minimum=0)),
    "attributed_orders": count(
        "Orders attributed here: the customer's latest click on one of the order's products "
        "(within the attribution window) was here. An order counts in one placement only.", 4),
    "attributed_revenue": revenue("The whole net value of the attributed orders.",
                                  {"EUR": "180.50"}),
    "clicked_revenue": revenue("The net value of the clicked products' own lines, to the "
                               "placement each was clicked in.", {"EUR": "62.00"}),
}))
WIDGET_STATS = obj("What the storefront widgets did for the shop, per placement.", {
    "shop_id": SHOP_ID,
    "days": integer("The days counted (today, UTC, is the last).", DEFAULT_DAYS, minimum=1,
                    maximum=MAX_DAYS),
    "since": string("The first day counted (UTC).", "2026-11-02", format="date"),
    "attribution_days": integer("How long after a click an order is attributed to it, in days "
                                "(SHOPRECO_ATTRIBUTION_DAYS).", 7, minimum=1,
                                maximum=90),
    "placements": {**mapping(STATS, "By placement: each one with an event or an attributed "
                             "order over the days asked (empty: none).",
                             {"bundle": {"impressions": 1200, "clicks": 36, "add_to_carts": 9,
                                         "ctr": 0.03, "attributed_orders": 4,
                                         "attributed_revenue": {"EUR": "180.50"},
                                         "clicked_revenue": {"EUR": "62.00"}}}),
                   "propertyNames": {"enum": sorted(EVENT_PLACEMENTS)}},
    "total": {**STATS, "description": "All placements together."},
})


@documented(Operation(
    "GET", "widgetStats", "What the storefront widgets did", "Widgets",
    {200: Answer("The stats of the days asked.", WIDGET_STATS)}, "recommendations:read",
    description="Impressions, clicks, add-to-carts and click-through rate per placement over "
                "the last `days` UTC days, with the orders attributed to each (an order goes "
                "to the placement of the latest click on one of its products within the "
                "attribution window) and their revenue per currency.",
    params=(Param("days", integer(f"How many UTC days, today included (default "
                                  f"{DEFAULT_DAYS}).", DEFAULT_DAYS, minimum=1,
                                  maximum=MAX_DAYS)),),
    errors=(400, 401, 403, 404),
))
@authorized
async def stats_endpoint(request: Request, shop: Shop) -> Response:
    days = parse_days(request.query_params.get("days"))
    settings = request.app.state.settings
    body = await widget_stats(request.app.state.redis, shop.shop_id, days,
                              settings.attribution_days)
    return JSONResponse(body)


routes = [Route(f"{PREFIX}/widgets/stats", stats_endpoint)]
