"""The Shopify app's pages: install (authorization code grant), the OAuth callback, the
embedded app home (token exchange), and the install's progress.

    GET /shopify/install?shop&timestamp&hmac[&host]   -> 302 to the shop's authorize page
    GET /shopify/callback?code&shop&state&timestamp&hmac[&host]  -> the landing page
    GET /shopify/app?shop&timestamp&hmac&id_token[&host&embedded]  -> the landing page after
        an install; for a connected shop, 303 to the owner's dashboard (/admin/shopify)
    GET /shopify/progress?shop&exp&sig                -> JSON progress (signed link)
    GET /shopify/api/status  (Authorization: Bearer <App Bridge session token>)
        -> the shop's connection, import progress and model, for the embedded admin

Every refusal is a 4xx that says why, stores nothing and logs no secret.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from plugin.config import Settings
from plugin.shopify import install as installing
from plugin.shopify.app_config import APP_HOME_PATH, CALLBACK_PATH, INSTALL_PATH
from plugin.shopify.auth import ShopifyAuthError, check_query, session_claims
from plugin.store.models import current_model_info
from plugin.store.shops import shop_by_domain
from plugin.web.landing import api_key_part, landing_page
from plugin.web.problems import problem
from webhooks.http import FetchError

PROGRESS_PATH = "/shopify/progress"
ADMIN_SIGN_IN = "/admin/shopify"  # plugin.admin.shopify: the dashboard from the Shopify admin
PROGRESS_LINK_SECONDS = 24 * 3600


def _configured(settings: Settings) -> bool:
    return bool(settings.shopify_client_id and settings.shopify_client_secret)


def _not_configured() -> Response:
    return problem(404, "this shopreco has no Shopify app configured "
                        "(SHOPRECO_SHOPIFY_CLIENT_ID and SHOPRECO_SHOPIFY_CLIENT_SECRET)")


async def install_start(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    if not _configured(settings):
        return _not_configured()
    try:
        domain = check_query(request.query_params.multi_items(),
                             settings.shopify_client_secret.reveal())
    except ShopifyAuthError as error:
        return problem(400, f"install refused: {error}")
    target, cookie = installing.authorize(settings, domain)
    response = RedirectResponse(target, status_code=302)
    response.set_cookie(installing.STATE_COOKIE, cookie, max_age=installing.STATE_SECONDS,
                        path="/shopify", httponly=True, samesite="lax",
                        secure=settings.public_url.startswith("https://"))
    return response


async def callback(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    if not _configured(settings):
        return _not_configured()
    state = request.app.state
    params = request.query_params
    try:
        domain = check_query(params.multi_items(), settings.shopify_client_secret.reveal())
        installing.check_state(settings, domain, params.get("state"),
                               request.cookies.get(installing.STATE_COOKIE))
        code = params.get("code") or ""
        if not code:
            raise ShopifyAuthError("the callback has no code")
        if not await installing.first_use_of_code(state.redis, code):
            raise ShopifyAuthError("this authorization code was used already: start the "
                                   "install again")
        grant = await installing.exchange_code(state.http, settings, domain, code)
    except ShopifyAuthError as error:
        return problem(400, f"install refused: {error}")
    except FetchError as error:
        return problem(502, f"Shopify could not be reached to finish the install: {error}")
    response = await _installed(request, domain, grant)
    response.delete_cookie(installing.STATE_COOKIE, path="/shopify")
    return response


async def app_home(request: Request) -> Response:
    """Shopify opens the embedded app here with a signed query and (Shopify-managed install)
    the session token as `id_token`: a new or uninstalled shop is installed by token
    exchange; a connected one is sent to its dashboard, signed in by the same query."""
    settings: Settings = request.app.state.settings
    if not _configured(settings):
        return _not_configured()
    state = request.app.state
    try:
        domain = check_query(request.query_params.multi_items(),
                             settings.shopify_client_secret.reveal())
        known = await shop_by_domain(state.redis, "shopify", domain)
        connected = known if known is not None and known.uninstalled_at is None \
            and known.access.api_token else None
        session = request.query_params.get("id_token") or ""
        if connected is not None and not session:  # no session token: the landing page
            return _page(settings, connected.shop_id, domain, None, new=False)
        claims = session_claims(session, settings.shopify_client_id,
                                settings.shopify_client_secret.reveal())
        if claims.shop != domain:
            raise ShopifyAuthError("the session token is for another shop")
        if connected is not None:  # the owner's dashboard, signed in by the same query and token
            return RedirectResponse(f"{ADMIN_SIGN_IN}?{request.url.query}", status_code=303)
        grant = await installing.exchange_session_token(state.http, settings, domain, session)
    except ShopifyAuthError as error:
        return problem(401 if "session token" in str(error) else 400,
                       f"install refused: {error}")
    except FetchError as error:
        return problem(502, f"Shopify could not be reached to finish the install: {error}")
    return await _installed(request, domain, grant)


async def _installed(request: Request, domain: str, grant: installing.Grant) -> Response:
    state = request.app.state
    try:
        done = await installing.install(state.redis, state.http, state.settings, domain, grant)
    except FetchError as error:
        return problem(502, f"the install on {domain} could not be finished: {error}")
    installing.start_backfill(state.background, state.redis, state.http, done.shop.shop_id)
    return _page(state.settings, done.shop.shop_id, domain, done.api_key, new=done.new)


async def status(request: Request) -> Response:
    """What the embedded admin shows, for the shop its session token names."""
    settings: Settings = request.app.state.settings
    if not _configured(settings):
        return _not_configured()
    scheme, _, session = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not session.strip():
        return problem(401, "send the App Bridge session token as `Authorization: Bearer ...`")
    try:
        claims = session_claims(session.strip(), settings.shopify_client_id,
                                settings.shopify_client_secret.reveal())
    except ShopifyAuthError as error:
        return problem(401, str(error))
    redis = request.app.state.redis
    shop = await shop_by_domain(redis, "shopify", claims.shop)
    if shop is None or shop.uninstalled_at is not None:
        return problem(403, f"shopreco is not installed on {claims.shop}: open the app from "
                            "the Shopify admin to install it")
    model = await current_model_info(redis, shop.shop_id)
    return JSONResponse({
        "shop_id": shop.shop_id, "domain": shop.domain, "widget_key": shop.widget_key,
        "install": await installing.progress(redis, shop.shop_id),
        "model_version": model.version if model else None,
    })


def progress_signature(settings: Settings, shop_id: str, expires: int) -> str:
    message = f"shopify-progress|{shop_id}|{expires}".encode()
    return hmac.new(settings.shopify_client_secret.reveal().encode(), message,
                    hashlib.sha256).hexdigest()


async def install_progress(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    if not _configured(settings):
        return _not_configured()
    params = request.query_params
    shop_id, sig = params.get("shop") or "", params.get("sig") or ""
    try:
        expires = int(params.get("exp") or "")
    except ValueError:
        return problem(400, "exp must be Unix seconds")
    good = progress_signature(settings, shop_id, expires)
    if not hmac.compare_digest(good.encode(), sig.encode()) or expires < time.time():
        return problem(403, "this progress link is not valid (or expired): open the app "
                            "from the Shopify admin again")
    found: dict[str, Any] = await installing.progress(request.app.state.redis, shop_id)
    return JSONResponse({"shop_id": shop_id, **found})


def _page(settings: Settings, shop_id: str, domain: str, api_key: str | None,
          new: bool) -> HTMLResponse:
    """The landing page. Shopify shows an embedded app in its admin's iframe: the page may be
    framed by that shop's admin only (Shopify requires this frame-ancestors policy)."""
    response = _landing(settings, shop_id, domain, api_key, new)
    response.headers["Content-Security-Policy"] = (
        f"frame-ancestors https://{domain} https://admin.shopify.com;")
    return response


