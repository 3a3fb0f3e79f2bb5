"""HTTP receivers: verify, store durably, answer. All processing happens in the worker.

The receiver is a pure ASGI endpoint (no Request or Response object on the way to a 200: it
is the busiest POST and Starlette's objects were a tenth of its cost); `webhook_params` lets
the app hand it a webhook before routing (plugin.app.WebhookShortcut)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import redis.asyncio as aioredis
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from plugin.config import Settings
from plugin.store import events as intake
from plugin.store.cache import ShopCache
from plugin.store.fields import PayloadError
from plugin.web.body import BodyTimeout, BodyTooLarge, read_asgi_body
from plugin.web.problems import problem
from plugin.web.responses import json_bytes
from webhooks.adapter import parse_json
from webhooks.platforms import ADAPTERS

PREFIX = "/webhooks/"
_JSON_HEADERS = (b"content-type", b"application/json")


def webhook_params(path: str) -> dict[str, str] | None:
    """The path parameters of a receiver URL (`/webhooks/{platform}` or
    `/webhooks/{platform}/{shop_id}`, each part one or more characters other than "/", as
    the routes below match them); None for any other path."""
    if not path.startswith(PREFIX):
        return None
    parts = path[len(PREFIX):].split("/")
    if not all(parts) or len(parts) > 2:
        return None
    return {"platform": parts[0]} if len(parts) == 1 else \
        {"platform": parts[0], "shop_id": parts[1]}


class Intake(NamedTuple):
    """What the receiver uses of the app, set by its lifespan as `app.state.intake`: one
    attribute of Starlette's State a webhook (each is found through a raised AttributeError,
    about 5,000 instructions)."""

    settings: Settings
    redis: aioredis.Redis
    cache: ShopCache


class Refused(Exception):
    """A delivery answered with `response` (a 4xx problem, or 503), nothing stored."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


class Receiver:
    """The ASGI endpoint of the receiver URLs: `answer`'s answer, sent (a 200 as the JSON
    Response would send it), or the refusal's. A RedisError propagates: the app answers 503.
    An instance, so a Route hands it the raw ASGI call."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            content = await answer(scope, receive)
        except Refused as refusal:
            await refusal.response(scope, receive, send)
            return
        body = json_bytes(content)
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-length", b"%d" % len(body)), _JSON_HEADERS]})
        await send({"type": "http.response.body", "body": body})


RECEIVER = Receiver()


async def answer(scope: Scope, receive: Receive) -> dict[str, Any]:
    """Verify, store durably, answer. Order: size, shop, ping, signature, shape, append.
    The JSON answer of a 200; Refused otherwise."""
    params = scope["path_params"]
    platform = params["platform"]
    adapter = ADAPTERS.get(platform)
    if adapter is None:
        raise Refused(problem(404, f"no webhook receiver for platform {platform!r}; "
                                   f"known: {', '.join(sorted(ADAPTERS))}"))
    settings, redis, cache = scope["app"].state.intake
    limit = settings.max_body_bytes
    headers = _headers(scope)
    try:
        body = await read_asgi_body(receive, headers.get("content-length", ""), limit,
                                    settings.body_timeout_seconds)
    except BodyTooLarge:
        raise Refused(problem(413, f"webhook bodies are limited to {limit} bytes")) from None
    except BodyTimeout as error:
        raise Refused(problem(408, f"{error}; nothing was stored")) from None
    except ClientDisconnect:
        raise Refused(Response(status_code=400)) from None
    shop_id = params.get("shop_id")
    shop = adapter.held_shop(cache, shop_id, headers, body) \
        or await adapter.find_shop(cache, shop_id, headers, body)
    if shop is None or shop.platform != platform:
        hint = adapter.shop_hint(shop_id, headers, body)
        raise Refused(problem(404, f"no {platform} shop is registered for {hint}; register "
                                   f"it with `shopreco shops add SHOP_ID --platform {platform}"
                                   " ...` and use the webhook_url it prints"))
    if adapter.is_ping(headers, body):
        return {"status": "ping", "shop_id": shop.shop_id}
    if not adapter.verify(shop, headers, body):
        raise Refused(problem(401, f"the {platform} webhook signature does not match shop "
                                   f"{shop.shop_id!r}'s webhook secret",
                              kind="invalid-signature"))
    try:
        payload = parse_json(body)
        delivery = adapter.describe(headers, body, payload)
        order = adapter.check(delivery.topic, payload)
    except PayloadError as error:
        raise Refused(problem(400, f"{platform} webhook for shop {shop.shop_id!r}: {error}")
                      ) from None
    event = intake.Event(
        platform=platform,
        topic=delivery.topic,
        delivery_id=delivery.delivery_id,
        body=body,
        triggered_at=delivery.triggered_at,
        api_version=delivery.api_version,
        order=json_bytes(order) if order is not None else b"",  # orjson writes dataclasses
    )
    replication = intake.Replication(settings.redis_wait_replicas, settings.redis_wait_ms) \
        if settings.redis_wait_replicas else None  # what append makes of 0 replicas
    try:
        stream_id = await intake.append(redis, shop.shop_id, event, replication)
    except intake.NotReplicated as error:
        raise Refused(problem(503, f"the webhook is stored but not yet on enough Redis "
                                   f"replicas ({error}); retry it: a retry is not counted "
                                   "twice")) from None
    status = "accepted" if stream_id else "duplicate"
    return {"status": status, "shop_id": shop.shop_id, "event_id": stream_id}


def _headers(scope: Scope) -> Mapping[str, str]:
    """The request's headers by lower-case name, read once (the first of a repeated one, as
    Starlette's Headers.get gives it); the adapters look up several of them."""
    return {name.decode("latin-1"): value.decode("latin-1")
            for name, value in reversed(scope["headers"])}


routes = [
    Route("/webhooks/{platform}", RECEIVER, methods=["POST"]),
    Route("/webhooks/{platform}/{shop_id}", RECEIVER, methods=["POST"]),
]
