"""The nurture feed and the e-mail block for the signed-in owner, without an API key: the
same answers the API gives (plugin.api.nurture, plugin.api.email), reached from the Customers
page.

    GET /admin/customers/feed.csv?stage   every customer of the stage with their product picks,
                                          tracked links and e-mail block URL (the API's CSV)
    GET /admin/customers/email?customer_id  a preview of the customer's e-mail block and its
                                          signed URL to paste into an e-mail tool
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from plugin.admin import sessions
from plugin.admin.pages import owner_page, render
from plugin.api.email import DEFAULT_PRODUCTS
from plugin.api.nurture import FeedQuery, Recommender, csv_response, customers_of
from plugin.api.signed_links import BLOCK_LINK_DAYS, block_url, expiry, link_secret
from plugin.engine.lifecycle import shop_stage_table
from plugin.store.history import customer_history
from plugin.store.shops import get_shop
from plugin.web.params import BadRequest, parse_id
from recommender.lifecycle import STAGES


@owner_page
async def feed_csv(request: Request, session: sessions.Session) -> Response:
    stage = request.query_params.get("stage") or ""
    if stage not in STAGES:
        return render(request, "error.html", {"message": f"No stage {stage!r}."}, status=404)
    redis = request.app.state.redis
    shop = await get_shop(redis, session.shop_id)
    assert shop is not None  # owner_page checked it
    query = FeedQuery(stage=stage, as_of=time.time(), limit=None, after=None,
                      products=DEFAULT_PRODUCTS, exclude_purchased=False)
    stages = await shop_stage_table(redis, shop.shop_id, query.as_of)
    page = [stages.row(row) for row in customers_of(stages, query)]
    response = csv_response(request, shop, query, page, Recommender(request, shop, query), None)
    response.headers["Cache-Control"] = "no-store"
    return response


@owner_page
async def email_preview(request: Request, session: sessions.Session) -> Response:
    redis = request.app.state.redis
    try:
        customer_id = parse_id("customer_id", request.query_params.get("customer_id") or "")
    except BadRequest as error:
        return render(request, "error.html", {"message": str(error)}, status=400)
    if not await customer_history(redis, session.shop_id, customer_id):
        return render(request, "error.html", {"message": f"No customer {customer_id!r} has "
                      "ordered in this shop."}, status=404)
    secret = await link_secret(redis, session.shop_id)
    url = block_url(request.app.state.settings.public_url, secret, session.shop_id,
                    customer_id, DEFAULT_PRODUCTS, False, "", expiry(BLOCK_LINK_DAYS))
    return render(request, "email_preview.html", {
        "shop": await get_shop(redis, session.shop_id), "session": session,
        "customer_id": customer_id, "block_url": url,
        "block_path": url.removeprefix(request.app.state.settings.public_url.rstrip("/")),
        "days": BLOCK_LINK_DAYS})


routes = [
    Route("/admin/customers/feed.csv", feed_csv),
    Route("/admin/customers/email", email_preview),
]
