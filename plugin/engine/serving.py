"""Serving: a query run on the shop's serving model with its merchandising filter, answered with
the catalog's display fields."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from plugin.engine.queries import Query
from plugin.store import keys
from plugin.store.models import ModelCache
from plugin.store.records import blocked_products
from plugin.store.urls import safe_http_url
from recommender.shop_model import Answer, ShopModel


async def render_items(
    redis: aioredis.Redis, shop_id: str, currency: str, answer: Answer
) -> list[dict[str, Any]]:
    """API items: id, score, reason, `because` where known, and the catalog's display fields;
    `url` and `image_url` only as absolute http(s) URLs (plugin.store.urls), else None."""
    if not answer.items:
        return []
    raw = await redis.hmget(keys.products(shop_id), [r.product_id for r in answer.items])
    items = []
    for rec, entry in zip(answer.items, raw, strict=True):
        product = json.loads(entry) if entry else {}
        item: dict[str, Any] = {
            "product_id": rec.product_id,
            "score": round(rec.score, 6),
            "reason": rec.reason,
        }
        if rec.because:
            item["because"] = list(rec.because)
        item.update(
            title=product.get("title"),
            price=product.get("price"),
            currency=currency,
            url=safe_http_url(product.get("url")),
            image_url=safe_http_url(product.get("image_url")),
        )
        if product.get("variant_id"):
            item["variant_id"] = product["variant_id"]
        items.append(item)
    return items


@dataclass(frozen=True)
class Served:
    model_version: str | None
    strategy: str
    items: list[dict[str, Any]]


async def serve_query(
    redis: aioredis.Redis, models: ModelCache, shop_id: str, currency: str, query: Query
) -> Served:
    """Run `query` on the shop's serving model with its merchandising filter; display fields
    from the catalog. No model yet: an empty answer with strategy "none"."""
    serving = await _model_and_filter(redis, models, shop_id)
    if serving is None:
        return Served(None, "none", [])
    version, model, blocked = serving
    answer = await asyncio.to_thread(query.run, model, blocked)
    return Served(version, answer.strategy, await render_items(redis, shop_id, currency, answer))


async def serve_many(
    redis: aioredis.Redis, models: ModelCache, shop_id: str, currency: str,
    queries: Sequence[Query],
) -> tuple[str | None, list[list[dict[str, Any]]]]:
    """Several queries on one serving model and one merchandising filter (a page of a feed):
    the model version and each query's items, in order."""
    serving = await _model_and_filter(redis, models, shop_id)
    if serving is None:
        return None, [[] for _ in queries]
    version, model, blocked = serving
    answers = await asyncio.to_thread(_run_all, queries, model, blocked)
    return version, [await render_items(redis, shop_id, currency, a) for a in answers]


async def _model_and_filter(
    redis: aioredis.Redis, models: ModelCache, shop_id: str
) -> tuple[str, ShopModel, set[str]] | None:
    """The serving model's version, the model, and the products never to show; None before
    the shop's first model."""
    served = await models.get(shop_id)
    if served is None:
        return None
    return served[0], served[1], await blocked_products(redis, shop_id)


def _run_all(queries: Sequence[Query], model: ShopModel, blocked: set[str]) -> list[Answer]:
    return [query.run(model, blocked) for query in queries]
