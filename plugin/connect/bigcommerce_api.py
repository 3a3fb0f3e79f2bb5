"""The BigCommerce store's API as the app uses it: the token request, the store's profile,
our webhooks and storefront script (kept one of each, brought up to date), and taking them
down. Every call goes through PlatformHttp (retries, rate limit per shop); answers are V3
`{data, meta}` collections and objects, or V2 objects.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from plugin.config import Secret, Settings
from plugin.connect import common
from plugin.connect.common import ConnectError
from plugin.store import records
from plugin.store.shops import Shop
from plugin.store.urls import safe_http_url
from plugin.web.body import decode_json
from webhooks import bigcommerce
from webhooks.http import FetchError, PlatformHttp

log = logging.getLogger(__name__)

PLATFORM = bigcommerce.PLATFORM
HOOK_SCOPES = tuple(sorted({*bigcommerce.ORDER_SCOPES, bigcommerce.ORDER_ARCHIVED,
                            *bigcommerce.PRODUCT_SCOPES, bigcommerce.PRODUCT_DELETED}))
# What the app's profile must ask for: (what, scopes that grant it)
NEEDED_SCOPES = (
    ("Orders (read-only)", ("store_v2_orders_read_only", "store_v2_orders")),
    ("Products (read-only)", ("store_v2_products_read_only", "store_v2_products")),
    ("Information & settings (read-only)", ("store_v2_information_read_only",
                                            "store_v2_information")),
    ("Content (modify)", ("store_v2_content",)),
)
SCRIPT_NAME = "shopreco widgets"
CLEANUP_SECONDS = 10.0  # best-effort deletions on uninstall: BigCommerce waits for the answer


@dataclass(frozen=True)
class StoreApi:
    """One store's API with an access token; every call through PlatformHttp."""

    http: PlatformHttp
    limit_key: str
    root: str  # {api_url}/stores/{hash}
    token: str

    async def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self.http.request(
            self.limit_key, method, f"{self.root}{path}", **kwargs,
            headers={"X-Auth-Token": self.token, "Accept": "application/json"})
        return decode_json(response.content) if response.content.strip() else None

    async def listed(self, path: str) -> list[dict[str, Any]]:
        """Every item of a V3 collection (`data`, paged by `meta.pagination`)."""
        items: list[dict[str, Any]] = []
        for page in range(1, 21):
            answer = await self.call("GET", path, params={"page": page, "limit": 250})
            found = answer if isinstance(answer, dict) else {}
            data: list[Any] = found["data"] if isinstance(found.get("data"), list) else []
            items += [item for item in data if isinstance(item, dict)]
            pages = ((found.get("meta") or {}).get("pagination") or {}).get("total_pages")
            if not data or not isinstance(pages, int) or page >= pages:
                break
        return items

    async def made(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST a V3 object; the object BigCommerce answers (`data`)."""
        answer = await self.call("POST", path, json=body)
        data = answer.get("data") if isinstance(answer, dict) else None
        return data if isinstance(data, dict) else {}


def shop_api(http: PlatformHttp, shop: Shop) -> StoreApi:
    return StoreApi(http, shop.shop_id, bigcommerce.api_root(shop),
                    shop.access.api_token.reveal())


def ours(hook: dict[str, Any], shop_id: str) -> bool:
    """A webhook that delivers to this shop's receiver (on any of our addresses)."""
    return str(hook.get("destination", "")).rstrip("/").endswith(
        f"/webhooks/{PLATFORM}/{shop_id}")



async def exchange_code(http: PlatformHttp, settings: Settings, code: str, scope: str,
                        context: str, redirect_uri: str) -> tuple[Secret, str]:
    """The store's access token and the scopes it grants; ConnectError if the code is
    refused."""
    body = {"client_id": settings.bigcommerce_client_id,
            "client_secret": settings.bigcommerce_client_secret.reveal(), "code": code,
            "scope": scope, "grant_type": "authorization_code", "context": context,
            "redirect_uri": redirect_uri}
    try:
        response = await http.request(f"install:{context}", "POST",
                                      f"{settings.bigcommerce_login_url}/oauth2/token",
                                      json=body, headers={"Accept": "application/json"})
    except FetchError as error:
        if error.status is not None and 400 <= error.status < 500:
            raise ConnectError("BigCommerce refused the authorization code: install the app "
                               "again from your control panel") from None
        raise
    answer: Any = decode_json(response.content)
    token = answer.get("access_token") if isinstance(answer, dict) else None
    if not isinstance(token, str) or not token or answer.get("context") != context:
        raise FetchError(f"BigCommerce's token endpoint answered without a token for {context}")
    granted = answer.get("scope")
    return Secret(token), granted if isinstance(granted, str) else ""


def missing_scopes(granted: str) -> list[str]:
    have = set(granted.split())
    return [what for what, scopes in NEEDED_SCOPES if not have & set(scopes)]


async def store_profile(api: StoreApi, store_hash: str) -> tuple[str, str]:
    """The storefront's address and the store's currency (GET /v2/store: secure_url,
    currency); the store's own mybigcommerce.com address and USD when not given."""
    about = await api.call("GET", "/v2/store")
    about = about if isinstance(about, dict) else {}
    storefront = safe_http_url(about.get("secure_url")) or \
        f"https://store-{store_hash.lower()}.mybigcommerce.com"
    currency = str(about.get("currency") or "")
    return storefront.rstrip("/"), currency if re.match(r"^[A-Za-z]{3}\Z", currency) else "USD"


async def ensure_hooks(api: StoreApi, destination: str, shop_id: str) -> list[dict[str, str]]:
    """One live webhook per scope we handle, to `destination`: ours kept (made active and
    pointed here if needed), the missing ones created."""
    found: dict[str, dict[str, Any]] = {}
    for hook in await api.listed("/v3/hooks"):
        if ours(hook, shop_id):
            found.setdefault(str(hook.get("scope")), hook)
    made = []
    for scope in HOOK_SCOPES:
        wanted = {"scope": scope, "destination": destination, "is_active": True}
        kept = found.get(scope)
        if kept is None:
            kept = await api.made("/v3/hooks", wanted)
        elif kept.get("destination") != destination or kept.get("is_active") is not True:
            await api.call("PUT", f"/v3/hooks/{kept['id']}", json=wanted)
        made.append({"id": str(kept.get("id", "")), "topic": scope})
    return made


def script_for(settings: Settings, shop: Shop) -> dict[str, Any]:
    """Our storefront script: embed.js with the shop's widget key, on storefront pages.
    Its consent category is analytics: embed.js keeps a visitor id and counts views."""
    src = f"{settings.public_url.rstrip('/')}/widgets/v1/embed.js"
    tag = (f'<script async src="{html.escape(src)}" data-key="{html.escape(shop.widget_key)}"'
           ' data-platform="bigcommerce"></script>')
    return {"name": SCRIPT_NAME, "description": "Recommendation widgets by shopreco",
            "kind": "script_tag", "html": tag, "load_method": "default",
            "location": "footer", "visibility": "storefront", "auto_uninstall": True,
            "consent_category": "analytics"}


async def ensure_script(api: StoreApi, wanted: dict[str, Any]) -> list[dict[str, str]]:
    """Our one storefront script: kept (brought up to date) or created."""
    mine = [s for s in await api.listed("/v3/content/scripts") if s.get("name") == SCRIPT_NAME]
    if not mine:
        mine = [await api.made("/v3/content/scripts", wanted)]
    elif any(mine[0].get(k) != v for k, v in wanted.items()):
        await api.call("PUT", f"/v3/content/scripts/{mine[0]['uuid']}", json=wanted)
    return [{"id": str(mine[0].get("uuid", "")), "name": SCRIPT_NAME}]


async def remove_ours(redis: aioredis.Redis, http: PlatformHttp,
                      shop: Shop) -> dict[str, list[dict[str, str]]]:
    """Stop work for the shop at once (its token deleted), then delete our webhooks and
    script as far as BigCommerce still lets us; what could not be deleted."""
    api = shop_api(http, shop)
    await records.mark_uninstalled(redis, shop.shop_id, time.time())
    known = await common.connection(redis, shop.shop_id)
    hooks = [h for h in known["hooks"] if isinstance(h, dict)]
    scripts = [s for s in known["scripts"] if isinstance(s, dict)]
    if not api.token:
        return {"hooks": hooks, "scripts": scripts}
    try:
        async with asyncio.timeout(CLEANUP_SECONDS):
            listed = await api.listed("/v3/hooks")
            hooks = [{"id": str(h.get("id")), "topic": str(h.get("scope"))}
                     for h in listed if ours(h, shop.shop_id)]
            scripts = [{"id": str(s.get("uuid")), "name": SCRIPT_NAME}
                       for s in await api.listed("/v3/content/scripts")
                       if s.get("name") == SCRIPT_NAME]
            hooks = [h for h in hooks if not await _deleted(api, f"/v3/hooks/{h['id']}")]
            scripts = [s for s in scripts
                       if not await _deleted(api, f"/v3/content/scripts/{s['id']}")]
    except (FetchError, TimeoutError) as error:
        revoked = isinstance(error, FetchError) and error.status == 401  # uninstalled
        log.log(logging.INFO if revoked else logging.WARNING, "BigCommerce shop %r: our "
                "webhooks and script could not be listed or deleted (%s); BigCommerce removes "
                "them when the app is uninstalled", shop.shop_id, error or "timed out")
    return {"hooks": hooks, "scripts": scripts}


async def _deleted(api: StoreApi, path: str) -> bool:
    try:
        await api.call("DELETE", path)
    except FetchError as error:
        return error.status == 404  # gone already
    return True
