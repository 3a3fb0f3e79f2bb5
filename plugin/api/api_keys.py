"""A shop's API keys under /api/v1/shops/{shop_id}/keys (an `admin` key): list, create,
rotate with an overlap, revoke (plugin.store.api_keys does the work; `shopreco keys` and the
dashboard's API keys page do the same)."""

from __future__ import annotations

from collections.abc import Awaitable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from plugin.api import PREFIX
from plugin.api.schemas import SHOP_ID
from plugin.store import api_keys
from plugin.store.api_keys import MAX_OVERLAP_SECONDS, SCOPES, ApiKeyError, NewKey, UnknownKey
from plugin.store.shops import Shop
from plugin.web.auth import authorized
from plugin.web.body import json_body
from plugin.web.openapi import (
    Answer,
    Operation,
    array,
    documented,
    integer,
    named,
    nullable,
    number,
    obj,
    path_param,
    string,
)
from plugin.web.params import BadRequest
from plugin.web.problems import problem

TAG = "API keys"
DEFAULT_OVERLAP_SECONDS = 86400

KEY = named("ApiKey", obj("An API key as listed: never its secret.", {
    "key_id": string("The key's id (`default`: the key `shops add` printed).", "key_3f9a1c2b7d4e"),
    "name": string("What the key is for.", "storefront"),
    "scopes": array(string("A scope.", "recommendations:read", enum=list(SCOPES)),
                    "What it may call (`admin`: everything, keys included)."),
    "created_at": number("When it was made (epoch seconds).", 1796173891.8),
    "expires_at": nullable(number("When a rotated key stops working (epoch seconds); null: "
                                  "until revoked.", None)),
    "last_used_at": nullable(number("Its last use, to the minute (epoch seconds); null: never.",
                                    1796174000.1)),
}))
KEYS = obj("The shop's live API keys.", {"shop_id": SHOP_ID, "keys": array(KEY, "Its keys.")})
MADE = obj("A new key: its secret is shown this once.", {
    "shop_id": SHOP_ID,
    "key": KEY,
    "api_key": string("The secret, for `Authorization: Bearer ...`; shown only now.",
                      "sk_Jm3pW..."),
})
REVOKED = obj("The key that stopped working.", {"shop_id": SHOP_ID, "revoked": KEY})
KEY_ID = path_param("key_id", "The key's id.", "key_3f9a1c2b7d4e")
CREATE_SHAPE = '{"name": "storefront", "scopes": ["recommendations:read"]}'
ROTATE_SHAPE = '{"overlap_seconds": 86400}'



@documented(
    Operation("GET", "listKeys", "The shop's API keys", TAG,
              {200: Answer("Its live keys, the default first.", KEYS)}, "admin",
              errors=(401, 403, 404)),
    Operation("POST", "createKey", "A new API key with scopes", TAG,
              {201: Answer("The key; its secret is shown this once.", MADE)}, "admin",
              body=obj("The new key.", {
                  "name": string("What it is for.", "storefront", minLength=1, maxLength=80),
                  "scopes": array(string("A scope.", "recommendations:read",
                                         enum=list(SCOPES)), "What it may call.", minItems=1),
              }, closed=False)),
)
@authorized
async def keys_endpoint(request: Request, shop: Shop) -> Response:
    redis = request.app.state.redis
    if request.method == "POST":
        body = await json_body(request, CREATE_SHAPE)
        if not isinstance(body, dict) or not isinstance(body.get("scopes"), list):
            raise BadRequest(f"the body must be an object with a name and a list of scopes: "
                             f"{CREATE_SHAPE}")
        return await _made(request, shop, api_keys.create_key(
            redis, shop.shop_id, body.get("name"), body["scopes"]))
    return JSONResponse({"shop_id": shop.shop_id,
                         "keys": await api_keys.listed(redis, shop.shop_id)})


@documented(Operation(
    "POST", "rotateKey", "Replace a key, the old one working a while longer", TAG,
    {201: Answer("The new key (same name and scopes); its secret is shown this once.", MADE)},
    "admin", params=(KEY_ID,), errors=(400, 401, 403, 404),
    body=obj("How long the old key keeps working.", {"overlap_seconds": integer(
        f"Seconds (default {DEFAULT_OVERLAP_SECONDS}; 0: it stops now).",
        DEFAULT_OVERLAP_SECONDS, minimum=0, maximum=MAX_OVERLAP_SECONDS)},
        optional=("overlap_seconds",), closed=False),
))
@authorized
async def rotate_endpoint(request: Request, shop: Shop) -> Response:
    body = await json_body(request, ROTATE_SHAPE)
    overlap = body.get("overlap_seconds", DEFAULT_OVERLAP_SECONDS) \
        if isinstance(body, dict) else None
    if isinstance(overlap, bool) or not isinstance(overlap, int):
        raise BadRequest(f"the body must be an object with an integer overlap_seconds: "
                         f"{ROTATE_SHAPE}")
    return await _made(request, shop, api_keys.rotate_key(
        request.app.state.redis, shop.shop_id, request.path_params["key_id"], overlap))


@documented(Operation(
    "DELETE", "revokeKey", "Stop a key now", TAG,
    {200: Answer("The key that stopped working.", REVOKED)}, "admin", params=(KEY_ID,),
    errors=(401, 403, 404),
))
@authorized
async def revoke_endpoint(request: Request, shop: Shop) -> Response:
    key_id = request.path_params["key_id"]
    redis = request.app.state.redis
    used = (await api_keys.last_uses(redis, shop.shop_id)).get(key_id)
    try:
        revoked = await api_keys.revoke_key(redis, shop.shop_id, key_id)
    except UnknownKey as error:
        return problem(404, str(error))
    await request.app.state.cache.reread(shop.shop_id)  # this process stops it at once
    return JSONResponse({"shop_id": shop.shop_id, "revoked": revoked.public(used)})


async def _made(request: Request, shop: Shop, change: Awaitable[NewKey]) -> Response:
    """201 with the new key and its secret, or the refusal (404 unknown key, 400)."""
    try:
        made = await change
    except ApiKeyError as error:
        return problem(404 if isinstance(error, UnknownKey) else 400, str(error))
    await request.app.state.cache.reread(shop.shop_id)  # this process serves it at once
    return JSONResponse({"shop_id": shop.shop_id, "key": made.key.public(None),
                         "api_key": made.secret}, status_code=201)


routes = [
    Route(f"{PREFIX}/keys", keys_endpoint, methods=["GET", "POST"]),
    Route(f"{PREFIX}/keys/{{key_id}}/rotate", rotate_endpoint, methods=["POST"]),
    Route(f"{PREFIX}/keys/{{key_id}}", revoke_endpoint, methods=["DELETE"]),
]
