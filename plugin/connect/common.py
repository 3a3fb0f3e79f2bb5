"""What every one-click connect shares: the Connector interface, single-use connect requests,
the connection's record, registering the shop, the history import with its progress, and the
landing page the owner sees once the platform has approved.

A connect request we start (WooCommerce's `user_id`, Ecwid's OAuth `state`) is a random
nonce kept in Redis only as its sha256, for CONNECT_PENDING_SECONDS, and spent by the first
answer that names it: a replayed or forged callback finds nothing and stores nothing.
Authorization codes and signed payloads are remembered (as digests) for a day so none works
twice. Tokens and keys are sealed by plugin.store.shops (plugin.store.sealing) and never
logged or echoed.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import html
import json
import logging
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import redis.asyncio as aioredis
from starlette.responses import HTMLResponse
from starlette.routing import BaseRoute

from plugin.config import Settings
from plugin.store import keys, sealing
from plugin.store.connection import text
from plugin.store.shops import (
    PlatformAccess,
    Shop,
    add_shop,
    get_shop,
    reinstall,
    rotate_webhook_secret,
    shop_by_domain,
)
from plugin.web.landing import api_key_part, landing_page
from webhooks import backfill
from webhooks.backfill import PageSource, Stages
from webhooks.http import PlatformHttp

log = logging.getLogger(__name__)

PROGRESS_PATH = "/connect/progress"
PROGRESS_LINK_SECONDS = 24 * 3600
SEEN_SECONDS = 24 * 3600


class ConnectError(ValueError):
    """A connect refused: the owner sees the message with a 4xx; it never holds a secret."""


@dataclass(frozen=True)
class HookState:
    """One of our webhooks as the platform reports it now."""

    topic: str
    live: bool


class Connector(Protocol):
    """One platform's one-click connect (plugin.connect.woocommerce, .bigcommerce, .ecwid)."""

    platform: str  # as in plugin.store.shops.PLATFORMS
    title: str  # "WooCommerce"

    @property
    def routes(self) -> Sequence[BaseRoute]:
        """Its pages and callbacks, all under /connect/{platform}/."""
        ...

    def configured(self, settings: Settings) -> bool:
        """Whether this installation can start the flow (an app's credentials, if it needs
        them)."""
        ...

    def card(self, settings: Settings) -> str:
        """The HTML (escaped) that starts the flow on the "Connect a shop" page: a form or a
        link; when not configured, what to set."""
        ...

    async def hooks_live(self, http: PlatformHttp, shop: Shop) -> list[HookState]:
        """Our webhooks as the platform lists them now (FetchError when it cannot be asked)."""
        ...

    async def disconnect(self, redis: aioredis.Redis, http: PlatformHttp, settings: Settings,
                         shop: Shop) -> None:
        """Remove what we created on the platform (webhooks, storefront script), as far as
        the platform lets us, and mark the shop uninstalled (no more work)."""
        ...


# --- single-use connect requests -----------------------------------------------------------

def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


async def begin(redis: aioredis.Redis, platform: str, data: Mapping[str, str]) -> str:
    """A new connect request for `platform` carrying `data`; its nonce (unguessable)."""
    nonce = secrets.token_urlsafe(24)
    await redis.set(keys.connect_pending(platform, _digest(nonce)), json.dumps(dict(data)),
                    ex=keys.CONNECT_PENDING_SECONDS)
    return nonce


async def _read(redis: aioredis.Redis, platform: str, nonce: str,
                spend: bool) -> dict[str, str] | None:
    if not nonce or len(nonce) > 200:
        return None
    key = keys.connect_pending(platform, _digest(nonce))
    raw = await (redis.getdel(key) if spend else redis.get(key))
    if raw is None:
        return None
    return {str(k): str(v) for k, v in json.loads(raw).items()}


async def take(redis: aioredis.Redis, platform: str, nonce: str) -> dict[str, str] | None:
    """The request's data, spending it; None if it is unknown, spent, expired or another
    platform's."""
    return await _read(redis, platform, nonce, spend=True)


async def peek(redis: aioredis.Redis, platform: str, nonce: str) -> dict[str, str] | None:
    """The request's data without spending it."""
    return await _read(redis, platform, nonce, spend=False)


async def first_use(redis: aioredis.Redis, platform: str, value: str) -> bool:
    """Remember an authorization code or signed payload (as a digest) for a day; False if it
    was seen already."""
    return bool(await redis.set(keys.connect_seen(platform, _digest(value)), "1", nx=True,
                                ex=SEEN_SECONDS))


# --- the connection's record ---------------------------------------------------------------

async def record(redis: aioredis.Redis, shop_id: str, **fields: Any) -> None:
    """Note fields of the connection (lists and dicts as JSON), with the time."""
    await redis.hset(keys.connection(shop_id), mapping={
        name: json.dumps(value) if isinstance(value, (list, dict)) else str(value)
        for name, value in {**fields, "at": time.time()}.items()})


