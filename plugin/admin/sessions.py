"""Owner sign-in: one-time login links and sessions, kept in Redis by digest.

A login link holds a random token (32 bytes) that names one shop for LINK_MINUTES and works
once. Opening it shows a button; pressing it (a POST, so a mail scanner that fetches links
does not spend it) starts a session: a random id in an HttpOnly, SameSite=Lax cookie (Secure
on https) that expires after SESSION_HOURS, and a CSRF token every form of the session
carries. Redis holds only sha256 digests of the token and the session id.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

import redis.asyncio as aioredis

from plugin.store import keys
from plugin.store.connection import text

LINK_MINUTES = 15
SESSION_HOURS = 12
COOKIE = "shopreco_admin"


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


async def login_link(redis: aioredis.Redis, public_url: str, shop_id: str,
                     minutes: int = LINK_MINUTES) -> str:
    token = secrets.token_urlsafe(32)
    await redis.set(keys.admin_login(_digest(token)), shop_id, ex=minutes * 60)
    return f"{public_url.rstrip('/')}/admin/login?token={token}"


async def link_shop(redis: aioredis.Redis, token: str) -> str | None:
    """The shop a login link names while it is valid (without spending it)."""
    if not token:
        return None
    found = await redis.get(keys.admin_login(_digest(token)))
    return text(found) if found else None


async def redeem(redis: aioredis.Redis, token: str) -> str | None:
    """Spend a login link: its shop, or None when it is unknown, expired or used."""
    if not token:
        return None
    found = await redis.getdel(keys.admin_login(_digest(token)))
    return text(found) if found else None


@dataclass(frozen=True)
class Session:
    shop_id: str
    csrf: str
    frame_domain: str = ""  # signed in from the Shopify admin: the shop it may be framed by

    def accepts(self, csrf: str | None) -> bool:
        return bool(csrf) and hmac.compare_digest(self.csrf.encode(), str(csrf).encode())


async def start(redis: aioredis.Redis, shop_id: str, hours: int = SESSION_HOURS,
                frame_domain: str = "") -> tuple[str, Session]:
    """A new session's id (for the cookie) and the session; `frame_domain` for a session
    begun inside the Shopify admin (its pages may then be framed by that shop's admin)."""
    session_id = secrets.token_urlsafe(32)
    session = Session(shop_id, secrets.token_urlsafe(24), frame_domain)
    key = keys.admin_session(_digest(session_id))
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(key, mapping={"shop_id": shop_id, "csrf": session.csrf,
                                "frame_domain": frame_domain})
        pipe.expire(key, hours * 3600)
        await pipe.execute()
    return session_id, session


async def find(redis: aioredis.Redis, session_id: str | None) -> Session | None:
    if not session_id:
        return None
    found = await redis.hgetall(keys.admin_session(_digest(session_id)))
    if not found:
        return None
    fields = {text(k): text(v) for k, v in found.items()}
    return Session(fields["shop_id"], fields["csrf"], fields.get("frame_domain", ""))


async def end(redis: aioredis.Redis, session_id: str | None) -> None:
    if session_id:
        await redis.delete(keys.admin_session(_digest(session_id)))
