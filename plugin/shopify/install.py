"""Installing shopreco on a Shopify store: the OAuth state, the two ways to an offline access
token, registering the shop by itself, telling the theme app extension where we are, and the
history backfill with its progress.

Two ways to a token (https://shopify.dev/docs/apps/build/authentication-authorization):
- authorization code grant: /shopify/install redirects to the shop's /admin/oauth/authorize
  with a `state` nonce, also kept in a short-lived cookie signed with the client secret;
  /shopify/callback checks both, refuses a code seen before, and POSTs the code to
  /admin/oauth/access_token;
- token exchange (Shopify-managed install, the embedded admin): the App Bridge session token
  is POSTed to the same endpoint with grant_type token-exchange, asking for an offline token.

Webhooks are declared in the app configuration (`shopreco shopify app-config`), which
Shopify applies to every shop that installs the app, compliance topics included (those
cannot be created per shop at all); so the install subscribes nothing itself.

The two token requests are single form POSTs to one documented endpoint, made with the
platforms' HTTP client (retries on 429/5xx with Retry-After, a rate limit per shop); an OAuth
client library (Authlib) would add a session object around the same request, and still not
know Shopify's token-exchange parameters or its non-standard answer ({access_token, scope}).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import redis.asyncio as aioredis

from plugin.config import Secret, Settings
from plugin.shopify.app_config import CALLBACK_PATH
from plugin.shopify.auth import ShopifyAuthError
from plugin.store import keys
from plugin.store.connection import text
from plugin.store.shops import PlatformAccess, Shop, add_shop, get_shop, reinstall, shop_by_domain
from plugin.store.urls import safe_http_url
from plugin.web.body import decode_json
from webhooks import shopify
from webhooks.backfill import Stages, start_import
from webhooks.http import FetchError, PlatformHttp

log = logging.getLogger(__name__)

STATE_COOKIE = "shopreco_shopify_state"
STATE_SECONDS = 600
CODE_SEEN_SECONDS = 24 * 3600
METAFIELD_NAMESPACE = "shopreco"  # app.metafields.shopreco.{widget_key,base_url} in Liquid
TOKEN_EXCHANGE = {
    "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
    "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
    "requested_token_type": "urn:shopify:params:oauth:token-type:offline-access-token",
}


def shop_base(settings: Settings, domain: str) -> str:
    """https://{shop} (or the test / demo stand-in SHOPRECO_SHOPIFY_BASE_URL names)."""
    return settings.shopify_base_url.replace("{shop}", domain)


def _state_signature(settings: Settings, nonce: str, domain: str, expires: int) -> str:
    message = f"shopify-state|{nonce}|{domain}|{expires}".encode()
    secret = settings.shopify_client_secret.reveal().encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def authorize(settings: Settings, domain: str) -> tuple[str, str]:
    """Where to send the owner to approve, and the state cookie's value to set."""
    nonce = secrets.token_urlsafe(24)
    expires = int(time.time()) + STATE_SECONDS
    cookie = f"{nonce}.{domain}.{expires}.{_state_signature(settings, nonce, domain, expires)}"
    query = urlencode({
        "client_id": settings.shopify_client_id, "scope": settings.shopify_scopes,
        "redirect_uri": settings.public_url.rstrip("/") + CALLBACK_PATH, "state": nonce})
    return f"{shop_base(settings, domain)}/admin/oauth/authorize?{query}", cookie


def check_state(settings: Settings, domain: str, state: str | None, cookie: str | None) -> None:
    """The callback's `state` is the nonce this browser was given for this shop, in time."""
    if not state or not cookie:
        raise ShopifyAuthError("the install was not started here or its cookie is gone: "
                               "start again from the Shopify admin")
    parts = cookie.split(".")  # nonce . domain (with dots) . expires . signature
    if len(parts) < 4:
        raise ShopifyAuthError("the install cookie is not one of ours")
    nonce, signature, expires_raw = parts[0], parts[-1], parts[-2]
    cookie_domain = ".".join(parts[1:-2])
    try:
        expires = int(expires_raw)
    except ValueError:
        raise ShopifyAuthError("the install cookie is not one of ours") from None
    good = _state_signature(settings, nonce, cookie_domain, expires)
    if not hmac.compare_digest(good.encode(), signature.encode()):
        raise ShopifyAuthError("the install cookie is not one of ours")
    if expires < time.time():
        raise ShopifyAuthError("the install took longer than 10 minutes: start again")
    if not hmac.compare_digest(nonce.encode(), state.encode()) or cookie_domain != domain:
        raise ShopifyAuthError("state does not match the install this browser started")


async def first_use_of_code(redis: aioredis.Redis, code: str) -> bool:
    """Remember the authorization code (as a digest) for a day; False if it was seen."""
    digest = hashlib.sha256(code.encode()).hexdigest()
    return bool(await redis.set(keys.shopify_code(digest), "1", nx=True, ex=CODE_SEEN_SECONDS))


@dataclass(frozen=True)
class Grant:
    token: Secret
    scope: str


async def _token_request(http: PlatformHttp, settings: Settings, domain: str,
                         form: dict[str, str]) -> Grant:
    url = f"{shop_base(settings, domain)}/admin/oauth/access_token"
    body = {"client_id": settings.shopify_client_id,
            "client_secret": settings.shopify_client_secret.reveal(), **form}
    try:
        response = await http.request(f"install:{domain}", "POST", url, data=body,
                                      headers={"Accept": "application/json"})
    except FetchError as error:
        if error.status is not None and 400 <= error.status < 500:
            raise ShopifyAuthError("Shopify refused to grant an access token (the code or "
                                   "session token was refused)") from None
        raise
    answer: Any = decode_json(response.content)
    token = answer.get("access_token") if isinstance(answer, dict) else None
    if not isinstance(token, str) or not token:
        raise FetchError(f"Shopify's token endpoint for {domain} answered without a token")
    scope = answer.get("scope")
    return Grant(Secret(token), scope if isinstance(scope, str) else "")


