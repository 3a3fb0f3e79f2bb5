"""The "Connect a shop" page, the import's progress and the owner's connection page.

    GET  /connect                    every platform's way in (a form or a link), or what to set
    GET  /connect/progress?shop&exp&sig  JSON: the import's progress and our webhooks (the
                                     landing page's signed link)
    GET  /admin/connection           the signed-in owner's shop: platform, webhooks live (asked
                                     of the platform), last delivery, import progress
    POST /admin/connection/disconnect  removes our webhooks and script from the platform and
                                     stops work for the shop (CSRF token required)
    ... and every connector's own routes under /connect/{platform}/.

Shopify installs through its app (plugin.shopify); custom shops are added with
`shopreco shops add`.
"""

from __future__ import annotations

import asyncio
import html
import time
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from plugin.admin import sessions
from plugin.admin.pages import owner_page, render
from plugin.config import Settings
from plugin.connect import bigcommerce, common, ecwid, woocommerce
from plugin.connect.common import Connector, HookState
from plugin.store.shops import get_shop
from plugin.web.problems import problem
from webhooks.http import FetchError

CONNECTORS: tuple[Connector, ...] = (  # one per platform, in the page's order
    woocommerce.CONNECTOR,
    bigcommerce.CONNECTOR,
    ecwid.CONNECTOR,
)
LIVE_CHECK_SECONDS = 5.0


def connector_for(platform: str) -> Connector | None:
    return next((c for c in CONNECTORS if c.platform == platform), None)


async def connect_page(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    cards = "\n".join(
        f"<section id='connect-{c.platform}'><h2>{html.escape(c.title)}</h2>"
        f"{c.card(settings)}</section>" for c in CONNECTORS)
    warning = "" if settings.public_url.startswith("https://") else (
        "<p class='warning'>This shopreco's public address "
        f"(<code>{html.escape(settings.public_url)}</code>) is not https: the platforms "
        "call back only to an https address. Set <code>SHOPRECO_PUBLIC_URL</code>.</p>")
    response = HTMLResponse(f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Connect a shop · shopreco</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem}}
section{{border:1px solid #d5d5d5;border-radius:.5rem;padding:0 1rem 1rem;margin:1rem 0}}
input{{font:inherit;padding:.4rem;width:100%;max-width:28rem}}
button,.button{{font:inherit;padding:.5rem 1rem;border:0;border-radius:.4rem;
background:#0b5cad;color:#fff;cursor:pointer;text-decoration:none;display:inline-block}}
.warning{{background:#fff4e0;padding:.5rem}} code{{background:#f3f3f3;padding:.1rem .3rem}}
</style></head>
<body><h1>Connect a shop</h1>
<p>Approve shopreco once on your shop's platform: it reads your orders and catalog, creates
its webhooks and imports your order history by itself. No keys to copy.</p>
{warning}
<section id="connect-shopify"><h2>Shopify</h2><p>Install the shopreco app from your Shopify
admin (<em>Apps</em>); it connects by itself.</p></section>
{cards}
<section id="connect-custom"><h2>Any other shop</h2><p>Send orders to the custom webhook:
<code>shopreco shops add --platform custom ...</code> (see the README).</p></section>
</body></html>""")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    return response


async def progress(request: Request) -> Response:
    params = request.query_params
    shop_id = params.get("shop") or ""
    if not common.check_progress_link(shop_id, params.get("exp") or "", params.get("sig") or ""):
        return problem(403, "this progress link is not valid (or expired): sign in to your "
                            "dashboard to see the connection")
    redis = request.app.state.redis
    found = await common.connection(redis, shop_id)
    return JSONResponse({"shop_id": shop_id, **found,
                         "last_delivery": await common.last_delivery(redis, shop_id)})


def _when(at: float | None) -> str | None:
    if at is None:
        return None
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M UTC")


@owner_page
async def connection_page(request: Request, session: sessions.Session) -> Response:
    state = request.app.state
    shop = await get_shop(state.redis, session.shop_id)
    assert shop is not None  # owner_page checked it
    connector = connector_for(shop.platform)
    live: list[HookState] | None = None
    live_error = ""
    if connector is not None and shop.uninstalled_at is None and shop.access.api_token:
        try:
            live = await _with_timeout(connector.hooks_live(state.http, shop))
        except (FetchError, TimeoutError) as error:
            live_error = str(error) or "the platform did not answer in time"
    found = await common.connection(state.redis, shop.shop_id)
    at = found.get("at")
    return render(request, "connection.html", {
        "shop": shop, "session": session, "connector": connector, "live": live,
        "live_error": live_error, "connection": found,
        "last_delivery": _when(await common.last_delivery(state.redis, shop.shop_id)),
        "updated": _when(float(at)) if at else None,
        "disconnected": shop.uninstalled_at is not None,
    })


async def _with_timeout(call: Any) -> Any:
    return await asyncio.wait_for(call, LIVE_CHECK_SECONDS)


@owner_page
async def disconnect(request: Request, session: sessions.Session) -> Response:
    state = request.app.state
    shop = await get_shop(state.redis, session.shop_id)
    assert shop is not None
    connector = connector_for(shop.platform)
    if connector is None:
        return render(request, "error.html", {"message": "This shop was not connected here: "
                      "remove shopreco from your platform's admin instead."}, status=409)
    await connector.disconnect(state.redis, state.http, state.settings, shop)
    await common.record(state.redis, shop.shop_id, stage="disconnected",
                        disconnected_at=time.time())
    return RedirectResponse("/admin/connection?disconnected=1", status_code=303)


def routes() -> list[BaseRoute]:
    return [
        Route("/connect", connect_page),
        Route(common.PROGRESS_PATH, progress),
        Route("/admin/connection", connection_page),
        Route("/admin/connection/disconnect", disconnect, methods=["POST"]),
        *(route for c in CONNECTORS for route in c.routes),
    ]
