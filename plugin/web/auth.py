"""The developer API's key check: `Authorization: Bearer <api_key>` of the shop in the path."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from plugin.store import keys
from plugin.store.connection import text
from plugin.store.shops import Shop, hash_api_key
from plugin.web.body import BodyTimeout, BodyTooLarge
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
        shop = await request.app.state.cache.shop(shop_id)
        if shop is None:
            return problem(404, f"no shop {shop_id!r} is registered here")
        if not shop.accepts_api_key(api_key.strip()):
            owner = await request.app.state.redis.get(keys.api_key_index(hash_api_key(api_key)))
            if owner is not None and text(owner) == shop_id:  # a key issued moments ago
                shop = await request.app.state.cache.reread(shop_id)
            if shop is None or not shop.accepts_api_key(api_key.strip()):
                if owner is not None and text(owner) != shop_id:
                    return problem(403, f"this API key belongs to another shop, not {shop_id!r}")
                return problem(401, f"the API key is not valid for shop {shop_id!r}")
        try:
            return await handler(request, shop)
        except BadRequest as error:
            return problem(400, str(error))
        except BodyTooLarge as error:
            return problem(413, f"request bodies are limited to {error.limit} bytes")
        except BodyTimeout as error:
            return problem(408, str(error))

    endpoint.__name__ = handler.__name__
    endpoint.__doc__ = handler.__doc__
    return endpoint
