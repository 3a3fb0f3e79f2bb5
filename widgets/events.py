"""POST /widgets/v1/events: the widget's impression, click and add-to-cart beacons, and the
product views of the pages it is on.

Body (JSON, sent as text/plain by sendBeacon or as application/json), at most 32 KB:
{"visitor_id": str, "customer_id": str|null,
 "events": [{"id", "type", "placement", "product_id", "model_version"?, "at" (epoch ms)}]}
An impression, click or add-to-cart of an answer in an experiment also names its
`"experiment"` and `"arm"`: it counts for the experiment too (plugin.engine.experiments).
A `product_view` (a product page the script is on) needs no placement. Views and add-to-carts
join the visitor's browsing history (plugin.store.browsing: recently viewed, inspired by
browsing); impressions, clicks and add-to-carts are counted per placement.
A batch is checked whole before anything is stored: one bad event refuses it with 400.
"""

from __future__ import annotations

import math
import re
import time
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from plugin.engine.experiments import Tagged, count_batch
from plugin.store.browsing import ADD_TO_CART, VIEW
from plugin.store.experiment_data import Counted
from plugin.store.experiments import ARM_NAME, EXPERIMENT_ID
from plugin.store.shops import Shop
from plugin.store.tracking import KINDS, WidgetEvent, record_events
from plugin.web.body import BodyTimeout, BodyTooLarge, InvalidJson, decode_json, read_body
from plugin.web.params import BadRequest, parse_id
from plugin.web.problems import problem
from widgets.placements import PLACEMENTS

MAX_BODY_BYTES = 32 * 1024
MAX_EVENTS = 200
MAX_EVENT_AGE_SECONDS = 24 * 3600  # older beacons are stale: dropped
MAX_ID_LENGTH = 128
EVENT_PLACEMENTS = frozenset(PLACEMENTS) | {"email"}
EVENT_KINDS = (*KINDS, VIEW)
BROWSED = frozenset({VIEW, ADD_TO_CART})  # what joins the visitor's browsing history
_TOKEN = re.compile(r"^[A-Za-z0-9_.:-]{1,128}\Z")
_EVENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{8,128}\Z")
# Crawlers, previews, headless browsers and scripts (case-insensitive substrings).
BOT_MARKERS = ("bot", "spider", "crawl", "slurp", "headlesschrome", "lighthouse", "phantomjs",
               "pingdom", "gtmetrix", "facebookexternalhit", "preview", "python-", "curl/",
               "wget", "httpclient", "go-http-client", "java/", "okhttp", "scrapy")


def is_bot(user_agent: str | None) -> bool:
    ua = (user_agent or "").lower()
    return not ua or any(marker in ua for marker in BOT_MARKERS)


def _token(name: str, raw: Any, pattern: re.Pattern[str] = _TOKEN, sizes: str = "1-128") -> str:
    if not isinstance(raw, str) or not pattern.match(raw):
        raise BadRequest(f"{name} must be {sizes} letters, digits, '_', '.', ':' or '-', "
                         f"got {raw!r}")
    return raw


def _short_id(name: str, raw: Any) -> str:
    value = parse_id(name, raw)
    if len(value) > MAX_ID_LENGTH:
        raise BadRequest(f"{name} must be at most {MAX_ID_LENGTH} characters")
    return value


def parse_event(index: int, raw: Any, now: float) -> WidgetEvent:
    where = f"events[{index}]"
    if not isinstance(raw, dict):
        raise BadRequest(f"{where} must be an object")
    kind = raw.get("type")
    if kind not in EVENT_KINDS:
        raise BadRequest(f"{where}.type must be one of {', '.join(EVENT_KINDS)}, got {kind!r}")
    placement = raw.get("placement")
    if kind == VIEW and placement is None:
        placement = ""  # a page without a widget (the script's `view` command)
    elif not isinstance(placement, str) or placement not in EVENT_PLACEMENTS:
        raise BadRequest(f"{where}.placement must be a widget placement, got {placement!r}")
    version = raw.get("model_version")
    if version is not None and (not isinstance(version, str) or len(version) > 64):
        raise BadRequest(f"{where}.model_version must be the response's model_version or null")
    at = raw.get("at")
    if isinstance(at, bool) or not isinstance(at, int | float) or not math.isfinite(at) \
            or at <= 0:
        raise BadRequest(f"{where}.at must be the event time in epoch milliseconds, got {at!r}")
    return WidgetEvent(
        event_id=_token(f"{where}.id", raw.get("id"), _EVENT_ID, "8-128"),
        kind=kind,
        placement=placement,
        product_id=_short_id(f"{where}.product_id", raw.get("product_id")),
        at=min(at / 1000.0, now),
    )


