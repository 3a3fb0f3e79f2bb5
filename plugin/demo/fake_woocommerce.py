"""A local stand-in for WooCommerce stores, following WooCommerce's documented contracts (and
its code: WC_Auth, WC_REST_Authentication, the webhooks controller), for the demo and the
tests, never the internet. Stores live in folders: a store's address is
http://127.0.0.1:PORT/{store}, as a WordPress installed under a path.

- GET /{store}/wc-auth/v1/authorize?app_name&scope&user_id&return_url&callback_url: the consent
  page a signed-in shop manager sees (scope read, write or read_write; callback_url must be
  https unless `https_callbacks_only` is off, as tests on loopback need): "Approve" goes to
  access_granted with a one-time nonce, "Deny" to return_url?success=0&user_id.
- GET /{store}/wc-auth/v1/access_granted?...&wc_auth_nonce: makes a key pair (ck_..., cs_...)
  with the scope's permissions, POSTs {key_id, user_id, consumer_key, consumer_secret,
  key_permissions} as JSON to callback_url and, when that answers 200, sends the browser to
  return_url?success=1&user_id; otherwise deletes the keys and answers 401.
- /{store}/wp-json/wc/v3/...: HTTP basic auth with a key pair, and a `read` key may only GET
  (401 woocommerce_rest_authentication_error). orders and products (page, per_page at most
  100, X-WP-Total, X-WP-TotalPages), settings/general/woocommerce_currency, webhooks (list,
  create with its ping, read, update, delete with force=true, batch; the secret is
  write-only).
- `new_order(store)`: a new order and the signed deliveries the store sends to each active
  order.created webhook (X-WC-Webhook-* headers, base64 HMAC-SHA256 of the body).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import itertools
import json
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

AUTH_PARAMS = ("app_name", "scope", "user_id", "return_url", "callback_url")
SCOPES = ("read", "write", "read_write")
RESOURCES = ("coupon", "customer", "order", "product")
EVENTS = ("created", "updated", "deleted", "restored")
STATUSES = ("active", "paused", "disabled")
USER_AGENT = "WooCommerce/9.8.0 Hookshot (WordPress/6.8)"


@dataclass
class Key:
    key_id: int
    consumer_secret: str
    permissions: str


@dataclass
class FakeStore:
    name: str
    currency: str = "EUR"
    orders: list[dict[str, Any]] = field(default_factory=list)
    products: list[dict[str, Any]] = field(default_factory=list)
    keys: dict[str, Key] = field(default_factory=dict)  # consumer key -> its key
    webhooks: dict[int, dict[str, Any]] = field(default_factory=dict)
    pings: list[tuple[int, int]] = field(default_factory=list)  # (webhook id, HTTP status)


@dataclass(frozen=True)
class Delivery:
    """One webhook delivery as the store would POST it."""

    url: str
    body: bytes
    headers: dict[str, str]


def order(order_id: int, customer_id: int, product_ids: Sequence[int], currency: str = "EUR",
          created: float | None = None) -> dict[str, Any]:
    """A REST v3 order in the shape of the docs' example (status processing, paid)."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created or time.time()))
    lines = [{"id": order_id * 10 + n, "name": f"Product {p}", "product_id": p,
              "variation_id": 0, "quantity": 1, "tax_class": "", "subtotal": "9.50",
              "subtotal_tax": "0.00", "total": "9.50", "total_tax": "0.00", "taxes": [],
              "meta_data": [], "sku": f"SKU-{p}", "price": 9.5}
             for n, p in enumerate(product_ids)]
    return {
        "id": order_id, "parent_id": 0, "number": str(order_id), "status": "processing",
        "currency": currency, "date_created": stamp, "date_created_gmt": stamp,
        "date_modified": stamp, "date_modified_gmt": stamp, "discount_total": "0.00",
        "shipping_total": "0.00", "total": f"{9.5 * len(lines):.2f}", "total_tax": "0.00",
        "prices_include_tax": False, "customer_id": customer_id,
        "billing": {"first_name": "Kim", "last_name": f"Customer {customer_id}",
                    "email": f"customer{customer_id}@example.com", "country": "DE"},
        "payment_method": "bacs", "date_paid": stamp, "date_paid_gmt": stamp,
        "line_items": lines, "refunds": [], "meta_data": [],
    }


