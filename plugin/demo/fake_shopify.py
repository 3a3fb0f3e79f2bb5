"""A local stand-in for Shopify, following its documented contracts, for the demo and the tests
(never the internet). Shops live under /{shop}/ (SHOPRECO_SHOPIFY_BASE_URL =
http://127.0.0.1:PORT/{shop}).

- GET  /{shop}/admin/oauth/authorize?client_id&scope&redirect_uri&state: the consent page; its
  "Install" link goes to redirect_uri with code, hmac, host, shop, state and timestamp, the
  query signed as Shopify signs it (hex HMAC-SHA256 of the sorted parameters).
- POST /{shop}/admin/oauth/access_token: the authorization code grant (a code works once) and
  the token exchange of an App Bridge session token (checked like Shopify: HS256 with the
  client secret, aud, dest); answers {access_token, scope}.
- POST /{shop}/admin/api/{version}/graphql.json: currentAppInstallation, shop { currencyCode
  primaryDomain { url } } and metafieldsSet (the app-data metafields the theme app extension
  reads); X-Shopify-Access-Token required.
- GET  /{shop}/admin/api/{version}/orders/count.json, orders.json, products.json: REST pages
  of `limit` with Link: <...page_info=...>; rel="next"; every `throttle_every`-th Admin call
  is answered 429 with Retry-After: 1 (the leaky bucket), as Shopify does under load.

Opening the app as Shopify would: `install_url` (the signed install link) and `app_home_url`
(the embedded app's signed query with a session token as id_token).
"""

from __future__ import annotations

import html
import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from plugin.shopify.auth import query_hmac


@dataclass
class FakeShop:
    orders: list[dict[str, Any]] = field(default_factory=list)
    products: list[dict[str, Any]] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)
    metafields: dict[str, str] = field(default_factory=dict)
    currency: str = "EUR"
    storefront: str = ""  # the primary domain's URL ("": https://{shop})
    installation: str = field(default_factory=lambda: f"gid://shopify/AppInstallation/"
                                                      f"{uuid.uuid4().int % 10**12}")


