"""A local stand-in for Ecwid by Lightspeed, following its documented contracts, for the demo
and the tests (never the internet). One app (client id and secret) with its registration, and
stores by numeric store id. SHOPRECO_ECWID_OAUTH_URL = http://127.0.0.1:PORT,
SHOPRECO_ECWID_API_URL = http://127.0.0.1:PORT/api/v3.

- GET  /api/oauth/authorize?client_id&redirect_uri&response_type=code&scope&state: the consent
  dialog (refused with 400 for another app, a response_type other than `code`, a redirect_uri
  off the registered redirect URL's site, or scopes beyond the registration's). The owner names
  their store and accepts or cancels (POST /api/oauth/decide); Ecwid then sends them to
  redirect_uri with `code` and `state`, or with `error=access_denied` and `state`.
- POST /api/oauth/token (form: client_id, client_secret, code, redirect_uri, grant_type=
  authorization_code): {access_token, token_type, scope, store_id, public_token}. A code works
  once; a second attempt also disables the token it gave, as Ecwid documents.
- /api/v3/{storeId}/...: the REST API with `Authorization: Bearer <the store's token>`: GET
  profile, orders?offset&limit ({total, count, offset, limit, items}), orders/{orderId},
  products/{productId}; GET, PUT, POST and DELETE storage/{key} (scope update_store_profile;
  a write's body is JSON {"value": "..."}, else 415). 403 for a token that is not the store's,
  revoked, or without the call's scope.
- GET  /store/{storeId}?page=PRODUCT&productId=N (or page=CART&productIds=1,2): the store's
  storefront: a stub of Ecwid's storefront JS API (OnAPILoaded, OnPageLoaded, getOwnerId,
  getAppPublicConfig, Cart.get, Cart.addProduct) and, while the app is installed with
  customize_storefront, the app's storefront JavaScript file.

What Ecwid's team sets for the app (`register`): the redirect URL, the webhook URL and events,
the storefront JavaScript file. `order_webhook` adds an order and gives back the webhook Ecwid
sends for it (X-Ecwid-Webhook-Signature: base64 HMAC-SHA256 of "{eventCreated}.{eventId}" with
the client secret); `uninstall` removes the app from a store and gives back
application.uninstalled.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

SCOPES = ("read_store_profile", "read_catalog", "read_orders", "update_store_profile",
          "customize_storefront")
EVENTS = ("order.created", "order.updated", "order.deleted", "product.created",
          "product.updated", "product.deleted", "application.uninstalled")
PAGE_LIMIT = 100  # the most GET /orders returns
SCOPE_OF = {"profile": "read_store_profile", "orders": "read_orders",
            "products": "read_catalog", "storage": "update_store_profile"}


@dataclass
class Registration:
    """The app's settings at Ecwid: one set for every store."""

    redirect_url: str = ""
    webhook_url: str = ""
    storefront_js_url: str = ""
    scopes: tuple[str, ...] = SCOPES
    events: tuple[str, ...] = EVENTS


@dataclass
class FakeStore:
    store_id: int
    orders: list[dict[str, Any]] = field(default_factory=list)
    products: list[dict[str, Any]] = field(default_factory=list)
    currency: str = "EUR"
    storefront: str = ""  # generalInfo.storeUrl ("": the fake's own /store/{id} page)
    storage: dict[str, str] = field(default_factory=dict)  # the app's storage in this store
    granted: frozenset[str] = frozenset()  # the app's scopes here; empty: not installed


@dataclass(frozen=True)
class Token:
    store_id: int
    scopes: frozenset[str]


@dataclass(frozen=True)
class Signed:
    """A webhook as Ecwid sends it to the app's webhook URL."""

    url: str
    body: bytes
    headers: dict[str, str]


def sign(secret: str, created: int, event_id: str) -> str:
    digest = hmac.new(secret.encode(), f"{created}.{event_id}".encode(), hashlib.sha256)
    return base64.b64encode(digest.digest()).decode()


def ecwid_order(number: int, customer_id: int, product_ids: list[int]) -> dict[str, Any]:
    """An order as GET /orders/{orderId} answers it (the fields shopreco reads and a few)."""
    created = 1_735_725_600 + number * 3600
    items = [{"id": number * 100 + i, "productId": pid, "name": f"Product {pid}",
              "sku": f"SKU-{pid}", "price": 9.5, "quantity": 1}
             for i, pid in enumerate(product_ids)]
    stamp = time.strftime("%Y-%m-%d %H:%M:%S +0000", time.gmtime(created))
    return {"id": f"X{number}", "orderNumber": number, "total": 9.5 * len(items),
            "subtotal": 9.5 * len(items), "paymentStatus": "PAID",
            "fulfillmentStatus": "AWAITING_PROCESSING", "createDate": stamp,
            "updateDate": stamp, "createTimestamp": created, "updateTimestamp": created,
            "customerId": customer_id, "email": f"c{customer_id}@example.com", "items": items}


