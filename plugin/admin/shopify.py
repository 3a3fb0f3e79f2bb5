"""Signing in from the Shopify admin: the embedded app opens the dashboard with Shopify's
signed query and an App Bridge session token, and no login link is needed.

    GET /admin/shopify?shop&timestamp&hmac&id_token[&host&embedded]
        -> a session for that shop's dashboard, then /admin/

The query's HMAC and the session token (HS256 with the app's client secret, for this app,
naming the same shop, unexpired) are checked by plugin.shopify.auth; each token signs in once.
The session may be framed by that shop's admin only (its pages say so in their CSP), and its
cookie is `SameSite=None; Secure; Partitioned` on https, so the browser keeps it inside the
Shopify admin's frame (CHIPS) and nowhere else.
"""

from __future__ import annotations

import hashlib

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from plugin.admin import sessions
from plugin.admin.pages import render
from plugin.config import Settings
from plugin.shopify.auth import ShopifyAuthError, check_query, session_claims
from plugin.store import keys
from plugin.store.shops import shop_by_domain

PATH = "/admin/shopify"
TOKEN_SECONDS = 120  # a session token lives a minute (plus leeway): remembered this long


async def from_shopify(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    secret = settings.shopify_client_secret.reveal()
    if not (settings.shopify_client_id and secret):
        return render(request, "error.html", {"message": "This shopreco has no Shopify app "
                      "configured (SHOPRECO_SHOPIFY_CLIENT_ID and _CLIENT_SECRET)."}, status=404)
    params = request.query_params
    try:
        domain = check_query(params.multi_items(), secret)
        request.state.frame_domain = domain  # Shopify signed it: this shop's admin frames us
        token = params.get("id_token") or ""
        claims = session_claims(token, settings.shopify_client_id, secret)
        if claims.shop != domain:
            raise ShopifyAuthError("the session token is for another shop")
    except ShopifyAuthError as error:
        return render(request, "error.html", {"message": f"Sign-in from Shopify refused: "
                      f"{error}. Open shopreco from your Shopify admin again."}, status=401)
    redis = request.app.state.redis
    shop = await shop_by_domain(redis, "shopify", domain)
    if shop is None or shop.uninstalled_at is not None:
        return render(request, "error.html", {"message": f"shopreco is not installed on "
                      f"{domain}: open the app from your Shopify admin to install it."},
                      status=403)
    used = keys.admin_login("shopify:" + hashlib.sha256(token.encode()).hexdigest())
    if not await redis.set(used, shop.shop_id, nx=True, ex=TOKEN_SECONDS):
        return render(request, "error.html", {"message": "This sign-in was used already. "
                      "Open shopreco from your Shopify admin again."}, status=401)
    session_id, _ = await sessions.start(redis, shop.shop_id, frame_domain=domain)
    response = RedirectResponse("/admin/", status_code=303)
    secure = settings.public_url.startswith("https://")
    response.set_cookie(sessions.COOKIE, session_id, max_age=sessions.SESSION_HOURS * 3600,
                        path="/admin", httponly=True, secure=secure,
                        samesite="none" if secure else "lax")
    if secure:  # Python's cookie module writes Partitioned only from 3.14 on
        name, value = response.raw_headers[-1]
        assert name == b"set-cookie"
        response.raw_headers[-1] = (name, value + b"; Partitioned")
    return response


routes = [Route(PATH, from_shopify)]
