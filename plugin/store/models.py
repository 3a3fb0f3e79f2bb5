"""The model registry: each shop's trained model versions in Redis, the one that serves, the
lock that keeps two writers apart (each process's serving copy: plugin.store.cache)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from plugin.store import changes, keys
from plugin.store.connection import text
from recommender.shop_model import ShopModel

_RELEASE_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True)
class ModelInfo:
    version: str
    meta: dict[str, Any]


@contextlib.asynccontextmanager
async def model_lock(redis: aioredis.Redis, shop_id: str, wait: float) -> AsyncIterator[None]:
    """Hold the shop's model lock for the block (training, or rewriting models on erasure);
    TimeoutError if another holder keeps it longer than `wait` seconds."""
    token = secrets.token_hex(8)
    deadline = time.monotonic() + wait
    while not await redis.set(keys.train_lock(shop_id), token, nx=True,
                              ex=keys.TRAIN_LOCK_SECONDS):
        if time.monotonic() > deadline:
            raise TimeoutError(f"shop {shop_id!r} is already training; try again later")
        await asyncio.sleep(0.2)
    try:
        yield
    finally:
        await redis.eval(_RELEASE_LOCK, 1, keys.train_lock(shop_id), token)


async def publish_model(
    redis: aioredis.Redis, shop_id: str, blob: bytes, meta: dict[str, Any]
) -> ModelInfo:
    """Store the new version, then switch `current` to it; keep only it and the previous one."""
    version = str(await redis.incr(keys.model_sequence(shop_id)))
    meta = {"version": version, **meta}
    previous = await redis.get(keys.model_current(shop_id))
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(keys.model(shop_id, version), mapping={"arrays": blob, "meta": json.dumps(meta)})
        pipe.set(keys.model_current(shop_id), version)
        changes.note(pipe, shop_id, (changes.MODEL, version))
        await pipe.execute()
    keep = {version, text(previous) if previous else None}
    async for key in redis.scan_iter(match=keys.model(shop_id, "*"), count=100):
        if text(key).rsplit(":", 1)[1] not in keep:
            await redis.delete(key)
    return ModelInfo(version, meta)


async def current_model_info(redis: aioredis.Redis, shop_id: str) -> ModelInfo | None:
    version = await redis.get(keys.model_current(shop_id))
    if version is None:
        return None
    meta = await redis.hget(keys.model(shop_id, text(version)), "meta")
    return ModelInfo(text(version), json.loads(meta) if meta else {})


async def model_keys(redis: aioredis.Redis, shop_id: str) -> list[str]:
    """The Redis keys of every stored version of the shop's model."""
    return [text(key) async for key in
            redis.scan_iter(match=keys.model(shop_id, "*"), count=100)]


async def load_model(redis: aioredis.Redis, key: str) -> ShopModel | None:
    blob: Any = await redis.hget(key, "arrays")
    return None if blob is None else await asyncio.to_thread(ShopModel.from_bytes, blob)
