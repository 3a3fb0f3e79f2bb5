"""WooCommerce one-click connect: the owner names the store and approves shopreco once on the
store's application authentication endpoint; WooCommerce sends us a REST API key pair.

    POST /connect/woocommerce           form `store`: 303 to {store}/wc-auth/v1/authorize
    POST /connect/woocommerce/callback  WooCommerce's JSON {key_id, user_id, consumer_key,
                                        consumer_secret, key_permissions}, server to server
    GET  /connect/woocommerce/return?success&user_id   the owner's browser, back from the store
    GET  /connect/woocommerce/plugin.zip  the shopreco WordPress plugin (storefront widgets)

The flow (WooCommerce REST API docs, "Authentication endpoint"; WC_Auth): `user_id` is our
single-use connect request (common.begin), also tied to the browser that started it by a
cookie, so only that browser is shown the API key and the dashboard link. WooCommerce POSTs the
keys to `callback_url` (which must be https) and deletes them again unless we answer 200; only
then does it send the browser to `return_url` with `success=1&user_id`. The callback spends the
request, checks the keys against the store (its currency setting), creates or repairs our
webhooks (one batch call), registers the shop (the consumer secret sealed) and starts the
history import; its outcome waits for the return step under the same nonce's digest
(keys.connect_pending with platform "woocommerce-return", same expiry), spent when shown.
Anything refused before the 200 stores nothing: the store deletes the keys it made.

Scope: `read_write`, although the issue asked for `read`. A `read` key may only GET: WooCommerce's
REST authentication (WC_REST_Authentication::check_permissions) answers any POST, PUT, PATCH or
DELETE of a key without `write` or `read_write` permission with 401 "The API key provided does
not have write permissions.", and its consent page lists "Create webhooks" only under Write and
Read/Write (WC_Auth::get_permissions_in_scope). With `read` the history import would work but
no webhook could be created, repaired or removed, so new orders would arrive only through the
15-minute reconciliation; shopreco writes nothing but its own webhooks.

Disconnect deletes our webhooks and forgets the key; WooCommerce has no REST endpoint that
revokes a REST API key, so the owner revokes "shopreco - API (date)" under WooCommerce >
Settings > Advanced > REST API.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import io
import json
import logging
import re
import secrets
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import redis.asyncio as aioredis
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

import widgets
from plugin.admin import sessions
from plugin.config import Secret, Settings
from plugin.connect import common
from plugin.connect.common import ConnectError, HookState, Registered
from plugin.connect.woocommerce_store import (
    PLATFORM,
    StoreApi,
    ensure_hooks,
    hooks_live,
    remove_hooks,
    store_address,
    store_domain,
)
from plugin.store import keys, records, sealing
from plugin.store.connection import text
from plugin.store.shops import (
    PlatformAccess,
    Shop,
    ShopError,
    get_shop,
    new_webhook_secret,
    shop_by_domain,
    webhook_url,
)
from plugin.web.body import BodyTimeout, BodyTooLarge, decode_json, read_body
from plugin.web.problems import problem
from webhooks import woocommerce
from webhooks.http import FetchError, PlatformHttp

log = logging.getLogger(__name__)

BASE = f"/connect/{PLATFORM}"
CALLBACK_PATH, RETURN_PATH, PLUGIN_PATH = f"{BASE}/callback", f"{BASE}/return", \
    f"{BASE}/plugin.zip"
APP_NAME = "shopreco"
SCOPE = "read_write"  # see the module's docstring
COOKIE = "shopreco_woocommerce_connect"
OUTCOME = f"{PLATFORM}-return"
FORM_LIMIT = 4096
WORDPRESS_PLUGIN = Path(widgets.__path__[0]) / "wordpress" / "shopreco"
_BROWSER = re.compile(r"[A-Za-z0-9_-]{32}")
_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,200}")


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def authorize_url(settings: Settings, store: str, nonce: str) -> str:
    ours = settings.public_url.rstrip("/")
    return f"{store}/wc-auth/v1/authorize?" + urlencode({
        "app_name": APP_NAME, "scope": SCOPE, "user_id": nonce,
        "return_url": ours + RETURN_PATH, "callback_url": ours + CALLBACK_PATH})


# --- the owner starts ---------------------------------------------------------------------

async def start(request: Request) -> Response:
    state = request.app.state
    try:
        form = dict(parse_qsl((await read_body(request, FORM_LIMIT)).decode("utf-8", "replace")))
        store = store_address(form.get("store", ""), state.settings)
    except (BodyTooLarge, BodyTimeout, ClientDisconnect):
        return _page(400, "Not connected", "Send the connect form again.")
    except ConnectError as error:
        return _page(400, "That store address does not work", f"{error}.")
    browser = request.cookies.get(COOKIE) or ""
    if not _BROWSER.fullmatch(browser):
        browser = secrets.token_urlsafe(24)
    nonce = await common.begin(state.redis, PLATFORM, {"store": store,
                                                       "browser": _digest(browser)})
    response = RedirectResponse(authorize_url(state.settings, store, nonce), status_code=303)
    response.set_cookie(COOKIE, browser, max_age=keys.CONNECT_PENDING_SECONDS, path=BASE,
                        httponly=True, samesite="lax",
                        secure=state.settings.public_url.startswith("https://"))
    return response


# --- WooCommerce sends the keys -----------------------------------------------------------

@dataclass(frozen=True)
class Grant:
    """The key pair WooCommerce made for us (never printed: the secret is a Secret)."""

    user_id: str
    consumer_key: str
    consumer_secret: Secret
    permissions: str


def parse_grant(body: bytes) -> Grant:
    """The callback's JSON; ConnectError naming the field (never its value) otherwise."""
    try:
        sent = decode_json(body)
    except ValueError:
        raise ConnectError("the body must be JSON {key_id, user_id, consumer_key, "
                           "consumer_secret, key_permissions}") from None
    if not isinstance(sent, dict):
        raise ConnectError("the body must be a JSON object")
    fields = ("user_id", "consumer_key", "consumer_secret", "key_permissions")
    for name in fields:
        if not isinstance(sent.get(name), str) or not _TOKEN.fullmatch(sent[name]):
            raise ConnectError(f"{name} must be a string of 1 to 200 letters, digits, '-' "
                               "and '_'")
    return Grant(sent["user_id"], sent["consumer_key"], Secret(sent["consumer_secret"]),
                 sent["key_permissions"])


