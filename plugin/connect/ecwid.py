"""Ecwid by Lightspeed: the app's OAuth authorization code flow, the store's public app config
and the storefront JavaScript the app's registration points to.

    GET /connect/ecwid/start          -> 302 to Ecwid's consent dialog, `state` a single-use nonce
    GET /connect/ecwid/callback?code&state (or error=access_denied)  -> the landing page
    GET /connect/ecwid/storefront.js  the app's storefront JavaScript file (Ecwid loads it)

What belongs to the app's registration with Ecwid, set once for every store (Ecwid's team
sets it on request): the redirect URL, the scopes, ONE webhook URL with its events, and the
storefront JavaScript file. So a connect creates no webhook and no script: it exchanges the
code for the store's token (stored sealed), reads the store profile, registers the shop (its
webhook secret is the app's client secret, as Ecwid signs with it), writes the store's public
app config (our address and the shop's widget key, read on the storefront with
`Ecwid.getAppPublicConfig(client_id)`) and imports the order history.
An install started in Ecwid's App Market comes back with a code but no state: it connects
too (the code is Ecwid's for this app, exchanged with our client secret, and works once); a
state that is not one we gave out (forged, spent, expired) is refused.

Docs: https://api-docs.ecwid.com/reference/get-token-manually (authorize, token, error=
access_denied), https://docs.ecwid.com/api-reference/rest-api/application/add-app-storage-data
(storage, scope update_store_profile), https://api-docs.ecwid.com/reference/
public-application-config, https://api-docs.ecwid.com/reference/set-up-webhooks.
"""

from __future__ import annotations

import html
import json
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import redis.asyncio as aioredis
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from plugin.admin import sessions
from plugin.config import Secret, Settings
from plugin.connect import common
from plugin.connect.common import ConnectError, HookState
from plugin.store import keys, records
from plugin.store.shops import PlatformAccess, Shop, ShopError, webhook_url
from plugin.store.urls import safe_http_url
from plugin.web.body import decode_json
from webhooks import ecwid
from webhooks.http import FetchError, PlatformHttp

log = logging.getLogger(__name__)

PLATFORM = ecwid.PLATFORM
START_PATH = "/connect/ecwid/start"
CALLBACK_PATH = "/connect/ecwid/callback"
STOREFRONT_JS_PATH = "/connect/ecwid/storefront.js"
# read_store_profile: currency and storefront; read_catalog, read_orders: the history and the
# webhooks; update_store_profile: the app storage (public config); customize_storefront: Ecwid
# loads the app's storefront JavaScript. The app's registration must list the same scopes.
SCOPES = ("read_store_profile", "read_catalog", "read_orders", "update_store_profile",
          "customize_storefront")
EVENTS = ("order.created", "order.updated", "order.deleted", "product.created",
          "product.updated", "product.deleted", "application.uninstalled")
PUBLIC_KEY = "public"  # the app storage key Ecwid serves on the storefront
LIMIT_KEY = "connect:ecwid"  # the rate limit of the calls made before the shop exists
STORE_ID = re.compile(r"^[1-9][0-9]{0,19}\Z")


def configured(settings: Settings) -> bool:
    return bool(settings.ecwid_client_id and settings.ecwid_client_secret.reveal())


def _public(settings: Settings) -> str:
    return settings.public_url.rstrip("/")


def redirect_uri(settings: Settings) -> str:
    return _public(settings) + CALLBACK_PATH


def storefront_js_url(settings: Settings) -> str:
    return _public(settings) + STOREFRONT_JS_PATH


def app_webhook_url(settings: Settings) -> str:
    """The app's one webhook URL: every store's deliveries name their storeId."""
    return webhook_url(settings.public_url, PLATFORM, "")


def authorize_url(settings: Settings, state: str) -> str:
    query = urlencode({"client_id": settings.ecwid_client_id,
                       "redirect_uri": redirect_uri(settings), "response_type": "code",
                       "scope": " ".join(SCOPES), "state": state})
    return f"{settings.ecwid_oauth_url.rstrip('/')}/api/oauth/authorize?{query}"


# --- Ecwid's side ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Grant:
    token: Secret
    store_id: str
    scope: str


@dataclass(frozen=True)
class Profile:
    currency: str
    storefront_url: str


