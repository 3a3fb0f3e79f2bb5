"""The admin's API keys page: the shop's keys (never their secrets) with their scopes and last
use; create one with scopes, rotate one (the old secret works for the overlap chosen), revoke
one. A new secret is shown once, on the page the form answers with (never stored, no-store).
plugin.store.api_keys does the work, as for `shopreco keys` and the API's /keys calls."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from plugin.admin import sessions
from plugin.admin.pages import owner_page, render
from plugin.store import api_keys
from plugin.store.api_keys import SCOPES, ApiKeyError
from plugin.store.shops import get_shop

OVERLAPS = ((0, "stop the old secret now"), (3600, "1 hour"), (86400, "1 day"),
            (7 * 86400, "7 days"))
SCOPE_HELP = {
    "recommendations:read": "recommendations, trending, the model, widget figures",
    "lifecycle:read": "lifecycle figures, stages and nurture feeds",
    "catalog:read": "catalog products, excluded and pinned products",
    "catalog:write": "change catalog products, excluded and pinned products",
    "events:write": "send shoppers' browsing events (product views, add-to-carts)",
    "privacy": "customer data exports and erasure",
    "admin": "everything, keys and training included",
}


async def _page(request: Request, session: sessions.Session, status: int = 200,
                **shown: Any) -> Response:
    redis = request.app.state.redis
    shop = await get_shop(redis, session.shop_id)
    return render(request, "keys.html", {
        "shop": shop, "session": session, "keys": await api_keys.listed(redis, session.shop_id),
        "scopes": SCOPES, "scope_help": SCOPE_HELP, "overlaps": OVERLAPS,
        "base": request.app.state.settings.public_url.rstrip("/"), **shown,
    }, status=status)


@owner_page
async def keys_page(request: Request, session: sessions.Session) -> Response:
    return await _page(request, session)


@owner_page
async def create(request: Request, session: sessions.Session) -> Response:
    form = await request.form()
    try:
        made = await api_keys.create_key(request.app.state.redis, session.shop_id,
                                         str(form.get("name") or ""), form.getlist("scope"))
    except ApiKeyError as error:
        return await _page(request, session, status=400, error=str(error))
    await request.app.state.cache.reread(session.shop_id)
    return await _page(request, session, secret=made.secret, made=made.key.public(None))


@owner_page
async def rotate(request: Request, session: sessions.Session) -> Response:
    form = await request.form()
    try:
        overlap = int(str(form.get("overlap") or "0"))
        made = await api_keys.rotate_key(request.app.state.redis, session.shop_id,
                                         str(form.get("key_id") or ""), overlap)
    except (ApiKeyError, ValueError) as error:
        return await _page(request, session, status=400, error=str(error))
    await request.app.state.cache.reread(session.shop_id)
    return await _page(request, session, secret=made.secret, made=made.key.public(None))


@owner_page
async def revoke(request: Request, session: sessions.Session) -> Response:
    form = await request.form()
    try:
        gone = await api_keys.revoke_key(request.app.state.redis, session.shop_id,
                                         str(form.get("key_id") or ""))
    except ApiKeyError as error:
        return await _page(request, session, status=400, error=str(error))
    await request.app.state.cache.reread(session.shop_id)
    return await _page(request, session, revoked=gone.name)


routes = [
    Route("/admin/keys", keys_page),
    Route("/admin/keys", create, methods=["POST"]),
    Route("/admin/keys/rotate", rotate, methods=["POST"]),
    Route("/admin/keys/revoke", revoke, methods=["POST"]),
]