def product(product_id: int, store_url: str) -> dict[str, Any]:
    return {"id": product_id, "name": f"Product {product_id}", "status": "publish",
            "permalink": f"{store_url}/product/product-{product_id}/", "price": "9.50",
            "regular_price": "9.50", "stock_status": "instock", "images": []}


def signature(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def with_query(url: str, **params: str) -> str:
    """`url` with more query parameters (WordPress' add_query_arg)."""
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query), *params.items()]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message, "data": {"status": status}},
                        status_code=status)


def _wp_die(message: str) -> HTMLResponse:
    return HTMLResponse(f"<!doctype html><title>Access denied</title><p>Error: "
                        f"{html.escape(message)}.</p>", status_code=401)


class FakeWooCommerce:
    def __init__(self, https_callbacks_only: bool = True) -> None:
        self.https_callbacks_only = https_callbacks_only
        self.stores: dict[str, FakeStore] = {}
        self.callbacks: list[tuple[str, bytes]] = []  # (callback_url, body) of each key POST
        self.issued: list[str] = []  # every consumer key and secret made
        self.calls: list[tuple[str, str, str]] = []  # (store, method, path) of REST calls
        self.base_url = ""  # set by whoever serves `app`
        self._nonces: set[str] = set()
        self._ids = itertools.count(1)
        self.app = Starlette(routes=[
            Route("/{store}/wc-auth/v1/authorize", self.authorize),
            Route("/{store}/wc-auth/v1/access_granted", self.access_granted),
            Route("/{store}/wp-json/wc/v3/{path:path}", self.rest,
                  methods=["GET", "POST", "PUT", "DELETE"]),
        ])

    def store_url(self, name: str) -> str:
        return f"{self.base_url}/{name}"

    def new_store(self, orders: int = 0, currency: str = "EUR") -> FakeStore:
        """A store holding `orders` paid orders (of 8 products, by 5 customers)."""
        name = f"store{next(self._ids)}"
        store = FakeStore(name, currency)
        store.products = [product(p, self.store_url(name)) for p in range(1, 9)]
        start = time.time() - 86400 * 30
        store.orders = [order(1000 + n, 1 + n % 5, [1 + n % 8, 1 + (n + 3) % 8], currency,
                              start + n * 600) for n in range(orders)]
        self.stores[name] = store
        return store

    def new_order(self, name: str, customer_id: int = 7,
                  product_ids: Sequence[int] = (2, 5)) -> tuple[dict[str, Any], list[Delivery]]:
        """Place an order; the order.created deliveries of the store's active webhooks."""
        store = self.stores[name]
        placed = order(1000 + len(store.orders), customer_id, product_ids, store.currency)
        store.orders.append(placed)
        return placed, self.deliveries(name, "order.created", placed)

    def deliveries(self, name: str, topic: str, resource: dict[str, Any]) -> list[Delivery]:
        body = json.dumps(resource).encode()
        kind, _, event = topic.partition(".")
        return [Delivery(hook["delivery_url"], body, {
            "Content-Type": "application/json", "User-Agent": USER_AGENT,
            "X-WC-Webhook-Source": self.store_url(name) + "/", "X-WC-Webhook-Topic": topic,
            "X-WC-Webhook-Resource": kind, "X-WC-Webhook-Event": event,
            "X-WC-Webhook-Signature": signature(hook["secret"], body),
            "X-WC-Webhook-ID": str(hook["id"]), "X-WC-Webhook-Delivery-ID": str(next(self._ids)),
        }) for hook in list(self.stores[name].webhooks.values())
            if hook["topic"] == topic and hook["status"] == "active"]

    # --- application authentication ---------------------------------------------------------

    def _auth_request(self, request: Request) -> tuple[FakeStore, dict[str, str]] | Response:
        """WC_Auth::make_validation: every parameter, a known scope, valid URLs, https."""
        store = self.stores.get(request.path_params["store"])
        if store is None:
            return HTMLResponse("<p>Not found</p>", status_code=404)
        params = {name: request.query_params.get(name, "") for name in AUTH_PARAMS}
        missing = next((name for name in AUTH_PARAMS if not params[name]), None)
        if missing:
            return _wp_die(f"Missing parameter {missing}")
        if params["scope"] not in SCOPES:
            return _wp_die(f"Invalid scope {params['scope']}")
        for name in ("return_url", "callback_url"):
            if urlsplit(params[name]).scheme not in ("http", "https"):
                return _wp_die(f"The {params[name]} is not a valid URL")
        if self.https_callbacks_only and not params["callback_url"].startswith("https://"):
            return _wp_die("The callback_url needs to be over SSL")
        return store, params

    async def authorize(self, request: Request) -> Response:
        checked = self._auth_request(request)
        if isinstance(checked, Response):
            return checked
        store, params = checked
        nonce = secrets.token_hex(8)
        self._nonces.add(nonce)
        granted = (f"{self.store_url(store.name)}/wc-auth/v1/access_granted?"
                   f"{urlencode({**params, 'wc_auth_nonce': nonce})}")
        denied = with_query(params["return_url"], success="0", user_id=params["user_id"])
        scope = {"read": "Read", "write": "Write", "read_write": "Read/Write"}[params["scope"]]
        return HTMLResponse(
            f"<!doctype html><title>Authorize</title><h1>{html.escape(params['app_name'])} "
            f"would like to connect to your store</h1><p>This will give "
            f"{html.escape(params['app_name'])} <strong>{scope}</strong> access.</p>"
            f'<a id="deny" href="{html.escape(denied)}">Deny</a> '
            f'<a id="approve" href="{html.escape(granted)}">Approve</a>')

    async def access_granted(self, request: Request) -> Response:
        checked = self._auth_request(request)
        if isinstance(checked, Response):
            return checked
        store, params = checked
        nonce = request.query_params.get("wc_auth_nonce", "")
        if nonce not in self._nonces:
            return _wp_die("Invalid nonce verification")
        self._nonces.discard(nonce)
        consumer_key, consumer_secret = "ck_" + secrets.token_hex(20), "cs_" + secrets.token_hex(20)
        key = Key(next(self._ids), consumer_secret, params["scope"])
        store.keys[consumer_key] = key
        self.issued += [consumer_key, consumer_secret]
        body = json.dumps({"key_id": key.key_id, "user_id": params["user_id"],
                           "consumer_key": consumer_key, "consumer_secret": consumer_secret,
                           "key_permissions": key.permissions}).encode()
        self.callbacks.append((params["callback_url"], body))
        if await self._post(params["callback_url"], body) != 200:
            del store.keys[consumer_key]
            return _wp_die("An error occurred in the request and at the time were unable to "
                           "send the consumer data")
        return RedirectResponse(with_query(params["return_url"], success="1",
                                           user_id=params["user_id"]), status_code=302)

    async def _post(self, url: str, body: bytes, form: bool = False) -> int:
        kind = "application/x-www-form-urlencoded" if form else "application/json;charset=UTF-8"
        try:
            async with httpx.AsyncClient(timeout=60) as client:
                answer = await client.post(url, content=body, headers={
                    "Content-Type": kind, "User-Agent": USER_AGENT})
        except httpx.HTTPError:
            return 0
        return answer.status_code

    # --- the REST API ---------------------------------------------------------------------

    def _key(self, store: FakeStore, request: Request) -> Key | None:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except ValueError:
            return None
        key = store.keys.get(user) if scheme.lower() == "basic" else None
        if key is None or not hmac.compare_digest(key.consumer_secret, password):
            return None
        return key

    async def rest(self, request: Request) -> Response:
        store = self.stores.get(request.path_params["store"])
        path, method = request.path_params["path"].strip("/"), request.method
        if store is None:
            return _error(404, "rest_no_route", "No route was found matching the URL and "
                                                "request method.")
        self.calls.append((store.name, method, path))
        key = self._key(store, request)
        if key is None:
            return _error(401, "woocommerce_rest_cannot_view", "Sorry, you cannot list "
                                                               "resources.")
        if method != "GET" and key.permissions == "read":
            return _error(401, "woocommerce_rest_authentication_error",
                          "The API key provided does not have write permissions.")
        if method == "GET" and key.permissions == "write":
            return _error(401, "woocommerce_rest_authentication_error",
                          "The API key provided does not have read permissions.")
        return await self._route(store, request, path)

    async def _route(self, store: FakeStore, request: Request, path: str) -> Response:
        method, params = request.method, request.query_params
        if method == "GET" and path in ("orders", "products"):
            return _page(store.orders if path == "orders" else store.products, params)
        if method == "GET" and path == "settings/general/woocommerce_currency":
            return JSONResponse({"id": "woocommerce_currency", "label": "Currency",
                                 "type": "select", "default": "USD", "value": store.currency})
        if path == "webhooks" and method == "GET":
            return _page([_public(h) for h in store.webhooks.values()], params)
        if path == "webhooks" and method == "POST":
            status, answer = await self._create(store, await _json(request))
            return JSONResponse(answer, status_code=status)
        if path == "webhooks/batch" and method == "POST":
            return JSONResponse(await self._batch(store, await _json(request)))
        found = re.fullmatch(r"webhooks/(\d+)", path)
        if found and method in ("GET", "PUT", "DELETE"):
            hook_id = int(found[1])
            if method == "GET":
                status, answer = _read(store, hook_id)
            elif method == "PUT":
                status, answer = _update(store, {**await _json(request), "id": hook_id})
            else:
                status, answer = _delete(store, hook_id, params.get("force") == "true")
            return JSONResponse(answer, status_code=status)
        return _error(404, "rest_no_route", "No route was found matching the URL and request "
                                            "method.")

    async def _create(self, store: FakeStore, sent: dict[str, Any]) -> tuple[int, Any]:
        """WC_REST_Webhooks_V1_Controller::create_item: check, save, answer 201, then ping."""
        topic = str(sent.get("topic") or "").lower()
        resource, _, event = topic.partition(".")
        if resource not in RESOURCES or event not in EVENTS:
            return _problem(400, "woocommerce_rest_shop_webhook_invalid_topic",
                            "Webhook topic is required and must be valid.")
        if urlsplit(str(sent.get("delivery_url") or "")).scheme not in ("http", "https"):
            return _problem(400, "woocommerce_rest_shop_webhook_invalid_delivery_url",
                            "Webhook delivery URL must be a valid URL starting with http:// "
                            "or https://.")
        hook: dict[str, Any] = {"id": next(self._ids), "name": str(sent.get("name") or "Webhook"),
                "status": "active", "topic": topic, "resource": resource, "event": event,
                "hooks": [], "delivery_url": str(sent["delivery_url"]),
                "secret": str(sent.get("secret") or secrets.token_urlsafe(37)),
                "date_created": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())}
        store.webhooks[hook["id"]] = hook
        ping = await self._post(hook["delivery_url"], f"webhook_id={hook['id']}".encode(), True)
        store.pings.append((hook["id"], ping))
        return 201, _public(hook)

    async def _batch(self, store: FakeStore, sent: dict[str, Any]) -> dict[str, Any]:
        """WC_REST_Controller::batch_items: each item on its own, errors in place."""
        items = [*sent.get("create", []), *sent.get("update", []), *sent.get("delete", [])]
        if len(items) > 100:
            return {"code": "woocommerce_rest_request_entity_too_large",
                    "message": "Unable to accept more than 100 items for this request."}
        answer: dict[str, list[Any]] = {"create": [], "update": [], "delete": []}
        for item in sent.get("create", []):
            answer["create"].append(_in_batch(await self._create(store, item), 0))
        for item in sent.get("update", []):
            answer["update"].append(_in_batch(_update(store, item), item.get("id")))
        for hook_id in sent.get("delete", []):
            answer["delete"].append(_in_batch(_delete(store, int(hook_id), True), hook_id))
        return answer


