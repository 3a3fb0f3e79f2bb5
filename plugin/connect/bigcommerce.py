"""BigCommerce's single-click app: installed from the control panel (or the install link), it
registers the shop, creates our webhooks and the widgets' storefront script, imports the
order history, and signs the owner in to the dashboard from the control panel.

    GET /connect/bigcommerce/auth?code&scope&context   code -> access token, then the landing
                                                       page (in the control panel's iframe)
    GET /connect/bigcommerce/load|uninstall|remove_user?signed_payload_jwt
        the owner opens the app (the dashboard) / removed it (work stops) / a user lost access

From developer.bigcommerce.com (apps guide: auth, callbacks; webhooks; Scripts API):
- POST {login}/oauth2/token {client_id, client_secret, code, scope, context=stores/{hash},
  grant_type=authorization_code, redirect_uri} answers {access_token, scope, user, context};
- signed_payload_jwt: HS256 with the client secret, aud = client id, iss = "bc",
  sub = "stores/{hash}", exp a day after iat; each one works once here;
- webhooks (POST /v3/hooks {scope, destination, is_active}) are listed per app, and
  BigCommerce deletes them, and `auto_uninstall` scripts, when the app is uninstalled;
- a `src` script is a bare <script src>, but embed.js reads its key from data-* attributes:
  ours is a `script_tag` (load_method `default`; the tag itself is async). No theme is edited.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Sequence
from urllib.parse import quote

import jwt
import redis.asyncio as aioredis
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from plugin.admin import sessions
from plugin.config import Settings
from plugin.connect import common
from plugin.connect.bigcommerce_api import (
    NEEDED_SCOPES,
    PLATFORM,
    StoreApi,
    ensure_hooks,
    ensure_script,
    exchange_code,
    missing_scopes,
    ours,
    remove_ours,
    script_for,
    shop_api,
    store_profile,
)
from plugin.connect.common import ConnectError, HookState
from plugin.store.shops import PlatformAccess, Shop, get_shop, shop_by_domain, webhook_url
from plugin.web.problems import problem
from webhooks import bigcommerce
from webhooks.http import FetchError, PlatformHttp

log = logging.getLogger(__name__)

PATHS = {name: f"/connect/bigcommerce/{name}" for name in ("auth", "load", "uninstall",
                                                           "remove_user")}
STORE_CONTEXT = re.compile(r"^stores/([A-Za-z0-9]{1,64})\Z")
ISSUER = "bc"
LEEWAY_SECONDS = 10


def control_panel(store_hash: str) -> str:
    """The store's control panel, which frames our pages."""
    return f"https://store-{store_hash.lower()}.mybigcommerce.com"


def store_hash_of(context: str | None) -> str:
    """The hash in `stores/{hash}` (BigCommerce's context and JWT subject); ConnectError."""
    found = STORE_CONTEXT.match(context or "")
    if found is None:
        raise ConnectError("the store must be named as stores/{store_hash}")
    return found[1]


def callback_store(token: str, settings: Settings) -> str:
    """The store a signed_payload_jwt names, once its signature and claims hold."""
    if not token:
        raise ConnectError("signed_payload_jwt is missing: open the app from your BigCommerce "
                           "control panel")
    try:
        claims = jwt.decode(token, settings.bigcommerce_client_secret.reveal(),
                            algorithms=["HS256"], audience=settings.bigcommerce_client_id,
                            issuer=ISSUER, leeway=LEEWAY_SECONDS,
                            options={"require": ["exp", "iat", "aud", "iss", "sub"]})
    except jwt.ExpiredSignatureError:
        raise ConnectError("the signed payload has expired: open the app again from your "
                           "BigCommerce control panel") from None
    except jwt.InvalidAudienceError:
        raise ConnectError("the signed payload was made for another app") from None
    except jwt.InvalidTokenError:
        raise ConnectError("the signed payload is not BigCommerce's for this app (its "
                           "signature or claims do not hold)") from None
    return store_hash_of(str(claims.get("sub")))