def ecwid_product(product_id: int) -> dict[str, Any]:
    return {"id": product_id, "name": f"Product {product_id}", "price": 9.5, "enabled": True,
            "inStock": True, "url": f"https://shop.example/p{product_id}",
            "imageUrl": f"https://images.example/{product_id}.jpg"}


class FakeEcwid:
    def __init__(self, client_id: str, client_secret: str) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.registration = Registration()
        self.stores: dict[int, FakeStore] = {}
        self.tokens: dict[str, Token] = {}
        self.codes: dict[str, tuple[int, frozenset[str], str]] = {}  # code: store, scopes, uri
        self.spent: dict[str, str] = {}  # code: the token it gave
        self.dialogs: dict[str, dict[str, str]] = {}  # consent dialogs open
        self.issued: list[str] = []  # every access and public token
        self.token_calls = 0
        self.calls: list[tuple[str, str]] = []  # (method, path) of every REST call
        self.base_url = ""  # set by whoever serves `app`
        self.app = Starlette(routes=[
            Route("/api/oauth/authorize", self.authorize),
            Route("/api/oauth/decide", self.decide, methods=["POST"]),
            Route("/api/oauth/token", self.token, methods=["POST"]),
            Route("/api/v3/{store:int}/{resource}", self.rest, methods=["GET"]),
            Route("/api/v3/{store:int}/{resource}/{item}", self.rest,
                  methods=["GET", "PUT", "POST", "DELETE"]),
            Route("/store/{store:int}", self.storefront),
        ])

    # --- what the tests and the demo drive ----------------------------------------------------

    def register(self, public_url: str, redirect_path: str = "/connect/ecwid/callback",
                 webhook_path: str = "/webhooks/ecwid",
                 storefront_js_path: str = "/connect/ecwid/storefront.js") -> None:
        """Set the app's registration as Ecwid's team would, for an app served at
        `public_url`."""
        base = public_url.rstrip("/")
        self.registration.redirect_url = base + redirect_path
        self.registration.webhook_url = base + webhook_path
        self.registration.storefront_js_url = base + storefront_js_path

    def add_store(self, orders: int = 0, products: int = 8) -> FakeStore:
        store_id = 10**9 + uuid.uuid4().int % (9 * 10**9)
        store = self.stores[store_id] = FakeStore(store_id)
        store.products = [ecwid_product(p) for p in range(1, products + 1)]
        for n in range(orders):
            self.add_order(store_id, 500 + n % 7, [1 + n % 5, 6 + n % 3])
        return store

    def add_order(self, store_id: int, customer_id: int, product_ids: list[int]
                  ) -> dict[str, Any]:
        store = self.stores[store_id]
        order = ecwid_order(1000 + len(store.orders), customer_id, product_ids)
        store.orders.append(order)
        return order

    def order_webhook(self, store_id: int, customer_id: int = 777,
                      product_ids: tuple[int, ...] = (1, 2)) -> Signed:
        """A new order in the store and the order.created webhook Ecwid sends the app."""
        order = self.add_order(store_id, customer_id, list(product_ids))
        return self.webhook(store_id, "order.created", order["orderNumber"],
                            {"orderId": order["id"], "newPaymentStatus": "PAID",
                             "newFulfillmentStatus": "AWAITING_PROCESSING"})

    def uninstall(self, store_id: int) -> Signed:
        """The owner removes the app: its tokens stop working, its storage is gone."""
        store = self.stores[store_id]
        store.granted, store.storage = frozenset(), {}
        for token in [t for t, found in self.tokens.items() if found.store_id == store_id]:
            del self.tokens[token]
        return self._signed(store_id, "application.uninstalled", str(store_id), None)

    def webhook(self, store_id: int, event_type: str, entity_id: Any,
                data: dict[str, Any] | None = None) -> Signed:
        store = self.stores[store_id]
        if not store.granted or event_type not in self.registration.events:
            raise ValueError(f"Ecwid sends no {event_type} for store {store_id}: the app is not "
                             "installed there or not subscribed to it")
        return self._signed(store_id, event_type, entity_id, data)

    def _signed(self, store_id: int, event_type: str, entity_id: Any,
                data: dict[str, Any] | None) -> Signed:
        created, event_id = int(time.time()), str(uuid.uuid4())
        payload: dict[str, Any] = {"eventId": event_id, "eventCreated": created,
                                   "storeId": store_id, "entityId": entity_id,
                                   "eventType": event_type}
        if data is not None:
            payload["data"] = data
        return Signed(f"{self.registration.webhook_url}?eventtype={event_type}",
                      json.dumps(payload).encode(),
                      {"Content-Type": "application/json; charset=UTF-8",
                       "X-Ecwid-Webhook-Signature": sign(self.client_secret, created, event_id)})

    def hooks(self, store_id: int) -> list[dict[str, str]]:
        """The app's webhooks as they reach this store: all of them while it is installed."""
        if not self.stores[store_id].granted:
            return []
        return [{"topic": event, "url": self.registration.webhook_url}
                for event in self.registration.events]

    # --- OAuth --------------------------------------------------------------------------------

    async def authorize(self, request: Request) -> Response:
        params = request.query_params
        scopes = frozenset(params.get("scope", "").split())
        problem = (
            "unknown client_id" if params.get("client_id") != self.client_id else
            "response_type must be code" if params.get("response_type") != "code" else
            "redirect_uri does not match the app's redirect URL"
            if not _same_site(params.get("redirect_uri", ""), self.registration.redirect_url)
            else "the app requests scopes it is not registered for"
            if not scopes <= set(self.registration.scopes) else "")
        if problem:
            return HTMLResponse(f"<!doctype html><title>Error</title><p>{problem}</p>", 400)
        dialog = secrets.token_urlsafe(12)
        self.dialogs[dialog] = {"redirect_uri": params["redirect_uri"],
                                "state": params.get("state", ""),
                                "scope": " ".join(sorted(scopes | {"read_store_profile"}))}
        return HTMLResponse(
            "<!doctype html><title>Ecwid: install app</title>"
            f"<h1>Allow {html.escape(self.client_id)} access to your store?</h1>"
            f"<p>It asks for: {html.escape(' '.join(sorted(scopes)))}</p>"
            '<form method="post" action="/api/oauth/decide">'
            f'<input type="hidden" name="dialog" value="{dialog}">'
            '<label>Store ID <input name="store_id" id="store-id"></label>'
            '<button name="decision" value="accept" id="approve">Accept</button>'
            '<button name="decision" value="cancel" id="deny">Cancel</button></form>')

    async def decide(self, request: Request) -> Response:
        form = await request.form()
        dialog = self.dialogs.pop(str(form.get("dialog")), None)
        store_id = str(form.get("store_id") or "")
        if dialog is None or not store_id.isdigit() or int(store_id) not in self.stores:
            return HTMLResponse("<!doctype html><p>Unknown dialog or store</p>", 400)
        if form.get("decision") == "accept":
            code = secrets.token_urlsafe(18)
            self.codes[code] = (int(store_id), frozenset(dialog["scope"].split()),
                                dialog["redirect_uri"])
            back = {"code": code, "state": dialog["state"]}
        else:
            back = {"error": "access_denied", "state": dialog["state"]}
        joiner = "&" if "?" in dialog["redirect_uri"] else "?"
        return RedirectResponse(f"{dialog['redirect_uri']}{joiner}{urlencode(back)}", 302)

    async def token(self, request: Request) -> Response:
        self.token_calls += 1
        form = await request.form()
        if (form.get("client_id"), form.get("client_secret")) != (self.client_id,
                                                                   self.client_secret):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        code = str(form.get("code") or "")
        if code in self.spent:  # a second attempt disables the token the code gave
            self.tokens.pop(self.spent[code], None)
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        found = self.codes.pop(code, None)
        if form.get("grant_type") != "authorization_code" or found is None \
                or form.get("redirect_uri") != found[2]:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        store_id, scopes, _ = found
        token, public = "secret_" + secrets.token_urlsafe(24), "public_" + secrets.token_urlsafe(24)
        self.spent[code] = token
        self.tokens[token] = Token(store_id, scopes)
        self.issued += [token, public]
        self.stores[store_id].granted = scopes
        return JSONResponse({"access_token": token, "token_type": "bearer",
                             "scope": " ".join(sorted(scopes)), "store_id": store_id,
                             "public_token": public})

    # --- the REST API -------------------------------------------------------------------------

    async def rest(self, request: Request) -> Response:
        self.calls.append((request.method, request.url.path))
        store_id, resource = request.path_params["store"], request.path_params["resource"]
        header = request.headers.get("authorization", "")
        token = self.tokens.get(header.removeprefix("Bearer ")) if header.startswith(
            "Bearer ") else None
        if token is None or token.store_id != store_id or store_id not in self.stores:
            return _error(403, "The access token is invalid or not this store's")
        if SCOPE_OF.get(resource, "") not in token.scopes:
            return _error(403, "The token does not have the required access scope")
        store, item = self.stores[store_id], request.path_params.get("item")
        if resource == "storage" and item is not None:
            return await self._storage(request, store, item)
        if resource == "profile" and item is None:
            return JSONResponse(self._profile(store))
        if resource == "orders" and item is None:
            return _page(store.orders, request)
        found = next((o for o in (store.orders if resource == "orders" else store.products)
                      if item in (str(o["id"]), str(o.get("orderNumber")))), None)
        if resource not in ("orders", "products") or found is None:
            return _error(404, "Not found")
        return JSONResponse(found)

    def _profile(self, store: FakeStore) -> dict[str, Any]:
        url = store.storefront or f"{self.base_url}/store/{store.store_id}"
        return {"generalInfo": {"storeId": store.store_id, "storeUrl": url,
                                "starterSite": {"generatedUrl": url}},
                "account": {"accountName": f"Store {store.store_id}"},
                "settings": {"storeName": f"Store {store.store_id}", "closed": False},
                "formatsAndUnits": {"currency": store.currency}}

    async def _storage(self, request: Request, store: FakeStore, key: str) -> Response:
        if request.method == "GET":
            if key not in store.storage:
                return _error(404, "Key not found")
            return JSONResponse({"key": key, "value": store.storage[key]})
        if request.method == "DELETE":
            if store.storage.pop(key, None) is None:
                return _error(404, "Key not found")
            return JSONResponse({"success": True})
        if not request.headers.get("content-type", "").startswith(("application/json",
                                                                    "text/json")):
            return _error(415, "Unsupported content-type: expected application/json")
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _error(400, "The body is not JSON")
        if not isinstance(body, dict) or not isinstance(body.get("value"), str):
            return _error(400, "The body must be {\"value\": \"...\"}")
        limit = 256 * 1024 if key == "public" else 1024 * 1024
        if len(body["value"].encode()) > limit:
            return _error(400, f"The value is over {limit} bytes")
        store.storage[key] = body["value"]
        return JSONResponse({"success": True})

    # --- the storefront ---------------------------------------------------------------------

    async def storefront(self, request: Request) -> Response:
        store = self.stores.get(request.path_params["store"])
        if store is None:
            return HTMLResponse("<!doctype html><p>No such store</p>", 404)
        params = request.query_params
        page: dict[str, Any] = {"type": params.get("page", "CATEGORY")}
        if params.get("productId", "").isdigit():
            page["productId"] = int(params["productId"])
        cart = {"items": [{"quantity": 1, "product": {"id": int(p)}} for p in
                          params.get("productIds", "").split(",") if p.isdigit()]}
        configs = {self.client_id: store.storage["public"]} if "public" in store.storage \
            else {}
        script = self.registration.storefront_js_url \
            if "customize_storefront" in store.granted else ""
        return HTMLResponse(_STOREFRONT.format(
            id=store.store_id, state=_script_json({"owner": store.store_id, "page": page,
                                                   "cart": cart, "configs": configs}),
            custom=f'<script src="{html.escape(script)}"></script>' if script else ""))


