"""The admin's Recommendations page: a live preview of any placement (what shoppers would see,
through the widget endpoint's own code), the model and "Retrain now", the excluded products
and the pinned products."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from plugin.admin import sessions
from plugin.admin.pages import owner_page, render
from plugin.engine import train_requests
from plugin.engine.serving import serve_query
from plugin.engine.training import NothingToTrain, train_shop
from plugin.store import changes
from plugin.store.exclusions import excluded, replace_excluded
from plugin.store.fields import PayloadError, id_string
from plugin.store.models import current_model_info
from plugin.store.pins import Pin, check_pins, new_pin, pins, replace_pins
from plugin.store.shops import get_shop
from plugin.web.params import BadRequest
from widgets.placements import PLACEMENTS, build_query, parse_request

log = logging.getLogger(__name__)
SHOWN_PLACEMENTS = ("bundle", "also_bought", "cart", "thank_you", "home", "buy_again",
                    "trending", "recently_viewed", "inspired_by_browsing")
MAX_EXCLUDED = 1000


async def preview(request: Request, shop_id: str, currency: str,
                  params: QueryParams) -> dict[str, Any]:
    """The preview form's values and, when a placement was asked for, its answer or what is
    wrong with the question."""
    asked = {k: params.get(k, "") for k in ("placement", "product_id", "product_ids",
                                            "customer_id", "visitor_id")}
    if not asked["placement"]:
        return {"asked": asked, "items": None, "problem": None}
    try:
        widget = parse_request({**{k: v for k, v in asked.items() if v}, "limit": "8"})
        query = await build_query(request.app.state.cache, shop_id, widget)
        served = await serve_query(request.app.state.cache, shop_id, currency, query)
    except BadRequest as error:
        return {"asked": asked, "items": None, "problem": str(error)}
    return {"asked": asked, "items": served.items, "strategy": served.strategy,
            "problem": None}


@owner_page
async def recommendations_page(request: Request, session: sessions.Session) -> Response:
    state = request.app.state
    shop = await get_shop(state.redis, session.shop_id)
    assert shop is not None  # owner_page checked it
    model = await current_model_info(state.redis, shop.shop_id)
    meta = model.meta if model else {}
    choice = meta.get("choice") or {}
    return render(request, "recommendations.html", {
        "shop": shop, "session": session, "placements": SHOWN_PLACEMENTS,
        "known_placements": PLACEMENTS,
        **await preview(request, shop.shop_id, shop.currency, request.query_params),
        "model": model, "meta": meta, "choice": choice,
        "model_parts": _model_parts(meta.get("config") or {}),
        "candidates": _candidates(choice),
        "trained_ago": _ago(meta.get("trained_at")),
        "training": request.query_params.get("training") == "1",
        # the version that served when "Retrain now" was pressed: a training that ends before
        # this page renders still shows as done
        "training_from": request.query_params.get("from", model.version if model else ""),
        "excluded": await excluded(state.redis, shop.shop_id),
        "saved": request.query_params.get("saved") == "1",
        "pins": await _shown_pins(request, shop.shop_id),
        "pins_saved": request.query_params.get("pins") == "saved",
        "today": datetime.now(UTC).date().isoformat(),
    })


@owner_page
async def model_status(request: Request, session: sessions.Session) -> Response:
    """The serving model's version and when it trained: what "Retrain now" polls."""
    model = await current_model_info(request.app.state.redis, session.shop_id)
    meta = model.meta if model else {}
    return JSONResponse({"version": model.version if model else None,
                         "trained_at": meta.get("trained_at")},
                        headers={"Cache-Control": "no-store"})


TASK_METRICS = {"nurture": "NDCG@10", "discovery": "NDCG@10", "upsell": "hit rate @10"}


def _model_parts(config: dict[str, Any]) -> set[str]:
    """The names a preview's answer may carry from the model's own strategy: its personal
    model, its neighbours (the carts' too) and the baselines tasks fall back to."""
    named = ("cf", "neighbours", "cart_neighbours_kind", "nurture_fallback",
             "discovery_fallback", "cart_fallback")
    parts = {str(config[n]) for n in named if config.get(n)}
    return parts | {f"{config['cf']}_similar"} if config.get("cf") else parts


def _candidates(choice: dict[str, Any]) -> list[dict[str, Any]]:
    """Per task: every blend and baseline the choice scored, best first, and which serves it
    (the report of recommender.tuning)."""
    tasks = []
    for task, verdict in (choice.get("tasks") or {}).items():
        rows = [{"kind": "baseline", "name": name, "score": score,
                 "serves": name == verdict.get("served_by")}
                for name, score in (choice.get("baselines") or {}).get(task, {}).items()]
        blend_serves = not any(row["serves"] for row in rows)
        rows += [{"kind": "blend", "name": name, "score": score,
                  "serves": blend_serves and name == verdict.get("candidate")}
                 for name, score in (choice.get("candidates") or {}).get(task, [])]
        rows.sort(key=lambda row: -row["score"])
        tasks.append({"task": task, "metric": TASK_METRICS.get(task, ""), "rows": rows})
    return tasks


