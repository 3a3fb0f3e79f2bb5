"""The admin's Health page: webhooks received per topic per day, failures and dead letters
(with replay), the history import, and how fresh the model is."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from plugin.admin import sessions
from plugin.admin.pages import owner_page, render
from plugin.store import keys
from plugin.store.connection import text
from plugin.store.models import current_model_info
from plugin.store.shops import get_shop
from webhooks.deadletters import DeadLetterError, count_dead, list_dead, replay_dead

DAYS = 7
PAGE = 1000
MAX_SCANNED = 200_000  # a week of a very busy shop; beyond it the table says "at least"


async def topics_per_day(redis: aioredis.Redis, shop_id: str,
                         now: float) -> tuple[list[str], dict[str, Counter[str]], bool]:
    """The last DAYS UTC days, and per topic the webhooks accepted each day, read from the
    shop's event stream (entries are kept for the retention period); whether the scan
    stopped at MAX_SCANNED."""
    first = int(now // 86400 - DAYS + 1) * 86400
    days = [datetime.fromtimestamp(first + d * 86400, UTC).date().isoformat()
            for d in range(DAYS)]
    counts: dict[str, Counter[str]] = {}
    start, scanned = f"{first * 1000}-0", 0
    while scanned < MAX_SCANNED:
        entries: Any = await redis.xrange(keys.events(shop_id), min=start, count=PAGE)
        if not entries:
            break
        for entry_id, fields in entries:
            at = int(text(entry_id).split("-")[0]) / 1000
            day = datetime.fromtimestamp(at, UTC).date().isoformat()
            topic = text(fields.get(b"topic", b"?"))
            counts.setdefault(topic, Counter())[day] += 1
        scanned += len(entries)
        last = text(entries[-1][0])
        start = "(" + last
    return days, counts, scanned >= MAX_SCANNED


@owner_page
async def health_page(request: Request, session: sessions.Session) -> Response:
    redis = request.app.state.redis
    shop = await get_shop(redis, session.shop_id)
    now = time.time()
    days, topics, capped = await topics_per_day(redis, session.shop_id, now)
    stats = {text(k): text(v) for k, v in (await redis.hgetall(keys.stats(session.shop_id)))
             .items()}
    model = await current_model_info(redis, session.shop_id)
    dirty = {text(k): float(v) for k, v in
             (await redis.hgetall(keys.train_dirty(session.shop_id))).items()}
    install = {text(k): text(v) for k, v in
               (await redis.hgetall(keys.shopify_install(session.shop_id))).items()}
    backfilled = stats.get("backfilled_at")
    return render(request, "health.html", {
        "shop": shop, "session": session, "days": days, "topics": topics, "capped": capped,
        "stats": stats, "dead": await list_dead(redis, session.shop_id, limit=20),
        "dead_total": await count_dead(redis, session.shop_id),
        "model": model, "trained_at": _when(model.meta.get("trained_at") if model else None),
        "untrained_since": _when(dirty.get("first")), "install": install,
        "backfilled_at": _when(float(backfilled)) if backfilled else None,
        "backfilling": bool(await redis.exists(keys.backfill_cursor(session.shop_id))),
        "replayed": request.query_params.get("replayed"),
    })


def _when(at: Any) -> str | None:
    if not isinstance(at, (int, float)):
        return None
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M UTC")


@owner_page
async def replay(request: Request, session: sessions.Session) -> Response:
    form = await request.form()
    event_id = str(form.get("event_id") or "")
    try:
        replayed = await replay_dead(request.app.state.redis, session.shop_id,
                                     "all" if event_id == "all" else [event_id])
    except (DeadLetterError, ValueError) as error:
        return render(request, "error.html", {"message": str(error)}, status=404)
    return RedirectResponse(f"/admin/health?replayed={replayed}", status_code=303)