def _landing(settings: Settings, shop_id: str, domain: str, api_key: str | None,
             new: bool) -> HTMLResponse:
    expires = int(time.time()) + PROGRESS_LINK_SECONDS
    link = (f"{PROGRESS_PATH}?shop={shop_id}&exp={expires}"
            f"&sig={progress_signature(settings, shop_id, expires)}")
    key_part = api_key_part(api_key, (
        " (a new one: <code>shopreco shops new-api-key "
        f"{html.escape(shop_id)}</code>)"))
    title = "shopreco is installed" if new else "shopreco is connected"
    embed_step = ("in <em>Online Store → Themes → Customize → App embeds</em> turn on "
                  "<strong>shopreco widgets</strong>;")
    if settings.shopify_base_url == Settings.shopify_base_url:  # the real Shopify: a deep link
        activate = (f"https://{domain}/admin/themes/current/editor?context=apps&activateAppId="
                    f"{settings.shopify_client_id}/embed")
        embed_step = (f'<a id="activate" href="{html.escape(activate)}">turn on the '
                      "<strong>shopreco widgets</strong> app embed</a> in your theme;")
    return landing_page(f"{title} on {domain}", "", [
        "Recommendations are trained about half a minute after the import; new orders arrive "
        "by themselves from now on.",
        "See what they earn: open shopreco from <em>Apps</em> in your Shopify admin; it opens "
        "your dashboard, signed in by Shopify.",
        f"Show them on your store: {embed_step} then add the blocks <em>Bought together</em>, "
        "<em>Customers also bought</em>, <em>Complete your order</em>, <em>Picked for "
        "you</em> and <em>Buy it again</em> where you want them (<em>Add block</em> in the "
        "theme editor). No theme code is edited."], link, key_part)


routes = [
    Route(INSTALL_PATH, install_start),
    Route(CALLBACK_PATH, callback),
    Route(APP_HOME_PATH, app_home),
    Route(PROGRESS_PATH, install_progress),
    Route("/shopify/api/status", status),
]