Tag = tuple[str, str] | None  # (experiment id, arm) an event's answer was in


def parse_tag(index: int, raw: dict[str, Any]) -> Tag:
    """The optional experiment and arm of an event (both, or neither)."""
    experiment, arm = raw.get("experiment"), raw.get("arm")
    if experiment is None and arm is None:
        return None
    if not isinstance(experiment, str) or not EXPERIMENT_ID.match(experiment) \
            or not isinstance(arm, str) or not ARM_NAME.match(arm):
        raise BadRequest(f"events[{index}].experiment and .arm must be the answer's "
                         f"`experiment` and `arm`, got {experiment!r} and {arm!r}")
    return experiment, arm


def parse_batch(body: bytes, now: float) -> tuple[str, str | None, list[WidgetEvent]]:
    visitor_id, customer_id, tagged = parse_tagged_batch(body, now)
    return visitor_id, customer_id, [event for event, _tag in tagged]


def parse_tagged_batch(body: bytes, now: float
                       ) -> tuple[str, str | None, list[tuple[WidgetEvent, Tag]]]:
    """The batch's visitor, customer and events with their experiment tags (events older
    than MAX_EVENT_AGE_SECONDS left out); BadRequest for any bad part."""
    try:
        data: Any = decode_json(body)
    except InvalidJson:
        raise BadRequest('the body must be JSON: {"visitor_id": ..., "events": [...]}') from None
    if not isinstance(data, dict):
        raise BadRequest('the body must be a JSON object: {"visitor_id": ..., "events": [...]}')
    visitor_id = _token("visitor_id", data.get("visitor_id"))
    raw_customer = data.get("customer_id")
    customer_id = None if raw_customer is None else _short_id("customer_id", raw_customer)
    raw_events = data.get("events")
    if not isinstance(raw_events, list) or not 1 <= len(raw_events) <= MAX_EVENTS:
        raise BadRequest(f"events must be a list of 1 to {MAX_EVENTS} events")
    events = [(parse_event(i, raw, now), parse_tag(i, raw)) for i, raw in enumerate(raw_events)]
    return visitor_id, customer_id, [(e, tag) for e, tag in events
                                     if e.at >= now - MAX_EVENT_AGE_SECONDS]


async def receive_events(request: Request, shop: Shop) -> Response:
    """204 once the batch is counted (or ignored as bot traffic); 400 / 413 stores nothing."""
    try:
        body = await read_body(request, MAX_BODY_BYTES)
    except BodyTooLarge:
        return problem(413, f"an events batch may be at most {MAX_BODY_BYTES} bytes; "
                            "send fewer events per request")
    except BodyTimeout as error:
        return problem(408, f"{error}; nothing was counted")
    except ClientDisconnect:
        return Response(status_code=400)
    try:
        visitor_id, customer_id, tagged = parse_tagged_batch(body, time.time())
    except BadRequest as error:
        return problem(400, str(error))
    if is_bot(request.headers.get("user-agent")) or not tagged:
        return Response(status_code=204)
    events = [event for event, _tag in tagged]
    redis = request.app.state.redis
    counted = [e for e in events if e.kind != VIEW]
    if counted or customer_id is not None:
        await record_events(redis, shop.shop_id, visitor_id, customer_id, counted)
    browsed = [(e.product_id, e.at) for e in events if e.kind in BROWSED]
    if browsed:
        await request.app.state.cache.visitors.record(shop.shop_id, visitor_id, browsed)
    if shop.experiments:
        await count_batch(request.app.state.cache, shop, visitor_id, customer_id, [
            Tagged(tag[0], tag[1], e.placement, Counted(e.event_id, e.kind))
            for e, tag in tagged if tag is not None and e.kind in KINDS])
    return Response(status_code=204)
