"""Lua scripts by their SHA1 on the real embedded Redis (plugin.store.scripts): loaded again when
the server does not know them, and a pipelined call the server did not know ran nothing."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from redis.exceptions import ResponseError

from plugin.store.scripts import Script, missing
from tests.conftest import Store

INCR = Script("return redis.call('INCRBY', KEYS[1], ARGV[1])")


def counter() -> str:
    return f"test:scripts:{uuid.uuid4().hex}"


def test_a_script_is_named_by_the_sha1_of_its_text() -> None:
    assert INCR.sha == hashlib.sha1(INCR.source.encode()).hexdigest()
    assert Script(INCR.source + " ").sha != INCR.sha


def test_a_call_after_a_script_flush_loads_it_and_runs_once(store: Store) -> None:
    key = counter()

    async def work(redis: Any) -> tuple[int, int, list[bool]]:
        await redis.script_flush()
        first = await INCR(redis, [key], [2])
        await redis.script_flush()
        second = await INCR(redis, [key], [3])
        return first, second, await redis.script_exists(INCR.sha)

    assert store.run(work) == (2, 5, [True])


def test_a_queued_call_the_server_did_not_know_ran_nothing_and_runs_after_load(
        store: Store) -> None:
    key = counter()

    async def work(redis: Any) -> tuple[list[bool], Any, int]:
        await redis.script_flush()
        async with redis.pipeline(transaction=False) as pipe:
            INCR.queue(pipe, [key], [4])
            pipe.get(key)
            replies = await pipe.execute(raise_on_error=False)
        unknown = [missing(reply) for reply in replies]
        await INCR.load(redis)
        async with redis.pipeline(transaction=False) as pipe:
            INCR.queue(pipe, [key], [4])
            again = await pipe.execute(raise_on_error=False)
        return unknown, replies[1], again[0]

    unknown, value_before, value_after = store.run(work)
    assert unknown == [True, False] and value_before is None
    assert value_after == 4


def test_only_an_unknown_script_counts_as_missing(store: Store) -> None:
    broken = Script("return redis.call('NO_SUCH_COMMAND')")

    async def work(redis: Any) -> Any:
        await broken.load(redis)
        async with redis.pipeline(transaction=False) as pipe:
            broken.queue(pipe, [], [])
            return (await pipe.execute(raise_on_error=False))[0]

    reply = store.run(work)
    assert isinstance(reply, ResponseError) and not missing(reply)
    assert not missing(None) and not missing(1)
