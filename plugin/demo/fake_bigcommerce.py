"""A local stand-in for BigCommerce, following its documented contracts, for the demo and the
tests (never the internet). One server plays the login service and the stores' API
(SHOPRECO_BIGCOMMERCE_LOGIN_URL and _API_URL both name it); it holds one app.

- GET  /app/{client_id}/install?store={hash}: the consent page (the fake has no merchant
  sign-in: `store` is the control panel the merchant is in); its "Install" link goes to the
  app's auth callback with account_uuid, code, context=stores/{hash} and scope.
- POST /oauth2/token (JSON or form): client_id, client_secret, code (works once), scope,
  grant_type=authorization_code, redirect_uri (the auth callback) and context; answers
  {access_token, scope, user{id, username, email}, context, account_uuid}. A new token
  replaces the app's previous one for that store.
- /stores/{hash}/...: X-Auth-Token required. GET v2/store; v2/orders?page&limit&sort
  (204 past the end), v2/orders/{id}, v2/orders/{id}/products; v3/catalog/products/{id};
  v3/hooks[/{id}] and v3/content/scripts[/{uuid}] with GET, POST, PUT and DELETE, the app's
  own only, answered as {data, meta}; at most 10 scripts per app; a script_tag script needs
  exactly one <script> and load_method `default`.

Playing BigCommerce's part: `signed_payload` (signed_payload_jwt: HS256 with the client
secret, aud, iss "bc", sub "stores/{hash}", user, owner, url, exp a day on), `callback_url`,
`uninstall` (the app's webhooks and auto_uninstall scripts deleted, its token revoked, then
the uninstall callback), `add_order` and `delivery` (the Standard Webhooks delivery a hook
sends, signed with the client secret).
"""

from __future__ import annotations

import hashlib
import html
import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from webhooks.standard_webhooks import sign

APP_SCOPES = ("store_v2_orders_read_only store_v2_products_read_only "
              "store_v2_information_read_only store_v2_content")
SCRIPTS_PER_APP = 10
DAY = 24 * 3600
SCRIPT_CHOICES = {"kind": ("src", "script_tag"), "load_method": ("default", "async", "defer"),
                  "location": ("head", "footer"),
                  "visibility": ("storefront", "all_pages", "checkout", "order_confirmation"),
                  "consent_category": ("essential", "functional", "analytics", "targeting")}


@dataclass
class FakeStore:
    store_hash: str
    orders: dict[int, dict[str, Any]] = field(default_factory=dict)  # V2 orders by id
    lines: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # V2 order products
    products: dict[int, dict[str, Any]] = field(default_factory=dict)  # V3 products (data)
    currency: str = "EUR"
    token: str = ""  # the app's access token; "" when not installed
    hooks: dict[int, dict[str, Any]] = field(default_factory=dict)
    scripts: dict[str, dict[str, Any]] = field(default_factory=dict)
    owner: dict[str, Any] = field(default_factory=lambda: {
        "id": secrets.randbelow(10**7), "email": "owner@store.example"})
    about: dict[str, Any] = field(default_factory=dict)  # changes to GET v2/store's answer


@dataclass(frozen=True)
class Delivery:
    """A webhook as BigCommerce sends it: where, the body, the signed headers."""

    url: str
    body: bytes
    headers: dict[str, str]


def v2_date(at: float) -> str:
    return format_datetime(datetime.fromtimestamp(at, UTC))  # "Tue, 20 Nov 2012 00:00:00 +0000"


