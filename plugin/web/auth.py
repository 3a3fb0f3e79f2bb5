"""The developer API's key check: `Authorization: Bearer <api_key>` of the shop in the path,
holding the scope the operation declares (plugin.web.openapi; undeclared: `admin`), within its
rate limit.

Rate limit: a fixed window of API_RATE_WINDOW_SECONDS per API key (shop and key id) of the
shop's `api_rate_per_minute` calls (`shopreco shops rate-limit`; else the setting
SHOPRECO_API_RATE_PER_MINUTE), counted in this process and shared with the others through
Redis (plugin.store.ratelimit: no round trip per call; with N processes a key can get beyond
the limit what the others serve it within one SYNC_SECONDS, and `a` is that late too). A new
limit reaches every process through the shop cache (within its REFRESH_SECONDS). Every answer
once the key is known carries the IETF draft's fields (draft-ietf-httpapi-ratelimit-headers,
the WG's text after -11: RateLimit's `a` (available quota) and `w` (effective window) replaced
-11's `r` and `t`): `RateLimit-Policy: "default";q=LIMIT;w=WINDOW` and `RateLimit:
"default";a=AVAILABLE;w=SECONDS_TO_THE_WINDOW_END`, each a Structured Field List of one
String item with Integer parameters; over the limit the call is not run but answered 429 with
`Retry-After` (the window's end, as the draft asks: never before the effective window ends).
Refusals of the key itself (401, 403, 404) are not counted.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from math import ceil as _ceil

import redis.asyncio as aioredis
from starlette.requests import Request
from starlette.responses import Response

from plugin.store import keys
from plugin.store.api_keys import ADMIN, USE_NOTE_SECONDS, ApiKey, note_use
from plugin.store.connection import text
from plugin.store.ratelimit import SYNC_SECONDS, WindowLimit
from plugin.store.shops import Shop, hash_api_key
from plugin.web.body import BodyTimeout, BodyTooLarge
from plugin.web.openapi import operations_of
from plugin.web.params import BadRequest
from plugin.web.problems import problem

Handler = Callable[[Request, Shop], Awaitable[Response]]
POLICY = "default"  # the name of the one quota policy in the RateLimit headers
_RATE = b'"' + POLICY.encode() + b'";a=%d;w=%d'


class ApiRateLimit(WindowLimit):
    """The API keys' rate limit of this process (app.state.api_rate, synced in the lifespan):
    `per_minute` calls a window for shops without a limit of their own."""

    def __init__(self, redis: aioredis.Redis, per_minute: int,
                 sync_seconds: float = SYNC_SECONDS) -> None:
        super().__init__(redis, keys.api_rate, keys.API_RATE_WINDOW_SECONDS, "API",
                         sync_seconds, owner=keys.shop_config)  # an erased shop's stay gone
        self.per_minute = per_minute
        self._policies: dict[int, bytes] = {}  # limit -> its RateLimit-Policy

    def check(self, shop_id: str, key_id: str,
              limit: int) -> tuple[int, tuple[tuple[bytes, bytes], ...]]:
        """Count a call with the key: the seconds to wait if it is over `limit` (else 0),
        and the IETF draft's RateLimit-Policy and RateLimit fields (structured-field syntax)
        as raw headers. On every API call, so made cheaply."""
        used, ends_in = self.count(shop_id, key_id)
        reset = _ceil(ends_in)
        policy = self._policies.get(limit)
        if policy is None:
            if len(self._policies) > 1000:  # limits are few; a bound all the same
                self._policies.clear()
            policy = self._policies[limit] = b'"%s";q=%d;w=%d' % (
                POLICY.encode(), limit, self.window_seconds)
        headers = ((b"ratelimit-policy", policy),
                   (b"ratelimit", _RATE % (limit - used if used < limit else 0, reset)))
        return (0 if used <= limit else reset), headers


def authorized(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Resolve the shop from the path and check the Bearer API key belongs to it and is
    within its rate limit (see the module doc); a BadRequest raised by the handler becomes a
    400 problem."""

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
                                f"its scopes: {', '.join(key.scopes)}", kind="missing-scope")
        rate: ApiRateLimit = request.app.state.api_rate
        limit = shop.api_rate_per_minute or rate.per_minute
        wait, rate_headers = rate.check(shop_id, key.key_id, limit)
        response: Response
        if wait:
            response = problem(429, f"the API key {key.name!r} ({key.key_id}) may make {limit} "
                                    f"calls every {rate.window_seconds} seconds to shop "
                                    f"{shop_id!r} and has made them; retry in {wait} s")
            response.headers["Retry-After"] = str(wait)
        else:
            try:
                response = await handler(request, shop)
            except BadRequest as error:
                response = problem(400, str(error))
            except BodyTooLarge as error:
                response = problem(413, f"request bodies are limited to {error.limit} bytes")
            except BodyTimeout as error:
                response = problem(408, str(error))
            if response.status_code < 400:  # a refused call leaves stored data as it was
                await _note_use(request, shop_id, key)
        response.raw_headers.extend(rate_headers)
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
                return problem(403, f"this API key belongs to another shop, not {shop_id!r}",
                               kind="other-shop-key")
            return problem(401, f"the API key is not valid for shop {shop_id!r}",
                           kind="invalid-key")
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