def _same_site(url: str, registered: str) -> bool:
    got, want = urlsplit(url), urlsplit(registered)
    return bool(registered) and (got.scheme, got.netloc) == (want.scheme, want.netloc)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"errorMessage": message}, status_code=status)


def _page(items: list[dict[str, Any]], request: Request) -> Response:
    try:
        offset = max(0, int(request.query_params.get("offset", "0")))
        limit = min(PAGE_LIMIT, max(1, int(request.query_params.get("limit", "100"))))
    except ValueError:
        return _error(400, "offset and limit must be numbers")
    page = items[offset:offset + limit]
    return JSONResponse({"total": len(items), "count": len(page), "offset": offset,
                         "limit": limit, "items": page})


def _script_json(value: Any) -> str:
    return json.dumps(value).replace("<", "\\u003c")


# Ecwid's storefront JS API as far as apps use it here: handlers run once the page has loaded.
_STOREFRONT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Store {id}</title>
<script>
(function () {{
  var S = {state}, apiReady = false, pageReady = false, api = [], pages = [], added = [];
  var run = function (list, arg) {{ list.slice().forEach(function (f) {{ f(arg); }}); }};
  window.ecwidAdded = added;
  window.Ecwid = {{
    OnAPILoaded: {{ add: function (f) {{ api.push(f); if (apiReady) f(); }} }},
    OnPageLoaded: {{ add: function (f) {{ pages.push(f); if (pageReady) f(S.page); }} }},
    getOwnerId: function () {{ return S.owner; }},
    getAppPublicConfig: function (app) {{ return S.configs[app] || null; }},
    Cart: {{
      get: function (callback) {{ callback(S.cart); }},
      addProduct: function (product) {{ added.push(product); }}
    }}
  }};
  window.addEventListener("load", function () {{
    apiReady = true;
    run(api);
    pageReady = true;
    run(pages, S.page);
  }});
}})();
</script>
{custom}
</head><body><div id="my-store-{id}" class="ec-store"><h1>Store {id}</h1></div></body></html>
"""
