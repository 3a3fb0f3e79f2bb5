"""The developer API's key check: `Authorization: Bearer <api_key>` of the shop in the path,
holding the scope the operation declares (plugin.web.openapi; undeclared: `admin`)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from plugin.store import keys
from plugin.store.api_keys import ADMIN, USE_NOTE_SECONDS, ApiKey, note_use
from plugin.store.connection import text
from plugin.store.shops import Shop, hash_api_key
from plugin.web.body import BodyTimeout, BodyTooLarge
from plugin.web.openapi import operations_of
from plugin.web.params import BadRequest
from plugin.web.problems import problem

Handler = Callable[[Request, Shop], Awaitable[Response]]


def authorized(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Resolve the shop from the path and check the Bearer API key belongs to it; a
    BadRequest raised by the handler becomes a 400 problem."""

    async def endpoint(request: Request) -> Response:
        shop_id = request.path_params["shop_id"]
        scheme, _, api_key = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not api_key.strip():
            return problem(401, "send the shop's API key as `Authorization: Bearer <api_key>`")
        found = await _caller(request, shop_id, api_key.strip())
        if isinstance(found, Response):
            return found
        shop, key = found
        if not scopes:
            _fill_scopes(endpoint, scopes)
        scope = scopes.get(request.method, ADMIN)
        if not key.allows(scope):
            return problem(403, f"the API key {key.name!r} ({key.key_id}) lacks the scope "
                                f"{scope!r} that {request.method} {request.url.path} needs; "
                                f"its scopes: {', '.join(key.scopes)}")
        try:
            response = await handler(request, shop)
        except BadRequest as error:
            return problem(400, str(error))
        except BodyTooLarge as error:
            return problem(413, f"request bodies are limited to {error.limit} bytes")
        except BodyTimeout as error:
            return problem(408, str(error))
        if response.status_code < 400:  # a refused call leaves stored data as it was
            await _note_use(request, shop_id, key)
        return response

    scopes: dict[str, str] = {}
    endpoint.__name__ = handler.__name__
    endpoint.__doc__ = handler.__doc__
    return endpoint


async def _caller(request: Request, shop_id: str, secret: str) -> tuple[Shop, ApiKey] | Response:
    """The shop and the key of this secret, or the refusal (404, 401, 403)."""
    cache = request.app.state.cache
    shop = await cache.shop(shop_id)
    if shop is None:
        return problem(404, f"no shop {shop_id!r} is registered here")
    key = shop.api_key(secret)
    if key is None:
        owner = await request.app.state.redis.get(keys.api_key_index(hash_api_key(secret)))
        if owner is not None and text(owner) == shop_id:  # a key issued moments ago
            shop = await cache.reread(shop_id)
            key = None if shop is None else shop.api_key(secret)
        if shop is None or key is None:
            if owner is not None and text(owner) != shop_id:
                return problem(403, f"this API key belongs to another shop, not {shop_id!r}")
            return problem(401, f"the API key is not valid for shop {shop_id!r}")
    return shop, key


def _fill_scopes(endpoint: Callable[..., object], scopes: dict[str, str]) -> None:
    """Fill `scopes` (method -> scope) from the endpoint's declared operations, once."""
    for op in operations_of(endpoint):
        scopes[op.method] = op.scope or ADMIN
        if op.method == "GET":
            scopes["HEAD"] = scopes["GET"]
    scopes.setdefault("", ADMIN)  # not empty: filled


async def _note_use(request: Request, shop_id: str, key: ApiKey) -> None:
    """Write the key's last use at most every USE_NOTE_SECONDS from this process."""
    state = request.app.state
    noted: dict[tuple[str, str], float] | None = getattr(state, "key_uses", None)
    if noted is None:
        noted = state.key_uses = {}
    now = time.time()
    if now - noted.get((shop_id, key.key_id), 0.0) >= USE_NOTE_SECONDS:
        noted[(shop_id, key.key_id)] = now
        await note_use(request.app.state.redis, shop_id, key.key_id, now)
