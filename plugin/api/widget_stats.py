"""GET /api/v1/shops/{shop_id}/widgets/stats: what the storefront widgets did for a shop."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from plugin.api import PREFIX
from plugin.store.shops import Shop
from plugin.web.auth import authorized
from widgets.stats import parse_days, widget_stats


@authorized
async def stats_endpoint(request: Request, shop: Shop) -> Response:
    days = parse_days(request.query_params.get("days"))
    settings = request.app.state.settings
    body = await widget_stats(request.app.state.redis, shop.shop_id, days,
                              settings.attribution_days)
    return JSONResponse(body)


routes = [Route(f"{PREFIX}/widgets/stats", stats_endpoint)]