async def install(request: Request, code: str, scope: str, context: str) -> Response:
    state = request.app.state
    settings: Settings = state.settings
    store_hash = store_hash_of(context)
    token, granted = await exchange_code(state.http, settings, code, scope, context,
                                         settings.public_url.rstrip("/") + PATHS["auth"])
    if missing := missing_scopes(granted):
        raise ConnectError("the app's OAuth scopes lack " + ", ".join(missing) + ": add them "
                           "to the app's profile in the Developer Portal, then install again")
    root = f"{settings.bigcommerce_api_url.rstrip('/')}/stores/{quote(store_hash, safe='')}"
    storefront, currency = await store_profile(
        StoreApi(state.http, f"install:{context}", root, token.reveal()), store_hash)
    done = await common.register(
        state.redis, settings, PLATFORM, store_hash.lower(),
        PlatformAccess(store_ref=store_hash, api_base=root, api_token=token),
        settings.bigcommerce_client_secret.reveal(), storefront, currency)
    shop = done.shop
    await common.record(state.redis, shop.shop_id, platform=PLATFORM, stage="connecting",
                        scope=granted)
    api = StoreApi(state.http, shop.shop_id, root, token.reveal())
    destination = webhook_url(settings.public_url, PLATFORM, shop.shop_id)
    try:
        await common.record(state.redis, shop.shop_id,
                            hooks=await ensure_hooks(api, destination, shop.shop_id),
                            scripts=await ensure_script(api, script_for(settings, shop)))
    except FetchError as error:
        await common.record(state.redis, shop.shop_id, stage="webhooks failed", error=str(error))
        raise
    common.start_import(state.background, state.redis, state.http, shop.shop_id,
                        bigcommerce.backfill_pages)
    login = await sessions.login_link(state.redis, settings.public_url, shop.shop_id)
    page = common.landing(shop, "BigCommerce", done.api_key, login, STOREFRONT_STEP, done.new)
    return framed(page, store_hash)


STOREFRONT_STEP = (
    "Widgets: the script <strong>shopreco widgets</strong> was added to your storefront "
    "(<em>Storefront → Script Manager</em>); no theme was edited. Place a widget with Page "
    "Builder: drop an <em>HTML</em> widget where it should appear with "
    "<code>&lt;div data-shopreco=\"trending\"&gt;&lt;/div&gt;</code> (placements and their "
    "options: your dashboard's <em>Widgets</em> page).")


# --- the callbacks -----------------------------------------------------------------------

def framed(response: Response, store_hash: str | None) -> Response:
    """BigCommerce shows our pages in its control panel's iframe: that store's only (a
    refusal that names no store it can trust: any store's control panel)."""
    ancestors = control_panel(store_hash) if store_hash else "https://*.mybigcommerce.com"
    response.headers["Content-Security-Policy"] = f"frame-ancestors {ancestors};"
    response.headers["Cache-Control"] = "no-store"
    return response


def refused(status: int, message: str, store_hash: str | None = None) -> Response:
    """A page saying why (never a secret), framed like the rest."""
    page = HTMLResponse(
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>shopreco</title>'
        "<style>body{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:2rem auto}"
        f'</style></head><body><h1>shopreco could not go on</h1><p id="reason">'
        f"{html.escape(message)}</p></body></html>", status_code=status)
    return framed(page, store_hash)


def _configured(settings: Settings) -> bool:
    return bool(settings.bigcommerce_client_id and settings.bigcommerce_client_secret)


NOT_CONFIGURED = ("this shopreco has no BigCommerce app configured "
                  "(SHOPRECO_BIGCOMMERCE_CLIENT_ID and SHOPRECO_BIGCOMMERCE_CLIENT_SECRET)")