async def exchange_code(http: PlatformHttp, settings: Settings, code: str) -> Grant:
    """POST the code to Ecwid's token endpoint; ConnectError when Ecwid refuses it."""
    url = f"{settings.ecwid_oauth_url.rstrip('/')}/api/oauth/token"
    form = {"client_id": settings.ecwid_client_id,
            "client_secret": settings.ecwid_client_secret.reveal(), "code": code,
            "redirect_uri": redirect_uri(settings), "grant_type": "authorization_code"}
    try:
        response = await http.request(LIMIT_KEY, "POST", url, data=form,
                                      headers={"Accept": "application/json"})
    except FetchError as error:
        if error.status == 401:
            raise ConnectError("Ecwid refused this shopreco's app credentials: its operator "
                               "should check SHOPRECO_ECWID_CLIENT_ID and _SECRET") from None
        if error.status is not None and 400 <= error.status < 500:
            raise ConnectError("Ecwid refused the authorization code (codes work once and "
                               "for a few minutes): start again") from None
        raise
    answer = _json(response.content)
    token, store_id = answer.get("access_token"), str(answer.get("store_id", ""))
    if not isinstance(token, str) or not token or not STORE_ID.match(store_id):
        raise FetchError("Ecwid's token endpoint answered without an access token and store id")
    scope = answer.get("scope")
    return Grant(Secret(token), store_id, scope if isinstance(scope, str) else "")


def _json(content: bytes) -> dict[str, Any]:
    try:
        answer = decode_json(content)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise FetchError("Ecwid answered with something other than a JSON object")
    return answer


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _root(settings: Settings, store_id: str) -> str:
    return f"{settings.ecwid_api_url.rstrip('/')}/{quote(store_id, safe='')}"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": "application/json"}


async def read_profile(http: PlatformHttp, settings: Settings, grant: Grant) -> Profile:
    """The store's currency and storefront URL (GET /{storeId}/profile)."""
    url = f"{_root(settings, grant.store_id)}/profile"
    answer = _json((await http.request(LIMIT_KEY, "GET", url,
                                       headers=_bearer(grant.token.reveal()))).content)
    general, units = _object(answer.get("generalInfo")), _object(answer.get("formatsAndUnits"))
    starter = _object(general.get("starterSite"))
    currency = units.get("currency")
    storefront = safe_http_url(general.get("storeUrl")) or \
        safe_http_url(starter.get("generatedUrl")) or ""
    return Profile(currency if isinstance(currency, str) and re.fullmatch(r"[A-Z]{3}", currency)
                   else "USD", storefront.rstrip("/"))


async def write_public_config(http: PlatformHttp, settings: Settings, shop: Shop) -> None:
    """The store's public app config: what the storefront JavaScript needs, nothing secret."""
    value = json.dumps({"base_url": _public(settings), "widget_key": shop.widget_key})
    await http.request(shop.shop_id, "PUT", _storage_url(shop), json={"value": value},
                       headers=_bearer(shop.access.api_token.reveal()))


async def delete_public_config(http: PlatformHttp, shop: Shop) -> None:
    try:
        await http.request(shop.shop_id, "DELETE", _storage_url(shop),
                           headers=_bearer(shop.access.api_token.reveal()))
    except FetchError as error:  # best effort: the storefront script then finds no config
        if error.status != 404:
            log.warning("could not delete shop %r's Ecwid public config: %s", shop.shop_id,
                        error)


def _storage_url(shop: Shop) -> str:
    return f"{ecwid.api_root(shop)}/storage/{PUBLIC_KEY}"


# --- the pages ------------------------------------------------------------------------------

def refusal(status: int, message: str) -> HTMLResponse:
    """A refusal the owner reads in the browser: what happened and what to do."""
    response = HTMLResponse(f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Not connected · shopreco</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem}}