def _public(hook: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in hook.items() if name != "secret"}  # write-only


def _problem(status: int, code: str, message: str) -> tuple[int, dict[str, Any]]:
    return status, {"code": code, "message": message, "data": {"status": status}}


def _in_batch(result: tuple[int, Any], item_id: Any) -> Any:
    status, answer = result
    return answer if status < 400 else {"id": item_id, "error": answer}


def _read(store: FakeStore, hook_id: int) -> tuple[int, Any]:
    hook = store.webhooks.get(hook_id)
    if hook is None:
        return _problem(404, "woocommerce_rest_shop_webhook_invalid_id", "Invalid ID.")
    return 200, _public(hook)


def _update(store: FakeStore, sent: dict[str, Any]) -> tuple[int, Any]:
    hook = store.webhooks.get(int(sent.get("id") or 0))
    if hook is None:
        return _problem(400, "woocommerce_rest_shop_webhook_invalid_id", "ID is invalid.")
    topic = str(sent.get("topic") or hook["topic"]).lower()
    resource, _, event = topic.partition(".")
    if resource not in RESOURCES or event not in EVENTS:
        return _problem(400, "woocommerce_rest_shop_webhook_invalid_topic",
                        "Webhook topic must be valid.")
    if sent.get("status") and sent["status"] not in STATUSES:
        return _problem(400, "woocommerce_rest_shop_webhook_invalid_status",
                        "Webhook status must be valid.")
    hook.update(topic=topic, resource=resource, event=event)
    for name in ("name", "delivery_url", "secret", "status"):
        if sent.get(name):
            hook[name] = str(sent[name])
    return 200, _public(hook)