async def _shown_pins(request: Request, shop_id: str) -> list[dict[str, Any]]:
    """The stored pins as the page lists them: titles where the catalog knows them, the end,
    and whether they are in force."""
    stored, now = await pins(request.app.state.redis, shop_id), time.time()
    ids = [p.product_id for p in stored] + [p.for_product_id or "" for p in stored]
    found = await request.app.state.cache.products(shop_id, ids)
    titles = {i: str(f["title"]) for i, f in zip(ids, found, strict=True) if f.get("title")}
    return [{"product_id": p.product_id, "title": titles.get(p.product_id),
             "for_product_id": p.for_product_id, "for_title": titles.get(p.for_product_id or ""),
             "until": _until(p.until), "active": p.active(now)} for p in stored]


def _until(until: float | None) -> str:
    if until is None:
        return "no end date"
    at = datetime.fromtimestamp(until, UTC)
    if (at.hour, at.minute, at.second, at.microsecond) == (0, 0, 0, 0):  # the end of a day
        return f"until the end of {(at - timedelta(days=1)).date().isoformat()} (UTC)"
    return f"until {at:%Y-%m-%d %H:%M} (UTC)"


def _ago(at: Any) -> str:
    if not isinstance(at, (int, float)):
        return "never"
    minutes = max(0, int((time.time() - at) // 60))
    return f"{minutes} min ago" if minutes < 120 else f"{minutes // 60} h ago"


@owner_page
async def retrain(request: Request, session: sessions.Session) -> Response:
    """Train now: in the worker process when one runs beside this one, else here, after the
    answer; the page shows the new model when it serves."""
    state = request.app.state
    shop_id = session.shop_id
    serving = await current_model_info(state.redis, shop_id)  # the page waits for another
    if not state.settings.run_worker and await train_requests.worker_is_alive(state.redis):
        await train_requests.ask_worker(state.redis, shop_id, retune=False)
    else:
        task = asyncio.create_task(_train_here(state, shop_id))
        state.background.add(task)
        task.add_done_callback(state.background.discard)
    since = urlencode({"training": "1", "from": serving.version if serving else ""})
    return RedirectResponse(f"/admin/recommendations?{since}", status_code=303)


async def _train_here(state: Any, shop_id: str) -> None:
    try:
        await state.ingestor.drain(shop_id)
        await train_shop(state.redis, shop_id, tuning_seconds=state.settings.tuning_seconds)
    except (NothingToTrain, TimeoutError) as error:
        log.info("retrain from the admin for %r skipped: %s", shop_id, error)


@owner_page
async def save_excluded(request: Request, session: sessions.Session) -> Response:
    form = await request.form()
    raw = [line.strip() for line in str(form.get("product_ids") or "").replace(",", "\n")
           .splitlines() if line.strip()]
    try:
        ids = list(dict.fromkeys(str(id_string(value, "product id")) for value in raw))
    except PayloadError as error:
        return render(request, "error.html", {"message": f"Not saved: {error}"}, status=400)
    if len(ids) > MAX_EXCLUDED:
        return render(request, "error.html", {"message": f"Not saved: at most {MAX_EXCLUDED} "
                                                         "excluded products"}, status=400)
    await replace_excluded(request.app.state.redis, session.shop_id, ids)
    request.app.state.cache.changed(session.shop_id, (changes.BLOCKED, ""))
    return RedirectResponse("/admin/recommendations?saved=1", status_code=303)


@owner_page
async def add_pin(request: Request, session: sessions.Session) -> Response:
    """Pin a product (for one product, or everywhere), until the end of an optional day; the
    same product and place again changes its end."""
    form = await request.form()
    redis = request.app.state.redis
    stored = await pins(redis, session.shop_id)
    try:
        product, where, until = (str(form.get(name) or "").strip()
                                 for name in ("product_id", "for_product_id", "until"))
        pin = new_pin(product, where, until, time.time(), stored)
        places = [p.place for p in stored]
        updated = [pin if p.place == pin.place else p for p in stored] \
            if pin.place in places else [*stored, pin]
        check_pins(updated)
    except ValueError as error:
        return render(request, "error.html", {"message": f"Not pinned: {error}"}, status=400)
    return await _save_pins(request, session.shop_id, updated)


@owner_page
async def remove_pin(request: Request, session: sessions.Session) -> Response:
    form = await request.form()
    place = (str(form.get("product_id") or ""), str(form.get("for_product_id") or "") or None)
    stored = await pins(request.app.state.redis, session.shop_id)
    return await _save_pins(request, session.shop_id, [p for p in stored if p.place != place])


async def _save_pins(request: Request, shop_id: str, updated: list[Pin]) -> Response:
    await replace_pins(request.app.state.redis, shop_id, updated)
    request.app.state.cache.changed(shop_id, (changes.PINS, ""))
    return RedirectResponse("/admin/recommendations?pins=saved#pins-title", status_code=303)