async def connection(redis: aioredis.Redis, shop_id: str) -> dict[str, Any]:
    """The connection's record: `hooks` and `scripts` as lists, the rest as strings."""
    raw = {text(k): text(v) for k, v in (await redis.hgetall(keys.connection(shop_id))).items()}
    found: dict[str, Any] = dict(raw)
    for name in ("hooks", "scripts"):
        try:
            found[name] = json.loads(raw[name]) if name in raw else []
        except ValueError:
            found[name] = []
    return found


async def last_delivery(redis: aioredis.Redis, shop_id: str) -> float | None:
    """When the shop's last webhook was accepted (its event stream's newest entry)."""
    newest: Any = await redis.xrevrange(keys.events(shop_id), count=1)
    if not newest:
        return None
    return int(text(newest[0][0]).split("-")[0]) / 1000


# --- registering the shop ------------------------------------------------------------------

@dataclass(frozen=True)
class Registered:
    shop: Shop
    api_key: str | None  # a new shop's default admin key, shown once
    new: bool


async def register(redis: aioredis.Redis, settings: Settings, platform: str, domain: str,
                   access: PlatformAccess, webhook_secret: str, storefront_url: str,
                   currency: str = "USD") -> Registered:
    """Add the shop (a free id from its domain), or give a known one (same platform and
    domain or store id) its new keys and clear its uninstall mark. A known shop whose webhook
    secret changed (an app's rotated client secret) takes the new one, the old one still
    accepted until the next rotation."""
    known = await shop_by_domain(redis, platform, domain)
    if known is not None:
        await reinstall(redis, known.shop_id, access.api_token.reveal(),
                        api_user=access.api_user or None)
        if webhook_secret and known.webhook_secrets \
                and known.webhook_secrets[0].reveal() != webhook_secret:
            await rotate_webhook_secret(redis, known.shop_id, webhook_secret)
        return Registered(await get_shop(redis, known.shop_id) or known, None, False)
    where = re.match(r"^(https?://[^/]+)", storefront_url)
    created = await add_shop(
        redis, await free_shop_id(redis, domain), platform, domain, settings.public_url,
        webhook_secret=webhook_secret, storefront_url=storefront_url, currency=currency,
        access=access, origins=[where.group(1).lower()] if where else [])
    return Registered(created.shop, created.api_key, True)


async def free_shop_id(redis: aioredis.Redis, domain: str) -> str:
    """A shop id made from the domain (or store id) that no shop has yet."""
    base = re.sub(r"[^a-z0-9_-]", "-", domain.lower())[:50].strip("-_") or "shop"
    candidate, n = base, 1
    while await get_shop(redis, candidate) is not None:
        n += 1
        candidate = f"{base}-{n}"
    return candidate


# --- the history import --------------------------------------------------------------------

IMPORT_STAGES = Stages(running="importing", stopped="import stopped")


def start_import(tasks: set[asyncio.Task[None]], redis: aioredis.Redis, http: PlatformHttp,
                 shop_id: str, source: PageSource) -> None:
    """Import the shop's history from `source` after the answer (webhooks.backfill), its
    progress in the connection's record."""
    backfill.start_import(tasks, redis, http, shop_id, source, record, IMPORT_STAGES)


# --- the landing page ----------------------------------------------------------------------

def _progress_key() -> bytes:
    """The progress links' HMAC key, derived from the sealing keyring's first key."""
    return hashlib.sha256(b"shopreco-connect-progress|" +
                          sealing.keyring().keys[0].encode()).digest()


def progress_signature(shop_id: str, expires: int) -> str:
    return hmac.new(_progress_key(), f"{shop_id}|{expires}".encode(),
                    hashlib.sha256).hexdigest()


def progress_link(shop_id: str) -> str:
    expires = int(time.time()) + PROGRESS_LINK_SECONDS
    signature = progress_signature(shop_id, expires)
    return f"{PROGRESS_PATH}?shop={shop_id}&exp={expires}&sig={signature}"


def check_progress_link(shop_id: str, expires_raw: str, sig: str) -> bool:
    try:
        expires = int(expires_raw)
    except ValueError:
        return False
    good = progress_signature(shop_id, expires)
    return hmac.compare_digest(good.encode(), sig.encode()) and expires >= time.time()


def landing(shop: Shop, title: str, api_key: str | None, login_link: str | None,
            storefront_step: str, new: bool) -> HTMLResponse:
    """What the owner sees once the platform approved: the import's progress, our webhooks,
    the API key (a new shop's, shown once), a one-time link to the dashboard and how the
    widgets reach the storefront (`storefront_step`, HTML)."""
    login_part = [] if not login_link else [
        f"See what it earns: <a id='dashboard' target='_blank' rel='noopener' "
        f"href='{html.escape(login_link)}'>open your dashboard</a> (this link works once, for "
        "15 minutes)."]
    heading = f"{'Connected' if new else 'Connected again'}: {title} store {shop.domain}"
    return landing_page(
        heading, f'<p>Shop id <code id="shop-id">{html.escape(shop.shop_id)}</code>.</p>', [
            'Webhooks: <span id="hooks">being created</span>. New orders arrive by themselves '
            "from now on; recommendations are trained about half a minute after the import.",
            storefront_step, *login_part], progress_link(shop.shop_id), api_key_part(api_key))

