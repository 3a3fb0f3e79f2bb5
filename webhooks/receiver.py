"""HTTP receivers: verify, store durably, answer. All processing happens in the worker."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from plugin.problems import problem
from plugin.shops import shop_by_domain
from webhooks import intake, shopify
from webhooks.order import PayloadError


class BodyTooLarge(Exception):
    pass


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refusing (BodyTooLarge) as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PayloadError(f"the body is not valid JSON ({error})") from None


async def receive_shopify(request: Request) -> Response:
    limit = request.app.state.settings.max_body_bytes
    try:
        body = await read_body(request, limit)
    except BodyTooLarge:
        return problem(413, f"webhook bodies are limited to {limit} bytes")
    except ClientDisconnect:
        return Response(status_code=400)
    domain = shopify.header(request.headers, "shop-domain") or ""
    shop = await shop_by_domain(request.app.state.redis, shopify.PLATFORM, domain)
    if shop is None:
        return problem(
            404,
            f"no Shopify shop is registered for domain {domain!r}; "
            "register it with `shopreco shops add SHOP_ID --platform shopify --domain DOMAIN`",
        )
    if not shopify.verify(shop.webhook_secrets, body, request.headers):
        return problem(
            401,
            f"the X-Shopify-Hmac-Sha256 signature does not match shop {shop.shop_id!r}'s "
            "webhook secret (it must be the app's client secret)",
        )
    topic = shopify.header(request.headers, "topic") or ""
    if not topic:
        return problem(400, "the X-Shopify-Topic header is missing")
    try:
        shopify.check_payload(topic, parse_json(body))
    except PayloadError as error:
        return problem(400, f"{topic} webhook for shop {shop.shop_id!r}: {error}")
    event = intake.Event(
        platform=shopify.PLATFORM,
        topic=topic,
        delivery_id=shopify.header(request.headers, "webhook-id")
        or intake.fallback_delivery_id(topic, body),
        body=body,
        triggered_at=shopify.header(request.headers, "triggered-at") or "",
        api_version=shopify.header(request.headers, "api-version") or "",
    )
    stream_id = await intake.append(request.app.state.redis, shop.shop_id, event)
    status = "accepted" if stream_id else "duplicate"
    return JSONResponse({"status": status, "shop_id": shop.shop_id, "event_id": stream_id})


routes = [Route("/webhooks/shopify", receive_shopify, methods=["POST"])]