def _collection(items: list[dict[str, Any]], request: Request) -> JSONResponse:
    page = max(1, int(request.query_params.get("page") or 1))
    limit = min(250, max(1, int(request.query_params.get("limit") or 50)))
    shown = items[(page - 1) * limit:page * limit]
    return JSONResponse({"data": shown, "meta": {"pagination": {
        "total": len(items), "count": len(shown), "per_page": limit, "current_page": page,
        "total_pages": max(1, -(-len(items) // limit))}}})


def _error(status: int, title: str) -> JSONResponse:
    return JSONResponse({"status": status, "title": title}, status_code=status)


class FakeBigCommerce:
    def __init__(self, client_id: str, client_secret: str) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.account_uuid = str(uuid.uuid4())
        self.callbacks: dict[str, str] = {}  # auth, load, uninstall, remove_user (the profile)
        self.stores: dict[str, FakeStore] = {}
        self.codes: dict[str, str] = {}  # code -> store hash, removed when used
        self.issued: list[str] = []  # every access token handed out
        self.calls: list[tuple[str, str]] = []  # (method, path) of every store API call
        self.next_hook = 1000
        self.base_url = ""  # set by whoever serves `app`
        api = "/stores/{store_hash}"
        self.app = Starlette(routes=[
            Route("/app/{client_id}/install", self.consent),
            Route("/oauth2/token", self.token, methods=["POST"]),
            Route(f"{api}/v2/store", self.store_info),
            Route(f"{api}/v2/orders", self.order_list),
            Route(f"{api}/v2/orders/{{order_id:int}}", self.order),
            Route(f"{api}/v2/orders/{{order_id:int}}/products", self.order_products),
            Route(f"{api}/v3/catalog/products/{{product_id:int}}", self.product),
            Route(f"{api}/v3/hooks", self.hooks, methods=["GET", "POST"]),
            Route(f"{api}/v3/hooks/{{hook_id:int}}", self.hook, methods=["GET", "PUT", "DELETE"]),
            Route(f"{api}/v3/content/scripts", self.scripts, methods=["GET", "POST"]),
            Route(f"{api}/v3/content/scripts/{{uuid}}", self.script,
                  methods=["GET", "PUT", "DELETE"]),
        ])

    # --- the stores and what BigCommerce does by itself ----------------------------------

    def add_store(self, orders: int = 0, products: int = 8, currency: str = "EUR") -> str:
        """A new store holding `orders` orders of its `products`; its hash."""
        store = FakeStore("s" + secrets.token_hex(4), currency=currency)
        for n in range(1, products + 1):
            store.products[n] = {
                "id": n, "name": f"Product {n}", "type": "physical", "price": 9.5 + n,
                "is_visible": True, "availability": "available", "inventory_level": 5,
                "inventory_tracking": "none", "custom_url": {"url": f"/product-{n}/"},
                "images": [{"id": n, "is_thumbnail": True,
                            "url_standard": f"https://cdn.store.example/{n}.jpg"}]}
        self.stores[store.store_hash] = store
        for _ in range(orders):
            self.add_order(store.store_hash)
        return store.store_hash

    def add_order(self, store_hash: str) -> int:
        """A new order (Awaiting Fulfillment) of two of the store's products; its id."""
        store = self.stores[store_hash]
        order_id = 100 + len(store.orders)
        first = 1 + order_id % max(1, len(store.products))
        picks = [first, 1 + first % max(1, len(store.products))]
        store.lines[order_id] = [{
            "id": order_id * 10 + i, "order_id": order_id, "product_id": product_id,
            "variant_id": product_id * 10 + 1, "name": f"Product {product_id}",
            "quantity": 1, "price_inc_tax": f"{9.5 + product_id:.4f}", "quantity_refunded": 0,
        } for i, product_id in enumerate(dict.fromkeys(picks))]
        now = v2_date(time.time())
        total = sum(float(line["price_inc_tax"]) for line in store.lines[order_id])
        store.orders[order_id] = {
            "id": order_id, "customer_id": 500 + order_id % 7, "date_created": now,
            "date_modified": now, "status_id": 11, "status": "Awaiting Fulfillment",
            "currency_code": store.currency, "is_deleted": False,
            "total_inc_tax": f"{total:.4f}",
            "products": {"resource": f"/orders/{order_id}/products"}}
        return order_id

    def signed_payload(self, store_hash: str, *, secret: str | None = None,
                       audience: str | None = None, lifetime: int = DAY,
                       issuer: str = "bc") -> str:
        """A signed_payload_jwt as BigCommerce makes it for the store's owner."""
        now = int(time.time())
        owner = self.stores[store_hash].owner
        return jwt.encode({
            "aud": audience or self.client_id, "iss": issuer, "iat": now, "nbf": now,
            "exp": now + lifetime, "jti": str(uuid.uuid4()), "sub": f"stores/{store_hash}",
            "user": {**owner, "locale": "en-US"}, "owner": owner, "url": "/",
            "channel_id": None}, secret or self.client_secret, "HS256")

    def callback_url(self, name: str, store_hash: str, **signing: Any) -> str:
        """Where BigCommerce sends the browser (load) or calls (uninstall, remove_user)."""
        jwt_token = self.signed_payload(store_hash, **signing)
        return f"{self.callbacks[name]}?{urlencode({'signed_payload_jwt': jwt_token})}"

    def uninstall(self, store_hash: str) -> str:
        """The owner removes the app: its webhooks and auto_uninstall scripts go, its token
        is revoked; the uninstall callback to call."""
        store = self.stores[store_hash]
        store.hooks.clear()
        store.scripts = {k: s for k, s in store.scripts.items() if not s["auto_uninstall"]}
        store.token = ""
        return self.callback_url("uninstall", store_hash)

    def delivery(self, store_hash: str, scope: str, entity_id: int,
                 kind: str = "order") -> Delivery | None:
        """What the store's active webhook for `scope` sends now, if there is one."""
        hook = next((h for h in self.stores[store_hash].hooks.values()
                     if h["scope"] == scope and h["is_active"]), None)
        if hook is None:
            return None
        now = int(time.time())
        body = json.dumps({"scope": scope, "store_id": str(int(store_hash[1:], 16)),
                           "data": {"type": kind, "id": entity_id},
                           "hash": hashlib.sha1(secrets.token_bytes(16)).hexdigest(),
                           "created_at": now, "producer": f"stores/{store_hash}"}).encode()
        msg_id = str(uuid.uuid4())
        return Delivery(hook["destination"], body, {
            "Content-Type": "application/json", "webhook-id": msg_id,
            "webhook-timestamp": str(now),
            "webhook-signature": sign(self.client_secret, msg_id, now, body)})

    # --- the login service --------------------------------------------------------------

    async def consent(self, request: Request) -> Response:
        store_hash = request.query_params.get("store") or ""
        if request.path_params["client_id"] != self.client_id or store_hash not in self.stores:
            return HTMLResponse("<h1>App not found</h1>", status_code=404)
        code = secrets.token_hex(16)
        self.codes[code] = store_hash
        target = self.callbacks["auth"] + "?" + urlencode({
            "account_uuid": self.account_uuid, "code": code,
            "context": f"stores/{store_hash}", "scope": APP_SCOPES})
        return HTMLResponse(
            "<!doctype html><title>Install app</title><h1>Install shopreco?</h1>"
            f"<p>It asks for: {html.escape(APP_SCOPES)}</p>"
            f'<a id="approve" href="{html.escape(target)}">Confirm</a>')

    async def token(self, request: Request) -> Response:
        raw = await request.body()
        form: dict[str, Any] = (json.loads(raw) if request.headers.get("content-type", "")
                                .startswith("application/json") else dict(parse_qsl(raw.decode())))
        if (form.get("client_id"), form.get("client_secret")) != (self.client_id,
                                                                   self.client_secret):
            return JSONResponse({"error": "Invalid client id or secret"}, status_code=401)
        store_hash = self.codes.pop(str(form.get("code")), None)
        if store_hash is None or form.get("context") != f"stores/{store_hash}" or (
                form.get("grant_type"), form.get("redirect_uri"), form.get("scope")) != (
                "authorization_code", self.callbacks.get("auth"), APP_SCOPES):
            return JSONResponse({"error": "The authorization code, context, scope or "
                                 "redirect_uri is not valid"}, status_code=400)
        store = self.stores[store_hash]
        store.token = secrets.token_hex(16)
        self.issued.append(store.token)
        return JSONResponse({
            "access_token": store.token, "scope": APP_SCOPES,
            "user": {"id": store.owner["id"], "username": store.owner["email"],
                     "email": store.owner["email"]},
            "context": f"stores/{store_hash}", "account_uuid": self.account_uuid})

    # --- the store API ------------------------------------------------------------------

    def _store(self, request: Request) -> FakeStore | Response:
        self.calls.append((request.method, request.url.path))
        store = self.stores.get(request.path_params["store_hash"])
        if store is None or not store.token or \
                request.headers.get("x-auth-token") != store.token:
            return _error(401, "You are not authorized to access this store")
        return store

    async def store_info(self, request: Request) -> Response:
        store = self._store(request)
        if isinstance(store, Response):
            return store
        return JSONResponse({
            "id": store.store_hash, "domain": f"shop-{store.store_hash}.example",
            "secure_url": f"https://shop-{store.store_hash}.example", "name": "Fake Store",
            "currency": store.currency, "control_panel_base_url":
                f"https://store-{store.store_hash}.mybigcommerce.com", **store.about})

    async def order_list(self, request: Request) -> Response:
        store = self._store(request)
        if isinstance(store, Response):
            return store
        page = max(1, int(request.query_params.get("page") or 1))
        limit = min(250, int(request.query_params.get("limit") or 50))
        shown = [store.orders[k] for k in sorted(store.orders)][(page - 1) * limit:page * limit]
        return JSONResponse(shown) if shown else Response(status_code=204)

    async def order(self, request: Request) -> Response:
        store = self._store(request)
        if isinstance(store, Response):
            return store
        found = store.orders.get(request.path_params["order_id"])
        return JSONResponse(found) if found else _error(404, "The requested order was not found")

    async def order_products(self, request: Request) -> Response:
        store = self._store(request)
        if isinstance(store, Response):
            return store
        page = max(1, int(request.query_params.get("page") or 1))
        limit = min(250, int(request.query_params.get("limit") or 50))
        lines = store.lines.get(request.path_params["order_id"], [])
        shown = lines[(page - 1) * limit:page * limit]
        return JSONResponse(shown) if shown else Response(status_code=204)

    async def product(self, request: Request) -> Response:
        store = self._store(request)
        if isinstance(store, Response):
            return store
        found = store.products.get(request.path_params["product_id"])
        return JSONResponse({"data": found, "meta": {}}) if found else \
            _error(404, "The requested product was not found")

    async def hooks(self, request: Request) -> Response:
        store = self._store(request)
        if isinstance(store, Response):
            return store
        if request.method == "GET":
            wanted = {k: v for k, v in request.query_params.items()
                      if k in {"scope", "destination", "is_active"}}
            return _collection([h for h in store.hooks.values() if all(
                str(h[k]).lower() == v.lower() for k, v in wanted.items())], request)
        body = await request.json()
        if not str(body.get("scope", "")).startswith("store/") or \
                not str(body.get("destination", "")).startswith(("https://", "http://")):
            return _error(422, "scope and destination are required")
        self.next_hook += 1
        now = int(time.time())
        hook = {"id": self.next_hook, "client_id": self.client_id,
                "store_hash": store.store_hash, "scope": body["scope"],
                "destination": body["destination"], "is_active": body.get("is_active", True),
                "headers": body.get("headers"), "created_at": now, "updated_at": now}
        store.hooks[hook["id"]] = hook
        return JSONResponse({"data": hook, "meta": {}})

    async def hook(self, request: Request) -> Response:
        store = self._store(request)
        if isinstance(store, Response):
            return store
        hook = store.hooks.get(request.path_params["hook_id"])
        if hook is None:
            return _error(404, "The requested webhook was not found")
        if request.method == "DELETE":
            del store.hooks[hook["id"]]
        elif request.method == "PUT":
            body = await request.json()
            hook.update({k: body[k] for k in ("scope", "destination", "is_active", "headers")
                         if k in body}, updated_at=int(time.time()))
        return JSONResponse({"data": hook, "meta": {}})

    async def scripts(self, request: Request) -> Response:
        store = self._store(request)
        if isinstance(store, Response):
            return store
        apps = [s for s in store.scripts.values() if s.get("api_client_id") == self.client_id]
        if request.method == "GET":
            return _collection(apps, request)
        body = await request.json()
        if len(apps) >= SCRIPTS_PER_APP:
            return _error(422, f"Each app can have {SCRIPTS_PER_APP} scripts installed")
        if problem := self._script_problem(body):
            return _error(422, problem)
        now = datetime.now(UTC).isoformat()
        script = {"uuid": str(uuid.uuid4()), "src": "", "html": "", "description": "",
                  "auto_uninstall": False, "load_method": "default", "location": "head",
                  "visibility": "storefront", "consent_category": "essential",
                  "enabled": True, **body, "api_client_id": self.client_id,
                  "date_created": now, "date_modified": now}
        store.scripts[script["uuid"]] = script
        return JSONResponse({"data": script, "meta": {}})

    @staticmethod
    def _script_problem(body: dict[str, Any]) -> str | None:
        if not 1 <= len(str(body.get("name") or "")) <= 255:
            return "name is required (1 to 255 characters)"
        for name, allowed in SCRIPT_CHOICES.items():
            if name in body and body[name] not in allowed:
                return f"{name} must be one of {', '.join(allowed)}"
        if body.get("kind") == "script_tag":
            if str(body.get("html", "")).count("<script") != 1 or body.get("src"):
                return "a script_tag script needs html with exactly one script tag, no src"
            if body.get("load_method", "default") != "default":
                return "the load_method of a script_tag script must be default"
        elif not body.get("src") or body.get("html"):
            return "a src script needs src, no html"
        return None

    async def script(self, request: Request) -> Response:
        store = self._store(request)
        if isinstance(store, Response):
            return store
        script = store.scripts.get(request.path_params["uuid"])
        if script is None:
            return _error(404, "The requested script was not found")
        if request.method == "DELETE":
            del store.scripts[script["uuid"]]
            return Response(status_code=204)
        if request.method == "PUT":
            body = await request.json()
            if problem := self._script_problem({**script, **body}):
                return _error(422, problem)
            script.update(body, date_modified=datetime.now(UTC).isoformat())
        return JSONResponse({"data": script, "meta": {}})