async def exchange_code(http: PlatformHttp, settings: Settings, domain: str,
                        code: str) -> Grant:
    return await _token_request(http, settings, domain, {"code": code})


async def exchange_session_token(http: PlatformHttp, settings: Settings, domain: str,
                                 session_token: str) -> Grant:
    return await _token_request(http, settings, domain,
                                {**TOKEN_EXCHANGE, "subject_token": session_token})


@dataclass(frozen=True)
class Installed:
    shop: Shop
    api_key: str | None  # shown once, to a new shop's owner
    new: bool


async def install(redis: aioredis.Redis, http: PlatformHttp, settings: Settings, domain: str,
                  grant: Grant) -> Installed:
    """Register the shop (or give a known one its new token), tell the theme app extension
    our address and the shop's widget key, and note that the backfill is due. A new shop
    takes its currency and storefront (primary domain, allowed as the widgets' origin) from
    Shopify."""
    token = grant.token.reveal()
    admin = AdminGraphql(http, f"install:{domain}", domain,
                         f"{shop_base(settings, domain)}/admin/api/{shopify.API_VERSION}", token)
    about = await admin.query(_ABOUT, {})
    known = await shop_by_domain(redis, shopify.PLATFORM, domain)
    if known is not None:
        await reinstall(redis, known.shop_id, token)
        shop, api_key, new = await get_shop(redis, known.shop_id) or known, None, False
    else:
        storefront = (safe_http_url(str(about["shop"]["primaryDomain"]["url"]))
                      or f"https://{domain}").rstrip("/")
        where = urlsplit(storefront)
        created = await add_shop(
            redis, await _free_shop_id(redis, domain), shopify.PLATFORM, domain,
            settings.public_url, webhook_secret=settings.shopify_client_secret.reveal(),
            storefront_url=storefront, currency=str(about["shop"]["currencyCode"]),
            access=PlatformAccess(api_base=admin.api_base, api_token=grant.token),
            origins=[f"{where.scheme}://{where.netloc}".lower()])
        shop, api_key, new = created.shop, created.api_key, True
    await set_progress(redis, shop.shop_id, stage="connecting", scope=grant.scope)
    fields = {"widget_key": shop.widget_key, "base_url": settings.public_url.rstrip("/")}
    done = await admin.query(_SET_METAFIELDS, {"metafields": [
        {"ownerId": about["currentAppInstallation"]["id"], "namespace": METAFIELD_NAMESPACE,
         "key": key, "type": "single_line_text_field", "value": value}
        for key, value in fields.items()]})
    if done["metafieldsSet"]["userErrors"]:
        raise FetchError(f"Shopify refused the app's metafields for {domain}: "
                         f"{done['metafieldsSet']['userErrors'][0].get('message')}")
    await set_progress(redis, shop.shop_id, stage="backfill due")
    return Installed(shop, api_key, new)


async def _free_shop_id(redis: aioredis.Redis, domain: str) -> str:
    base = re.sub(r"[^a-z0-9_-]", "-", domain.removesuffix(".myshopify.com").lower())[:50]
    base = base.strip("-_") or "shop"
    candidate, n = base, 1
    while await get_shop(redis, candidate) is not None:
        n += 1
        candidate = f"{base}-{n}"
    return candidate


# The installation (owner of the app-data metafields) and what a new shop takes from Shopify.
_ABOUT = """query { currentAppInstallation { id }
  shop { currencyCode primaryDomain { url } } }"""
_SET_METAFIELDS = """mutation SetShopreco($metafields: [MetafieldsSetInput!]!) {
  metafieldsSet(metafields: $metafields) { metafields { key } userErrors { field message } }
}"""


@dataclass(frozen=True)
class AdminGraphql:
    """The shop's GraphQL Admin API with an access token."""

    http: PlatformHttp
    limit_key: str  # the per-shop rate limit's name
    domain: str
    api_base: str
    token: str

    async def query(self, query: str, variables: dict[str, Any]) -> Any:
        response = await self.http.request(
            self.limit_key, "POST", f"{self.api_base}/graphql.json",
            headers={"X-Shopify-Access-Token": self.token, "Content-Type": "application/json"},
            json={"query": query, "variables": variables})
        answer: Any = decode_json(response.content)
        if not isinstance(answer, dict) or answer.get("errors") or "data" not in answer:
            raise FetchError(f"Shopify's GraphQL API for {self.domain} answered with errors")
        return answer["data"]


async def set_progress(redis: aioredis.Redis, shop_id: str, **fields: Any) -> None:
    await redis.hset(keys.shopify_install(shop_id),
                     mapping={k: str(v) for k, v in {**fields, "at": time.time()}.items()})


async def progress(redis: aioredis.Redis, shop_id: str) -> dict[str, str]:
    return {text(k): text(v) for k, v in
            (await redis.hgetall(keys.shopify_install(shop_id))).items()}


BACKFILL_STAGES = Stages(running="backfilling", stopped="backfill stopped")


def start_backfill(tasks: set[asyncio.Task[None]], redis: aioredis.Redis, http: PlatformHttp,
                   shop_id: str) -> None:
    """Import the shop's order history and catalog after the answer (webhooks.backfill), its
    progress for the landing page."""
    start_import(tasks, redis, http, shop_id, shopify.backfill_pages, set_progress,
                 BACKFILL_STAGES)