async def callback(request: Request) -> Response:
    state = request.app.state
    try:
        grant = parse_grant(await read_body(request, state.settings.max_body_bytes))
    except BodyTooLarge as error:
        return problem(413, f"the keys' JSON is limited to {error.limit} bytes")
    except (BodyTimeout, ClientDisconnect):
        return problem(400, "the body did not arrive whole; nothing was stored")
    except ConnectError as error:
        return problem(400, f"connect refused: {error}; nothing was stored")
    pending = await common.take(state.redis, PLATFORM, grant.user_id)
    if pending is None:
        return problem(403, "connect refused: no connect request of ours has this user_id (it "
                            "is unknown, expired or used already); nothing was stored. The "
                            "owner starts again from /connect")
    try:
        done = await connect(state.redis, state.http, state.settings, pending["store"], grant)
    except (ConnectError, ShopError) as error:
        return problem(400, f"connect refused: {error}; nothing was stored")
    except FetchError as error:
        log.warning("connecting woocommerce store %s failed: %s", pending["store"], error)
        return problem(502, f"the store could not be reached to finish the connect: {error}; "
                            "nothing was stored")
    await _remember(state.redis, grant.user_id, done, pending.get("browser", ""))
    common.start_import(state.background, state.redis, state.http, done.shop.shop_id,
                        woocommerce.backfill_pages)
    log.info("woocommerce store %s connected as shop %s", pending["store"], done.shop.shop_id)
    return JSONResponse({"status": "connected", "shop_id": done.shop.shop_id})


