"""Optional owner passwords: a shop's owner may also sign in with the shop id and a password.

Hashed with Argon2id by argon2-cffi (the reference implementation's bindings; OWASP's first
choice for password storage), its default parameters (RFC 9106's second recommended option: 64
MiB, 3 passes, 4 lanes); a hash made with older parameters is made again at the next sign-in.
The hash lives in the shop's own key (keys.admin_password), so it goes with the shop.

Guessing is slowed per shop: after FAILURES_ALLOWED wrong passwords within LOCK_SECONDS the
shop's password sign-in answers 429 until the window ends (a one-time link still works).
The sign-in form is protected by a double-submit token (a cookie and the same value in the
form), as there is no session yet to hold one.

    POST /admin/password   shop_id, password, csrf -> a session, then /admin/
"""

from __future__ import annotations

import asyncio
import hmac
import secrets

import redis.asyncio as aioredis
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from plugin.admin import sessions
from plugin.admin.pages import render
from plugin.store import keys
from plugin.store.connection import text
from plugin.store.shops import get_shop

MIN_LENGTH = 12  # NIST SP 800-63B asks for at least 8; owners of a shop's data get 12
MAX_LENGTH = 256  # hashing cost grows with length: refuse essays before hashing
FAILURES_ALLOWED = 10
LOCK_SECONDS = 15 * 60
FORM_COOKIE = "shopreco_signin"
_HASHER = PasswordHasher()


class PasswordRefused(ValueError):
    """A password that may not be set (too short or too long)."""


def check_new(password: str) -> None:
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise PasswordRefused(f"a password needs {MIN_LENGTH} to {MAX_LENGTH} characters")


async def set_password(redis: aioredis.Redis, shop_id: str, password: str) -> None:
    check_new(password)
    hashed = await asyncio.to_thread(_HASHER.hash, password)  # ~50 ms of CPU: off the loop
    await redis.set(keys.admin_password(shop_id), hashed)


async def clear_password(redis: aioredis.Redis, shop_id: str) -> bool:
    """Password sign-in off for the shop; False when it had none."""
    return bool(await redis.delete(keys.admin_password(shop_id)))


async def has_password(redis: aioredis.Redis, shop_id: str) -> bool:
    return bool(await redis.exists(keys.admin_password(shop_id)))


async def locked(redis: aioredis.Redis, shop_id: str) -> bool:
    failures = await redis.get(keys.admin_password_failures(shop_id))
    return int(failures or 0) >= FAILURES_ALLOWED


async def verify(redis: aioredis.Redis, shop_id: str, password: str) -> bool:
    """True when the shop has a password and this is it; a wrong one counts as a failure."""
    stored = await redis.get(keys.admin_password(shop_id))
    if stored is None or len(password) > MAX_LENGTH:
        return False
    hashed = text(stored)
    try:
        await asyncio.to_thread(_HASHER.verify, hashed, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        failures = keys.admin_password_failures(shop_id)
        async with redis.pipeline(transaction=True) as pipe:
            pipe.set(failures, 0, ex=LOCK_SECONDS, nx=True)  # the window starts at the first
            pipe.incr(failures)  # INCR keeps the TTL (EXPIRE NX needs Redis 7)
            await pipe.execute()
        return False
    if _HASHER.check_needs_rehash(hashed):
        await set_password(redis, shop_id, password)
    return True


def form_token(request: Request) -> str:
    """The sign-in form's token: the browser's cookie value, or a new one."""
    return request.cookies.get(FORM_COOKIE) or secrets.token_urlsafe(24)


def with_form_cookie(request: Request, response: Response, token: str) -> Response:
    response.set_cookie(FORM_COOKIE, token, max_age=3600, path="/admin", httponly=True,
                        samesite="strict",
                        secure=request.app.state.settings.public_url.startswith("https://"))
    return response


def refused(request: Request, message: str, status: int) -> Response:
    token = form_token(request)
    return with_form_cookie(request, render(request, "signin.html", {
        "password_refused": message, "form_token": token}, status=status), token)


async def password_sign_in(request: Request) -> Response:
    form = await request.form()
    shop_id, password = str(form.get("shop_id") or "").strip(), str(form.get("password") or "")
    cookie = request.cookies.get(FORM_COOKIE) or ""
    if not cookie or not hmac.compare_digest(cookie.encode(), str(form.get("csrf") or "")
                                             .encode()):
        return refused(request, "This form has expired. Please try again.", 403)
    redis = request.app.state.redis
    if not keys.SHOP_ID_PATTERN.match(shop_id) or await get_shop(redis, shop_id) is None:
        return refused(request, "Wrong shop id or password.", 400)
    if await locked(redis, shop_id):
        return refused(request, "Too many wrong passwords: password sign-in for this shop "
                                "is paused for 15 minutes. A one-time link still works.", 429)
    if not await verify(redis, shop_id, password):
        return refused(request, "Wrong shop id or password.", 400)
    session_id, _ = await sessions.start(redis, shop_id)
    response = RedirectResponse("/admin/", status_code=303)
    response.set_cookie(sessions.COOKIE, session_id, max_age=sessions.SESSION_HOURS * 3600,
                        path="/admin", httponly=True, samesite="lax",
                        secure=request.app.state.settings.public_url.startswith("https://"))
    response.delete_cookie(FORM_COOKIE, path="/admin")
    return response


routes = [Route("/admin/password", password_sign_in, methods=["POST"])]
