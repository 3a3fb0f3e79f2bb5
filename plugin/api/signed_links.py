"""Signed links for e-mail: HMAC-SHA256 with a per-shop secret, an expiry, constant-time checks.

A link names what it opens (one customer's e-mail block, or a click on one product) and when it
expires; the signature covers exactly those fields, so changing any of them (another shop,
another customer, a later expiry) breaks it. The secret is made on first use, kept in Redis
and never shown, logged or put in an error.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Sequence
from urllib.parse import quote, quote_plus, urlencode

import redis.asyncio as aioredis

from plugin.config import Secret
from plugin.store import keys
from plugin.store.connection import text

DAY = 24 * 3600
BLOCK_LINK_DAYS = 30  # default lifetime of a block URL (the e-mail tool fetches it at send time)
MAX_LINK_DAYS = 365
CLICK_LINK_DAYS = 180  # tracked product links live as long as people read old e-mails


class LinkRefused(Exception):
    """A signed link that must not be served: 403 (unsigned, tampered) or 410 (expired)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


async def link_secret(redis: aioredis.Redis, shop_id: str) -> Secret:
    """The shop's link secret, made on first use (once, even when two requests race)."""
    key = keys.email_link_secret(shop_id)
    raw = await redis.get(key)
    while raw is None:  # the first link of the shop (or every link was just revoked)
        await redis.set(key, secrets.token_hex(32), nx=True)
        raw = await redis.get(key)
    return Secret(text(raw))


async def existing_link_secret(redis: aioredis.Redis, shop_id: str) -> Secret | None:
    """The shop's link secret if it has one (checking a link never makes one)."""
    raw = await redis.get(keys.email_link_secret(shop_id))
    return None if raw is None else Secret(text(raw))


# json.dumps(..., separators=(",", ":")) builds an encoder per call; this is the same encoder.
_COMPACT = json.JSONEncoder(separators=(",", ":"))


def signature(secret: Secret, fields: Sequence[str]) -> str:
    """base64url (no padding) HMAC-SHA256 of the JSON list of `fields` (unambiguous framing)."""
    message = _COMPACT.encode(list(fields)).encode()
    digest = hmac.digest(secret.reveal().encode(), message, hashlib.sha256)
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def expiry(days: int, now: float | None = None) -> int:
    """Epoch seconds `days` from now, rounded up to a UTC midnight: links made the same day are
    identical (an e-mail tool's re-import or a cached block does not change them)."""
    moment = int(now if now is not None else time.time()) + days * DAY
    return -(-moment // DAY) * DAY


async def check_signed(
    redis: aioredis.Redis, shop_id: str, fields: Sequence[str], exp: str | None,
    sig: str | None, now: float | None = None,
) -> None:
    """Raise LinkRefused unless `sig` signs `fields` + `exp` with the shop's secret (403) and
    `exp` has not passed (410). The signature is checked first: a changed expiry is a 403."""
    if not exp or not sig:
        raise LinkRefused(403, "this link is not signed: use the URL shopreco generated")
    secret = await existing_link_secret(redis, shop_id)
    if secret is None or not _same(signature(secret, [*fields, exp]), sig):
        raise LinkRefused(403, "the link's signature does not match: it was changed or revoked")
    if not exp.isdigit() or int(exp) < (now if now is not None else time.time()):
        raise LinkRefused(410, "this link has expired: generate a new one")


def _same(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))


def block_fields(
    shop_id: str, customer_id: str, limit: int, exclude_purchased: bool, heading: str
) -> list[str]:
    return ["block", shop_id, customer_id, str(limit), "1" if exclude_purchased else "0", heading]


def click_fields(shop_id: str, customer_id: str, product_id: str) -> list[str]:
    return ["click", shop_id, customer_id, product_id]


def block_url(
    public_url: str, secret: Secret, shop_id: str, customer_id: str, limit: int,
    exclude_purchased: bool, heading: str, exp: int,
) -> str:
    """The signed address of a customer's e-mail block (no API key needed to open it)."""
    fields = block_fields(shop_id, customer_id, limit, exclude_purchased, heading)
    params = {"limit": str(limit), "exclude_purchased": "true" if exclude_purchased else "false"}
    if heading:
        params["heading"] = heading
    params |= {"exp": str(exp), "sig": signature(secret, [*fields, str(exp)])}
    path = f"/email/v1/blocks/{quote(shop_id, safe='')}/{quote(customer_id, safe='')}"
    return f"{public_url.rstrip('/')}{path}?{urlencode(params)}"


def click_url(
    public_url: str, secret: Secret, shop_id: str, customer_id: str, product_id: str, exp: int
) -> str:
    """The signed, tracked link to a product: counts the click, then redirects to the product."""
    sig = signature(secret, [*click_fields(shop_id, customer_id, product_id), str(exp)])
    query = (f"shop={quote_plus(shop_id)}&customer={quote_plus(customer_id)}"
             f"&product={quote_plus(product_id)}&exp={exp}&sig={sig}")  # urlencode's, faster
    return f"{public_url.rstrip('/')}/email/v1/click?{query}"