def _delete(store: FakeStore, hook_id: int, force: bool) -> tuple[int, Any]:
    if not force:
        return _problem(501, "woocommerce_rest_trash_not_supported",
                        "Webhooks do not support trashing.")
    hook = store.webhooks.pop(hook_id, None)
    if hook is None:
        return _problem(404, "woocommerce_rest_shop_webhook_invalid_id", "Invalid ID.")
    return 200, _public(hook)


async def _json(request: Request) -> dict[str, Any]:
    try:
        sent = json.loads(await request.body() or b"{}")
    except ValueError:
        sent = None
    return sent if isinstance(sent, dict) else {}


def _page(items: list[dict[str, Any]], params: Any) -> Response:
    """One page of a collection, oldest id first, with WordPress' paging headers."""
    try:
        page, per_page = int(params.get("page", "1")), int(params.get("per_page", "10"))
    except ValueError:
        return _error(400, "rest_invalid_param", "Invalid parameter(s): page, per_page")
    if not 1 <= per_page <= 100 or page < 1:
        return _error(400, "rest_invalid_param", "Invalid parameter(s): per_page")
    ordered = sorted(items, key=lambda item: int(item["id"]),
                     reverse=params.get("order", "desc") == "desc")
    pages = -(-len(ordered) // per_page)
    return JSONResponse(ordered[(page - 1) * per_page:page * per_page], headers={
        "X-WP-Total": str(len(ordered)), "X-WP-TotalPages": str(pages)})
