"""Training asked for through the API, done by the worker process when there is one.

`shopreco serve --workers N` runs the web processes without ingestion or training
(SHOPRECO_RUN_WORKER=false) and one worker process beside them. A web process that is asked to
train (`POST .../model/train`) then hands the request to the worker instead of training
between its own requests: it pushes the request on one list (keys.TRAIN_REQUESTS), a worker
takes it (BLPOP: exactly one worker, however many run), drains the shop's accepted events,
trains, and pushes its answer on the request's own reply list, which the web process waits on
when the caller asked to wait. A live worker keeps keys.TRAINER_ALIVE set (it expires
ALIVE_SECONDS after the worker stops); without one the web process trains itself, as a
single `shopreco serve` process always does.

A worker killed while training leaves its request unanswered: the waiting call then ends in
TimeoutError (503) and the shop's untrained changes are trained by the next worker's
auto-trainer as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import TimeoutError as RedisTimeoutError

from plugin.engine.training import NothingToTrain, train_shop
from plugin.store import keys
from plugin.store.connection import UNAVAILABLE, text
from plugin.store.models import ModelInfo

log = logging.getLogger(__name__)

ALIVE_SECONDS = 5  # how long a worker's sign of life lasts; it renews it every second
REPLY_SECONDS = 600  # an answer nobody collected is dropped after this
POLL_SECONDS = 0.5


async def worker_is_alive(redis: aioredis.Redis) -> bool:
    return bool(await redis.exists(keys.TRAINER_ALIVE))


async def ask_worker(redis: aioredis.Redis, shop_id: str, retune: bool) -> str:
    """Queue a training of the shop for a worker; the request id to wait on."""
    request_id = uuid.uuid4().hex
    await redis.rpush(keys.TRAIN_REQUESTS, json.dumps(
        {"id": request_id, "shop_id": shop_id, "retune": retune, "asked_at": time.time()}))
    return request_id


async def worker_answer(redis: aioredis.Redis, shop_id: str, request_id: str,
                        timeout: float) -> ModelInfo:
    """The model the worker trained for the request. NothingToTrain as the worker raised it;
    TimeoutError when no answer came within `timeout` seconds or the worker timed out."""
    deadline = time.monotonic() + timeout
    reply_key = keys.train_reply(shop_id, request_id)
    while (left := deadline - time.monotonic()) > 0:
        try:  # short BLPOPs, each well inside the connection's socket timeout (2 s)
            popped = await redis.blpop([reply_key], timeout=max(0.1, min(POLL_SECONDS, left)))
        except RedisTimeoutError:  # a slow Redis: ask again until the deadline
            continue
        if popped is None:
            continue
        answer = json.loads(text(popped[1]))
        if answer.get("error") == "nothing to train":
            raise NothingToTrain(answer["message"])
        if "error" in answer:
            raise TimeoutError(answer["message"])
        return ModelInfo(answer["version"], answer["meta"])
    raise TimeoutError(f"the worker did not finish training shop {shop_id!r} within "
                       f"{timeout:.0f} s; it goes on, GET .../model shows when it serves")


class TrainRequests:
    """A worker's side: keep the sign of life, take requests, drain, train, answer."""

    def __init__(self, redis: aioredis.Redis, drain: Callable[[str], Awaitable[None]],
                 tuning_seconds: float) -> None:
        self.redis, self.drain, self.tuning_seconds = redis, drain, tuning_seconds

    async def run(self, stop: asyncio.Event) -> None:
        alive = asyncio.create_task(self._keep_alive(stop))
        try:
            while not stop.is_set():
                try:
                    popped = await self.redis.blpop([keys.TRAIN_REQUESTS], timeout=POLL_SECONDS)
                    if popped is not None:
                        await self.handle(json.loads(text(popped[1])))
                except (ValueError, KeyError, TypeError) as error:  # not one of our requests
                    log.warning("train requests: skipped an unreadable request (%s)",
                                type(error).__name__)
                except UNAVAILABLE as error:
                    log.warning("train requests: Redis unavailable (%s); retrying",
                                type(error).__name__)
                    await asyncio.sleep(POLL_SECONDS)
                except Exception:  # the loop outlives anything (webhooks.ingest.Ingestor.run)
                    log.exception("train requests: a round failed; retrying")
                    await asyncio.sleep(POLL_SECONDS)
        finally:
            alive.cancel()
            await asyncio.gather(alive, return_exceptions=True)
            await self.redis.delete(keys.TRAINER_ALIVE)

    async def _keep_alive(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(Exception):  # run() reports Redis being away
                await self.redis.set(keys.TRAINER_ALIVE, "1", ex=ALIVE_SECONDS)
            await asyncio.sleep(POLL_SECONDS)

    async def handle(self, request: dict[str, Any]) -> None:
        shop_id = str(request["shop_id"])
        answer: dict[str, Any]
        try:
            await self.drain(shop_id)
            info = await train_shop(self.redis, shop_id, tuning_seconds=self.tuning_seconds,
                                    retune=bool(request.get("retune")))
            answer = {"version": info.version, "meta": info.meta}
            log.info("trained shop %r for a training request (model %s)", shop_id, info.version)
        except NothingToTrain as error:
            answer = {"error": "nothing to train", "message": str(error)}
        except TimeoutError as error:
            answer = {"error": "timeout", "message": str(error)}
        except UNAVAILABLE:
            raise
        except Exception:  # one shop's failure must not stop the worker
            log.exception("training shop %r for a training request failed", shop_id)
            answer = {"error": "failed", "message": f"training shop {shop_id!r} failed; the "
                                                    "worker's log has the reason"}
        reply_key = keys.train_reply(shop_id, str(request["id"]))
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.rpush(reply_key, json.dumps(answer))
            pipe.expire(reply_key, REPLY_SECONDS)
            await pipe.execute()