</style></head><body><h1>Your Ecwid store was not connected</h1>
<p id="reason" role="alert">{html.escape(message)}</p>
<p><a href="/connect">Connect a shop</a></p></body></html>""", status_code=status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"  # the URL may hold a code
    return response


def _not_configured() -> HTMLResponse:
    return refusal(404, "This shopreco has no Ecwid app configured: set SHOPRECO_ECWID_CLIENT_ID "
                        "and SHOPRECO_ECWID_CLIENT_SECRET from the app's registration.")


async def start(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    if not configured(settings):
        return _not_configured()
    state = await common.begin(request.app.state.redis, PLATFORM, {})
    response = RedirectResponse(authorize_url(settings, state), status_code=302)
    response.headers["Cache-Control"] = "no-store"
    return response


async def callback(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    if not configured(settings):
        return _not_configured()
    redis, params = request.app.state.redis, request.query_params
    # No state at all: an install from Ecwid's App Market, which Ecwid starts itself. The
    # code still has to be Ecwid's, for this app (it is exchanged with our client secret),
    # and works once; a state we did not give out (forged, spent, expired) is refused.
    if "state" in params and await common.take(redis, PLATFORM, params["state"]) is None:
        return refusal(400, "This answer from Ecwid belongs to no connect started here in the "
                            f"last {keys.CONNECT_PENDING_SECONDS // 60} minutes (or was used "
                            "already): start again from Connect a shop.")
    if params.get("error"):
        if params["error"] == "access_denied":
            return refusal(403, "You declined shopreco's access in Ecwid, so nothing was "
                                "connected or stored. To connect, start again and approve.")
        return refusal(400, f"Ecwid answered with the error {params['error'][:100]!r}; "
                            "nothing was connected: start again.")
    code = params.get("code") or ""
    if not code or len(code) > 500:
        return refusal(400, "Ecwid's answer has no authorization code: start again.")
    if not await common.first_use(redis, PLATFORM, code):
        return refusal(400, "This authorization code was used already: start again.")
    try:
        return await _connect(request, code)
    except ConnectError as error:
        return refusal(400, str(error))
    except ShopError as error:
        return refusal(409, str(error))
    except FetchError as error:
        return refusal(502, f"Ecwid could not be asked to finish the connect ({error}): "
                            "start again in a minute.")


async def _connect(request: Request, code: str) -> Response:
    state = request.app.state
    settings: Settings = state.settings
    grant = await exchange_code(state.http, settings, code)
    profile = await read_profile(state.http, settings, grant)
    access = PlatformAccess(store_ref=grant.store_id, api_base=settings.ecwid_api_url,
                            api_token=grant.token)
    done = await common.register(state.redis, settings, PLATFORM, grant.store_id, access,
                                 settings.ecwid_client_secret.reveal(), profile.storefront_url,
                                 profile.currency)
    shop = done.shop
    await common.record(state.redis, shop.shop_id, stage="connecting", scope=grant.scope,
                        hooks=[{"topic": topic, "url": app_webhook_url(settings)}
                               for topic in EVENTS],
                        scripts=[{"src": storefront_js_url(settings)}])
    step = await _storefront_step(state.http, settings, shop)
    common.start_import(state.background, state.redis, state.http, shop.shop_id,
                        ecwid.backfill_pages)
    login = await sessions.login_link(state.redis, settings.public_url, shop.shop_id)
    return common.landing(shop, "Ecwid", done.api_key, login, step, done.new)


async def _storefront_step(http: PlatformHttp, settings: Settings, shop: Shop) -> str:
    """Write the public config; what the landing page says about the storefront."""
    try:
        await write_public_config(http, settings, shop)
    except FetchError as error:
        log.warning("shop %r: Ecwid refused the public app config: %s", shop.shop_id, error)
        return ("Storefront widgets: Ecwid refused shopreco's storefront settings "
                f"({html.escape(str(error))}). Connect again, or paste the embed snippet from "
                "your dashboard's Widgets page into your site.")
    where = html.escape(shop.storefront_url or "your storefront")
    return ("Storefront widgets: nothing to paste. Ecwid loads shopreco's storefront script on "
            f"{where}; it shows &ldquo;customers also bought&rdquo; on product pages and "
            "&ldquo;complete your order&rdquo; on the cart page. If your store is also "
            "embedded on another site, add that site's address on your dashboard's Widgets "
            "page.")


async def storefront_js(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    if not configured(settings):
        return Response("/* this shopreco has no Ecwid app configured */\n", status_code=404,
                        media_type="text/javascript")
    body = STOREFRONT_JS.replace("__APP__", json.dumps(settings.ecwid_client_id))
    return Response(body, media_type="text/javascript", headers={
        "Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"})


# Loaded by Ecwid on every page of a store that installed the app (customize_storefront).
STOREFRONT_JS = """/* shopreco on an Ecwid storefront: reads the store's public app config
   ({base_url, widget_key}, written when the store connected), loads shopreco's widget script
   and places "customers also bought" on product pages and "complete your order" on the cart
   page. Never throws into the page; loading it twice is harmless. */
