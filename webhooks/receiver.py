"""HTTP receivers: verify, store durably, answer. All processing happens in the worker."""

from __future__ import annotations

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from plugin.store import events as intake
from plugin.store.fields import PayloadError
from plugin.web.body import BodyTimeout, BodyTooLarge, read_body
from plugin.web.problems import problem
from plugin.web.responses import json_bytes
from webhooks.adapter import parse_json
from webhooks.platforms import ADAPTERS


async def receive(request: Request) -> Response:
    """Verify, store durably, answer. Order: size, shop, ping, signature, shape, append."""
    platform = request.path_params["platform"]
    adapter = ADAPTERS.get(platform)
    if adapter is None:
        return problem(404, f"no webhook receiver for platform {platform!r}; "
                            f"known: {', '.join(sorted(ADAPTERS))}")
    limit = request.app.state.settings.max_body_bytes
    try:
        body = await read_body(request, limit)
    except BodyTooLarge:
        return problem(413, f"webhook bodies are limited to {limit} bytes")
    except BodyTimeout as error:
        return problem(408, f"{error}; nothing was stored")
    except ClientDisconnect:
        return Response(status_code=400)
    redis = request.app.state.redis
    headers = _headers(request)
    shop = await adapter.find_shop(request.app.state.cache, request.path_params.get("shop_id"),
                                   headers, body)
    if shop is None or shop.platform != platform:
        hint = adapter.shop_hint(request.path_params.get("shop_id"), headers, body)
        return problem(404, f"no {platform} shop is registered for {hint}; register it with "
                            f"`shopreco shops add SHOP_ID --platform {platform} ...` and use "
                            "the webhook_url it prints")
    if adapter.is_ping(headers, body):
        return _answer({"status": "ping", "shop_id": shop.shop_id})
    if not adapter.verify(shop, headers, body):
        return problem(401, f"the {platform} webhook signature does not match shop "
                            f"{shop.shop_id!r}'s webhook secret", kind="invalid-signature")
    try:
        payload = parse_json(body)
        delivery = adapter.describe(headers, body, payload)
        order = adapter.check(delivery.topic, payload)
    except PayloadError as error:
        return problem(400, f"{platform} webhook for shop {shop.shop_id!r}: {error}")
    event = intake.Event(
        platform=platform,
        topic=delivery.topic,
        delivery_id=delivery.delivery_id,
        body=body,
        triggered_at=delivery.triggered_at,
        api_version=delivery.api_version,
        order=json_bytes(order) if order is not None else b"",  # orjson writes dataclasses
    )
    settings = request.app.state.settings
    replication = intake.Replication(settings.redis_wait_replicas, settings.redis_wait_ms)
    try:
        stream_id = await intake.append(redis, shop.shop_id, event, replication)
    except intake.NotReplicated as error:
        return problem(503, f"the webhook is stored but not yet on enough Redis replicas "
                            f"({error}); retry it: a retry is not counted twice")
    status = "accepted" if stream_id else "duplicate"
    return _answer({"status": status, "shop_id": shop.shop_id, "event_id": stream_id})


def _headers(request: Request) -> dict[str, str]:
    """The request's headers by lower-case name, read once (the first of a repeated one, as
    Starlette's Headers.get gives it); the adapters look up several of them."""
    return dict(reversed(request.headers.items()))


def _answer(content: dict[str, str | None]) -> Response:
    return Response(json_bytes(content), media_type="application/json")


routes = [
    Route("/webhooks/{platform}", receive, methods=["POST"]),
    Route("/webhooks/{platform}/{shop_id}", receive, methods=["POST"]),
]