async def connect(redis: aioredis.Redis, http: PlatformHttp, settings: Settings, store: str,
                  grant: Grant) -> Registered:
    """Check the keys, put our webhooks on the store, then register the shop (or give a known
    one its new keys): a failure before the end leaves the registry as it was."""
    if grant.permissions != SCOPE:
        raise ConnectError(f"the store granted {grant.permissions!r} access; shopreco needs "
                           f"{SCOPE!r} to create its webhooks")
    api = StoreApi.for_store(http, store, grant.consumer_key, grant.consumer_secret)
    try:
        currency = await api.currency()
    except FetchError as error:
        if error.status in (401, 403):
            raise ConnectError(f"the store refused the keys it sent (HTTP {error.status})") \
                from None
        raise
    domain = store_domain(store)
    known = await shop_by_domain(redis, PLATFORM, domain)
    shop_id = known.shop_id if known else await common.free_shop_id(redis, domain)
    secret = known.webhook_secrets[0].reveal() if known else new_webhook_secret(PLATFORM)
    hooks = await ensure_hooks(api, shop_id, webhook_url(settings.public_url, PLATFORM,
                                                         shop_id), secret)
    access = PlatformAccess(api_base=api.base, api_user=grant.consumer_key,
                            api_token=grant.consumer_secret)
    done = await common.register(redis, settings, PLATFORM, domain, access, secret, store,
                                 currency)
    if done.shop.shop_id != shop_id:  # another connect took the free id meanwhile
        shop_id = done.shop.shop_id
        hooks = await ensure_hooks(api, shop_id, webhook_url(settings.public_url, PLATFORM,
                                                             shop_id), secret)
    await common.record(redis, shop_id, platform=PLATFORM, store=store, hooks=hooks,
                        stage="connected", error="")
    return done


def _outcome_key(nonce: str) -> str:
    return keys.connect_pending(OUTCOME, _digest(nonce))


async def _remember(redis: aioredis.Redis, nonce: str, done: Registered, browser: str) -> None:
    """What the return step shows, once: the shop and a new shop's API key (sealed)."""
    outcome = {"shop_id": done.shop.shop_id, "new": "1" if done.new else "",
               "api_key": sealing.seal(done.api_key) if done.api_key else "",
               "browser": browser}
    await redis.set(_outcome_key(nonce), json.dumps(outcome), ex=keys.CONNECT_PENDING_SECONDS)


# --- the owner comes back -----------------------------------------------------------------

async def back(request: Request) -> Response:
    state, params = request.app.state, request.query_params
    nonce = params.get("user_id") or ""
    browser = _digest(request.cookies.get(COOKIE) or "")
    if params.get("success") not in ("0", "1"):
        return _page(400, "Not connected", "This return link is incomplete: your store adds "
                     "success=1 or success=0 to it. Connect again.")
    if params.get("success") == "0":
        pending = await common.peek(state.redis, PLATFORM, nonce)
        if pending is not None and hmac.compare_digest(pending.get("browser", ""), browser):
            await common.take(state.redis, PLATFORM, nonce)
        return _page(200, "Not connected", "You declined shopreco's access on your store, so "
                     "nothing was connected or stored. Connect again whenever you like.")
    raw = await state.redis.get(_outcome_key(nonce)) if 0 < len(nonce) <= 200 else None
    if raw is None:
        if await common.peek(state.redis, PLATFORM, nonce) is not None:
            return _page(409, "Not connected", "Your store sent you back, but its keys never "
                         "reached shopreco: check that this shopreco's address is https and "
                         "reachable from your store, then connect again.")
        return _page(404, "Not connected", "This connect is unknown, expired or was shown "
                     "already. Sign in to your dashboard, or connect again.")
    outcome = json.loads(text(raw))
    if not hmac.compare_digest(str(outcome.get("browser", "")), browser):
        return _page(403, "Connected, shown elsewhere", "Your store is connected, but this "
                     "connect was started in another browser: open this page there to see your "
                     "API key and dashboard link.")
    if await state.redis.delete(_outcome_key(nonce)) == 0:  # shown meanwhile
        return _page(404, "Not connected", "This connect was shown already.")
    return await _landing(state.redis, state.settings, outcome)


async def _landing(redis: aioredis.Redis, settings: Settings, outcome: dict[str, Any]
                   ) -> Response:
    shop = await get_shop(redis, str(outcome["shop_id"]))
    if shop is None:
        return _page(404, "Not connected", "This shop was deleted meanwhile: connect again.")
    api_key = sealing.unseal(outcome["api_key"]) if outcome.get("api_key") else None
    link = await sessions.login_link(redis, settings.public_url, shop.shop_id)
    return common.landing(shop, WooCommerceConnector.title, api_key, link,
                          storefront_step(settings, shop), new=bool(outcome.get("new")))