(function (w, d) {
  "use strict";
  var APP = __APP__, SLOTS = { PRODUCT: "shopreco-ecwid-product", CART: "shopreco-ecwid-cart" };
  if (w.shoprecoEcwid || !w.Ecwid || !w.Ecwid.OnAPILoaded) return;
  w.shoprecoEcwid = true;
  var safe = function (f) {
    return function () { try { return f.apply(this, arguments); } catch (e) { return null; } };
  };
  var parse = function (v) { return typeof v === "string" ? JSON.parse(v) : v; };
  var config = function () {
    var c = parse(w.Ecwid.getAppPublicConfig(APP));
    if (c && typeof c.value === "string") c = parse(c.value);  /* {key, value} */
    return c && /^https?:[/][/]/.test(c.base_url) && c.widget_key ? c : null;
  };
  var slot = function (type) {
    var el = d.getElementById(SLOTS[type]);
    if (el) return el;
    el = d.createElement("div");
    el.id = SLOTS[type];
    var store = d.getElementById("my-store-" + w.Ecwid.getOwnerId()) ||
      d.querySelector(".ec-store, .ecwid-productBrowser");
    if (store && store.parentNode) store.parentNode.insertBefore(el, store.nextSibling);
    else d.body.appendChild(el);
    return el;
  };
  var render = function (type, options) {
    (w.shopreco = w.shopreco || []).push(["render", slot(type), options]);
  };
  var place = function (page) {
    Object.keys(SLOTS).forEach(function (type) {
      var el = d.getElementById(SLOTS[type]);
      if (el && type !== page.type) el.parentNode.removeChild(el);
    });
    if (page.type === "PRODUCT" && page.productId) {
      render("PRODUCT", { placement: "also_bought", productId: String(page.productId) });
    } else if (page.type === "CART") {
      w.Ecwid.Cart.get(safe(function (cart) {
        var ids = (cart.items || []).map(function (i) { return String(i.product.id); });
        if (ids.length) render("CART", { placement: "cart", productIds: ids.join(",") });
      }));
    }
  };
  w.Ecwid.OnAPILoaded.add(safe(function () {
    var c = config();
    if (!c) return;
    w.shopreco = w.shopreco || [];
    if (!d.querySelector("script[data-shopreco-ecwid]")) {
      var s = d.createElement("script");
      s.async = true;
      s.src = c.base_url.replace(/[/]+$/, "") + "/widgets/v1/embed.js";
      s.setAttribute("data-key", c.widget_key);
      s.setAttribute("data-shopreco-ecwid", "");
      (d.head || d.body).appendChild(s);
    }
    d.addEventListener("shopreco:add-to-cart", safe(function (e) {
      e.detail.items.forEach(function (i) {
        w.Ecwid.Cart.addProduct({ id: Number(i.product_id), quantity: i.quantity || 1 });
      });
    }));
    w.Ecwid.OnPageLoaded.add(safe(place));
  }));
})(window, document);
"""


# --- the connector --------------------------------------------------------------------------

def _registration(settings: Settings) -> str:
    facts = [("Redirect URL", redirect_uri(settings)),
             ("Webhook URL (one for every store)", app_webhook_url(settings)),
             ("Webhook events", " ".join(EVENTS)),
             ("Storefront JavaScript file", storefront_js_url(settings)),
             ("Access scopes", " ".join(SCOPES))]
    rows = "".join(f"<dt>{html.escape(name)}</dt><dd><code>{html.escape(value)}</code></dd>"
                   for name, value in facts)
    return ("<details><summary>The Ecwid app's registration</summary><p>Ecwid sets these "
            "once for the app (ask Ecwid's team to set or change them), not per store:</p>"
            f"<dl id='ecwid-registration'>{rows}</dl></details>")


class EcwidConnector:
    platform = PLATFORM
    title = "Ecwid"

    @property
    def routes(self) -> Sequence[BaseRoute]:
        return [Route(START_PATH, start), Route(CALLBACK_PATH, callback),
                Route(STOREFRONT_JS_PATH, storefront_js)]

    def configured(self, settings: Settings) -> bool:
        return configured(settings)

    def card(self, settings: Settings) -> str:
        if not configured(settings):
            return ("<p>To connect Ecwid stores, register an Ecwid app with the facts below "
                    "and set <code>SHOPRECO_ECWID_CLIENT_ID</code> and "
                    "<code>SHOPRECO_ECWID_CLIENT_SECRET</code> from its credentials.</p>"
                    + _registration(settings))
        return (f"<p><a class='button' id='connect-ecwid-start' href='{START_PATH}'>Connect "
                "your Ecwid store</a></p><p>You approve shopreco in Ecwid; your orders, "
                "products and storefront widgets then connect by themselves.</p>"
                + _registration(settings))

    async def hooks_live(self, http: PlatformHttp, shop: Shop) -> list[HookState]:
        """Ecwid lists no webhooks per store: they come with the app's registration while
        the app is installed. So each event is live while the store's token works (its
        profile answers); a revoked token (the app removed in Ecwid) makes none live."""
        try:
            await http.get_json(shop.shop_id, f"{ecwid.api_root(shop)}/profile",
                                headers=_bearer(shop.access.api_token.reveal()))
            live = True
        except FetchError as error:
            if error.status not in (401, 403):
                raise
            live = False
        return [HookState(topic, live) for topic in EVENTS]

    async def disconnect(self, redis: aioredis.Redis, http: PlatformHttp, settings: Settings,
                         shop: Shop) -> None:
        """Delete the store's public config (the storefront script then shows nothing) and
        stop all work. The webhooks and the script belong to the app: they stop when the
        owner removes the app in Ecwid (application.uninstalled does the same as this)."""
        if shop.access.api_token.reveal():
            await delete_public_config(http, shop)
        await records.mark_uninstalled(redis, shop.shop_id, time.time())


CONNECTOR = EcwidConnector()
