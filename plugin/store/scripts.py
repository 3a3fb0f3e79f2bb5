"""Lua scripts sent by their SHA1 (EVALSHA): the script's text crosses the wire only when the
server does not know it yet (first use, a restarted Redis, SCRIPT FLUSH)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

Arg = bytes | str | int | float


class Script:
    """One Lua script: call it, or queue it in a pipeline and let `run_queued` send it."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    async def __call__(self, redis: aioredis.Redis, keys: Sequence[str], args: Sequence[Arg]
                       ) -> Any:
        try:
            return await redis.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            await redis.script_load(self.source)
            return await redis.evalsha(self.sha, len(keys), *keys, *args)

    def queue(self, pipe: aioredis.client.Pipeline, keys: Sequence[str], args: Sequence[Arg]
              ) -> None:
        """Add a call to `pipe` (its reply is a NoScriptError if the server lacks the script:
        `missing` finds those, which ran nothing and can be sent again after `load`)."""
        # through execute_command: redis-py's Redis Cluster pipeline blocks its `evalsha`
        # method, yet sends the same command to the node of its keys (named by numkeys)
        pipe.execute_command("EVALSHA", self.sha, len(keys), *keys, *args)

    async def load(self, redis: aioredis.Redis) -> None:
        await redis.script_load(self.source)


def missing(reply: Any) -> bool:
    """A pipelined reply saying the server did not know the script (nothing ran)."""
    return isinstance(reply, NoScriptError)