def connection_code(public_url: str, widget_key: str) -> str:
    """What the WordPress plugin's settings take to fill in our address and the widget key at
    once: base64url (no padding) of the JSON {"url", "widget_key"}."""
    payload = json.dumps({"url": public_url.rstrip("/"), "widget_key": widget_key},
                         separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def storefront_step(settings: Settings, shop: Shop) -> str:
    code = connection_code(settings.public_url, shop.widget_key)
    return (
        "Show recommendations on your store: install the shopreco WordPress plugin (<a "
        f"id='wordpress-plugin' href='{PLUGIN_PATH}'>download shopreco.zip</a>; in WordPress "
        "<em>Plugins → Add New Plugin → Upload Plugin</em>), activate it and paste this "
        f"connection code in <em>Settings → shopreco</em>: <code id='connection-code'>{code}"
        "</code> (it holds this shopreco's address <code id='base-url'>"
        f"{html.escape(settings.public_url.rstrip('/'))}</code> and your widget key <code "
        f"id='widget-key'>{html.escape(shop.widget_key)}</code>).")


async def plugin_zip(request: Request) -> Response:
    """The WordPress plugin folder as the zip WordPress uploads (`shopreco/...` inside)."""
    files = sorted(path for path in WORDPRESS_PLUGIN.rglob("*") if path.is_file()
                   and not any(part.startswith(".") or part == "__pycache__"
                               for part in path.relative_to(WORDPRESS_PLUGIN).parts)) \
        if WORDPRESS_PLUGIN.is_dir() else []
    if not files:
        return problem(404, "this shopreco has no WordPress plugin to offer (its "
                            "widgets/wordpress/shopreco folder is missing)")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            archive.write(path, f"shopreco/{path.relative_to(WORDPRESS_PLUGIN).as_posix()}")
    return Response(buffer.getvalue(), media_type="application/zip", headers={
        "Content-Disposition": 'attachment; filename="shopreco.zip"'})


def _page(status: int, title: str, message: str) -> HTMLResponse:
    """A page for the owner's browser: what happened and what to do (plain text, escaped)."""
    response = HTMLResponse(f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)} · shopreco</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem}}
</style></head>
<body><h1>{html.escape(title)}</h1><p id="message">{html.escape(message)}</p>
<p><a href="/connect">Connect a shop</a></p></body></html>""", status_code=status)
    response.headers["Cache-Control"] = "no-store"
    return response


# --- the connector ------------------------------------------------------------------------

class WooCommerceConnector:
    """common.Connector for WooCommerce: no app to configure, each store approves once."""

    platform = PLATFORM
    title = "WooCommerce"

    @property
    def routes(self) -> Sequence[BaseRoute]:
        return [Route(BASE, start, methods=["POST"]),
                Route(CALLBACK_PATH, callback, methods=["POST"]),
                Route(RETURN_PATH, back), Route(PLUGIN_PATH, plugin_zip)]

    def configured(self, settings: Settings) -> bool:
        return True

    def card(self, settings: Settings) -> str:
        return (
            f"<form method='post' action='{BASE}'><p><label for='woocommerce-store'>Your "
            "store's address</label><br><input id='woocommerce-store' name='store' type='text' "
            "inputmode='url' autocomplete='url' required placeholder='https://shop.example'>"
            "</p><p><button type='submit'>Connect WooCommerce</button></p><p>Your store asks "
            "you to approve read and write access once (shopreco writes only its webhooks). "
            "WordPress permalinks must be other than <em>Plain</em>.</p></form>")

    async def hooks_live(self, http: PlatformHttp, shop: Shop) -> list[HookState]:
        return await hooks_live(http, shop)

    async def disconnect(self, redis: aioredis.Redis, http: PlatformHttp, settings: Settings,
                         shop: Shop) -> None:
        """Delete our webhooks, then stop all work; the REST key itself can only be revoked
        in the store's admin (see the module's docstring)."""
        if shop.access.api_token:
            try:
                await remove_hooks(http, shop)
                await common.record(redis, shop.shop_id, hooks=[])
            except FetchError as error:
                log.warning("woocommerce shop %s: webhooks not removed: %s", shop.shop_id, error)
                await common.record(redis, shop.shop_id, error=(
                    f"the webhooks could not be removed from the store ({error}): delete the "
                    "shopreco ones under WooCommerce > Settings > Advanced > Webhooks"))
        await records.mark_uninstalled(redis, shop.shop_id, time.time())


CONNECTOR = WooCommerceConnector()
