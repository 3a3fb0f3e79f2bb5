"""Serving: the current model of each shop, cached in memory, and the display fields of items."""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from plugin import keys
from plugin.storage import text
from recommender.shop_model import Answer, ShopModel


class ModelCache:
    """The serving model per shop. A request checks the published version (one GET) and loads
    a new version once; until a version is published, the previous one keeps serving."""

    def __init__(self, redis: aioredis.Redis, max_shops: int = 64) -> None:
        self.redis = redis
        self.max_shops = max_shops
        self._models: OrderedDict[str, tuple[str, ShopModel]] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}

    async def get(self, shop_id: str) -> tuple[str, ShopModel] | None:
        raw_version = await self.redis.get(keys.model_current(shop_id))
        if raw_version is None:
            return None
        version = text(raw_version)
        cached = self._models.get(shop_id)
        if cached is not None and cached[0] == version:
            self._models.move_to_end(shop_id)
            return cached
        async with self._locks.setdefault(shop_id, asyncio.Lock()):
            cached = self._models.get(shop_id)
            if cached is not None and cached[0] == version:
                return cached
            blob = await self.redis.hget(keys.model(shop_id, version), "arrays")
            if blob is None:  # deleted between GET and HGET: a newer one is published
                return cached
            raw = blob.encode() if isinstance(blob, str) else blob
            model = await asyncio.to_thread(ShopModel.from_bytes, raw)
            self._models[shop_id] = (version, model)
            self._models.move_to_end(shop_id)
            while len(self._models) > self.max_shops:
                self._models.popitem(last=False)
            return version, model

    def forget(self, shop_id: str) -> None:
        self._models.pop(shop_id, None)


async def render_items(
    redis: aioredis.Redis, shop_id: str, currency: str, answer: Answer
) -> list[dict[str, Any]]:
    """API items: id, score, reason, `because` where known, and the catalog's display fields."""
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
            url=product.get("url"),
            image_url=product.get("image_url"),
        )
        if product.get("variant_id"):
            item["variant_id"] = product["variant_id"]
        items.append(item)
    return items


# A recommendation query: the serving model and the products never to show -> an answer.
Query = Callable[[ShopModel, AbstractSet[str]], Answer]


@dataclass(frozen=True)
class Served:
    model_version: str | None
    strategy: str
    items: list[dict[str, Any]]


async def blocked_products(redis: aioredis.Redis, shop_id: str) -> set[str]:
    """Products never shown: unavailable (out of stock, deleted) or excluded by the owner."""
    members = await redis.sunion([keys.unavailable(shop_id), keys.excluded(shop_id)])
    return {text(member) for member in members}


async def serve_query(
    redis: aioredis.Redis, models: ModelCache, shop_id: str, currency: str, query: Query
) -> Served:
    """Run `query` on the shop's serving model with its merchandising filter; display fields
    from the catalog. No model yet: an empty answer with strategy "none"."""
    served = await models.get(shop_id)
    if served is None:
        return Served(None, "none", [])
    version, model = served
    blocked = await blocked_products(redis, shop_id)
    answer = await asyncio.to_thread(query, model, blocked)
    return Served(version, answer.strategy, await render_items(redis, shop_id, currency, answer))
