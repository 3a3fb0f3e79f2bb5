"""Durable, deduplicated append of an accepted webhook to the shop's event stream."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

import redis.asyncio as aioredis

from plugin.store import keys
from plugin.store.connection import text

# Checked, appended and marked in one atomic step: a delivery is either in the stream and
# marked seen, or neither (the platform's retry then gets a second chance).
_APPEND_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HINCRBY', KEYS[3], 'duplicates', 1)
  return false
end
local id = redis.call('XADD', KEYS[2], '*', unpack(ARGV, 2))
redis.call('SET', KEYS[1], id, 'EX', ARGV[1])
redis.call('HINCRBY', KEYS[3], 'accepted', 1)
return id
"""


@dataclass(frozen=True)
class Event:
    platform: str
    topic: str
    delivery_id: str
    body: bytes
    triggered_at: str = ""
    api_version: str = ""

    def fields(self) -> dict[str, bytes | str]:
        return {
            "platform": self.platform,
            "topic": self.topic,
            "delivery_id": self.delivery_id,
            "received_at": repr(time.time()),
            "triggered_at": self.triggered_at,
            "api_version": self.api_version,
            "body": self.body,
        }

    @classmethod
    def from_fields(cls, fields: dict[bytes, bytes]) -> Event:
        named = {text(k): v for k, v in fields.items()}
        return cls(
            platform=text(named["platform"]),
            topic=text(named["topic"]),
            delivery_id=text(named["delivery_id"]),
            body=named["body"],
            triggered_at=text(named.get("triggered_at", b"")),
            api_version=text(named.get("api_version", b"")),
        )


def fallback_delivery_id(topic: str, body: bytes) -> str:
    """For a delivery without an id header: the same topic and body is the same delivery."""
    return "sha256:" + hashlib.sha256(topic.encode() + b"\n" + body).hexdigest()


async def append(redis: aioredis.Redis, shop_id: str, event: Event) -> str | None:
    """Store the event durably; its stream id, or None if this delivery was already accepted."""
    argv: list[bytes | str | int] = [keys.DEDUPE_TTL_SECONDS]
    for name, value in event.fields().items():
        argv += [name, value]
    stream_id = await redis.eval(
        _APPEND_SCRIPT,
        3,
        keys.seen_delivery(shop_id, event.delivery_id),
        keys.events(shop_id),
        keys.stats(shop_id),
        *argv,
    )
    return text(stream_id) if stream_id else None