async def auth_callback(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    if not _configured(settings):
        return refused(404, NOT_CONFIGURED)
    params = request.query_params
    code, scope, context = (params.get(n) or "" for n in ("code", "scope", "context"))
    named = STORE_CONTEXT.match(context)
    frame = named[1] if named else None
    try:
        if not code or not scope or named is None:
            raise ConnectError("the install callback needs code, scope and context: install "
                               "the app from your BigCommerce control panel")
        if not await common.first_use(request.app.state.redis, PLATFORM, code):
            raise ConnectError("this authorization code was used already: install the app "
                               "again from your BigCommerce control panel")
        return await install(request, code, scope, context)
    except ConnectError as error:
        return refused(400, f"Install refused: {error}", frame)
    except FetchError as error:
        log.warning("BigCommerce install for %s stopped: %s", context, error)
        return refused(502, f"BigCommerce could not be reached to finish the install "
                            f"({error}); install the app again.", frame)


async def verified_shop(request: Request) -> tuple[str, Shop | None]:
    """The store a callback's signed payload names (spent: it works once) and its shop."""
    settings: Settings = request.app.state.settings
    redis: aioredis.Redis = request.app.state.redis
    token = request.query_params.get("signed_payload_jwt") or ""
    store_hash = callback_store(token, settings)
    if not await common.first_use(redis, PLATFORM, token):
        raise ConnectError("this signed payload was used already: open the app again from "
                           "your BigCommerce control panel")
    return store_hash, await shop_by_domain(redis, PLATFORM, store_hash.lower())


async def load_callback(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    if not _configured(settings):
        return refused(404, NOT_CONFIGURED)
    try:
        store_hash, shop = await verified_shop(request)
    except ConnectError as error:
        return refused(401, f"Sign-in from BigCommerce refused: {error}.")
    if shop is None or shop.uninstalled_at is not None:
        return refused(403, f"shopreco is not connected to BigCommerce store {store_hash}: "
                            "install the app again from your control panel.", store_hash)
    panel = control_panel(store_hash).removeprefix("https://")
    session_id, _ = await sessions.start(request.app.state.redis, shop.shop_id,
                                         frame_domain=panel)
    response = RedirectResponse("/admin/", status_code=303)
    secure = settings.public_url.startswith("https://")
    response.set_cookie(sessions.COOKIE, session_id, max_age=sessions.SESSION_HOURS * 3600,
                        path="/admin", httponly=True, secure=secure,
                        samesite="none" if secure else "lax")
    if secure:  # inside the control panel's frame (CHIPS); Python writes Partitioned from 3.14
        name, value = response.raw_headers[-1]
        response.raw_headers[-1] = (name, value + b"; Partitioned")
    return response


async def uninstall_callback(request: Request) -> Response:
    state = request.app.state
    if not _configured(state.settings):
        return problem(404, NOT_CONFIGURED)
    try:
        store_hash, shop = await verified_shop(request)
    except ConnectError as error:
        return problem(401, f"uninstall refused: {error}")
    if shop is None:
        return problem(404, f"no BigCommerce shop is registered for store {store_hash}")
    await remove_ours(state.redis, state.http, shop)  # BigCommerce deletes them too
    await common.record(state.redis, shop.shop_id, stage="uninstalled", hooks=[], scripts=[])
    return JSONResponse({"status": "uninstalled", "shop_id": shop.shop_id})


async def remove_user_callback(request: Request) -> Response:
    """Users are not kept here (the dashboard is the shop's): nothing to remove."""
    if not _configured(request.app.state.settings):
        return problem(404, NOT_CONFIGURED)
    try:
        await verified_shop(request)
    except ConnectError as error:
        return problem(401, f"remove_user refused: {error}")
    return JSONResponse({"status": "ok"})


# --- the connector -----------------------------------------------------------------------

class BigCommerceConnector:
    """The BigCommerce single-click app as a plugin.connect Connector."""

    platform = PLATFORM
    title = "BigCommerce"

    @property
    def routes(self) -> Sequence[BaseRoute]:
        return [Route(PATHS["auth"], auth_callback), Route(PATHS["load"], load_callback),
                Route(PATHS["uninstall"], uninstall_callback),
                Route(PATHS["remove_user"], remove_user_callback)]

    def configured(self, settings: Settings) -> bool:
        return _configured(settings)

    def card(self, settings: Settings) -> str:
        base = settings.public_url.rstrip("/")
        urls = "".join(f"<li>{label} callback URL: <code>{html.escape(base + PATHS[name])}"
                       f"</code></li>" for label, name in (
                           ("Auth", "auth"), ("Load", "load"), ("Uninstall", "uninstall"),
                           ("Remove user", "remove_user")))
        scopes = ", ".join(what for what, _ in NEEDED_SCOPES)
        profile = (f"<ul>{urls}</ul><p>OAuth scopes: {html.escape(scopes)}.</p>")
        if not self.configured(settings):
            return ("<p>Not set up yet: create an app in the BigCommerce Developer Portal with "
                    f"these addresses, then set <code>SHOPRECO_BIGCOMMERCE_CLIENT_ID</code> and "
                    f"<code>SHOPRECO_BIGCOMMERCE_CLIENT_SECRET</code> from it.</p>{profile}")
        install_url = (f"{settings.bigcommerce_login_url.rstrip('/')}/app/"
                       f"{quote(settings.bigcommerce_client_id, safe='')}/install")
        return (f'<p>Install shopreco from your BigCommerce control panel (<em>Apps</em>), or '
                f'<a id="bigcommerce-install" class="button" href="{html.escape(install_url)}" '
                'target="_blank" rel="noopener">install it on your store</a>. It connects by '
                f"itself.</p><details><summary>The app's profile</summary>{profile}</details>")

    async def hooks_live(self, http: PlatformHttp, shop: Shop) -> list[HookState]:
        listed = await shop_api(http, shop).listed("/v3/hooks")
        return [HookState(str(h.get("scope")), h.get("is_active") is True)
                for h in listed if ours(h, shop.shop_id)]

    async def disconnect(self, redis: aioredis.Redis, http: PlatformHttp, settings: Settings,
                         shop: Shop) -> None:
        current = await get_shop(redis, shop.shop_id) or shop
        await common.record(redis, shop.shop_id, **await remove_ours(redis, http, current))


CONNECTOR = BigCommerceConnector()