class FakeShopify:
    def __init__(self, client_id: str, client_secret: str, throttle_every: int = 0) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.throttle_every = throttle_every
        self.shops: dict[str, FakeShop] = {}
        self.codes: dict[str, str] = {}  # code -> shop, removed when used
        self.calls: list[tuple[str, str]] = []  # (method, path) of every Admin API call
        self.base_url = ""  # set by whoever serves `app`
        self.app = Starlette(routes=[
            Route("/{shop}/admin/oauth/authorize", self.authorize),
            Route("/{shop}/admin/oauth/access_token", self.access_token, methods=["POST"]),
            Route("/{shop}/admin/api/{version}/graphql.json", self.graphql, methods=["POST"]),
            Route("/{shop}/admin/api/{version}/{resource}.json", self.rest),
            Route("/{shop}/admin/api/{version}/orders/count.json", self.count),
        ])

    def shop(self, domain: str) -> FakeShop:
        return self.shops.setdefault(domain, FakeShop())

    def signed(self, params: dict[str, str]) -> str:
        pairs = list(params.items())
        return urlencode([*pairs, ("hmac", query_hmac(pairs, self.client_secret))])

    def session_token(self, domain: str, lifetime: int = 60) -> str:
        now = int(time.time())
        return jwt.encode({
            "iss": f"https://{domain}/admin", "dest": f"https://{domain}",
            "aud": self.client_id, "sub": "1", "exp": now + lifetime, "nbf": now - 1,
            "iat": now - 1, "jti": str(uuid.uuid4()), "sid": secrets.token_hex(8)},
            self.client_secret, "HS256")

    def install_url(self, public_url: str, domain: str) -> str:
        self.shop(domain)
        query = self.signed({"shop": domain, "timestamp": str(int(time.time()))})
        return f"{public_url}/shopify/install?{query}"

    def app_home_url(self, public_url: str, domain: str) -> str:
        self.shop(domain)
        query = self.signed({"embedded": "1", "host": "ZmFrZQ", "id_token":
                             self.session_token(domain), "shop": domain,
                             "timestamp": str(int(time.time()))})
        return f"{public_url}/shopify/app?{query}"

    async def authorize(self, request: Request) -> Response:
        domain, params = request.path_params["shop"], request.query_params
        if params.get("client_id") != self.client_id or not params.get("redirect_uri"):
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        code = secrets.token_hex(16)
        self.codes[code] = domain
        back = self.signed({"code": code, "host": "ZmFrZQ", "shop": domain,
                            "state": params.get("state", ""),
                            "timestamp": str(int(time.time()))})
        target = f"{params['redirect_uri']}?{back}"
        return HTMLResponse(
            f"<!doctype html><title>Install app</title>"
            f"<h1>Install shopreco on {html.escape(domain)}?</h1>"
            f"<p>It asks for: {html.escape(params.get('scope', ''))}</p>"
            f'<a id="approve" href="{html.escape(target)}">Install app</a>')

    async def access_token(self, request: Request) -> Response:
        domain = request.path_params["shop"]
        raw = await request.body()  # Shopify takes a form or a JSON body
        form: dict[str, Any] = (json.loads(raw) if request.headers.get("content-type", "")
                                .startswith("application/json") else dict(parse_qsl(raw.decode())))
        if (form.get("client_id"), form.get("client_secret")) != (self.client_id,
                                                                   self.client_secret):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        if form.get("grant_type") == "urn:ietf:params:oauth:grant-type:token-exchange":
            try:
                claims = jwt.decode(str(form.get("subject_token")), self.client_secret,
                                    algorithms=["HS256"], audience=self.client_id, leeway=10)
            except jwt.InvalidTokenError:
                return JSONResponse({"error": "invalid_subject_token"}, status_code=400)
            if claims.get("dest") != f"https://{domain}":
                return JSONResponse({"error": "invalid_subject_token"}, status_code=400)
        elif self.codes.pop(str(form.get("code")), None) != domain:
            return JSONResponse({"error": "invalid_request",
                                 "error_description": "The authorization code was not found "
                                 "or was already used"}, status_code=400)
        token = "shpat_" + secrets.token_hex(16)
        self.shop(domain).tokens.add(token)
        return JSONResponse({"access_token": token,
                             "scope": "read_orders,read_products,read_customers"})

    def _admin(self, request: Request) -> FakeShop | Response:
        domain = request.path_params["shop"]
        self.calls.append((request.method, request.url.path))
        shop = self.shops.get(domain)
        if shop is None or request.headers.get("x-shopify-access-token") not in shop.tokens:
            return JSONResponse({"errors": "[API] Invalid API key or access token"},
                                status_code=401)
        if self.throttle_every and len(self.calls) % self.throttle_every == 0:
            return JSONResponse({"errors": "Exceeded 2 calls per second for api client."},
                                status_code=429, headers={"Retry-After": "1.0"})
        return shop

    async def graphql(self, request: Request) -> Response:
        shop = self._admin(request)
        if isinstance(shop, Response):
            return shop
        body = await request.json()
        query, variables = body.get("query", ""), body.get("variables") or {}
        if "currentAppInstallation" in query:
            return JSONResponse({"data": {
                "currentAppInstallation": {"id": shop.installation},
                "shop": {"currencyCode": shop.currency,
                         "primaryDomain": {"url": shop.storefront or
                                           f"https://{request.path_params['shop']}"}}}})
        if "metafieldsSet" in query:
            done, errors = [], []
            for item in variables.get("metafields", []):
                if item.get("ownerId") != shop.installation:
                    errors.append({"field": ["ownerId"], "message": "Owner does not exist"})
                    continue
                shop.metafields[f"{item['namespace']}.{item['key']}"] = item["value"]
                done.append({"key": item["key"]})
            return JSONResponse({"data": {"metafieldsSet": {"metafields": done,
                                                            "userErrors": errors}}})
        return JSONResponse({"errors": [{"message": "unknown operation"}]})

    async def count(self, request: Request) -> Response:
        shop = self._admin(request)
        if isinstance(shop, Response):
            return shop
        return JSONResponse({"count": len(shop.orders)})

    async def rest(self, request: Request) -> Response:
        resource = request.path_params["resource"]
        shop = self._admin(request)
        if isinstance(shop, Response):
            return shop
        if resource not in {"orders", "products"}:
            return JSONResponse({"errors": "Not Found"}, status_code=404)
        items = shop.orders if resource == "orders" else shop.products
        limit = min(250, int(request.query_params.get("limit", "50")))
        start = int(request.query_params.get("page_info") or 0)
        page = items[start:start + limit]
        headers = {}
        if start + limit < len(items):
            url = request.url.include_query_params(page_info=str(start + limit), limit=limit)
            headers["Link"] = f'<{url}>; rel="next"'
        return JSONResponse({resource: page}, headers=headers)
