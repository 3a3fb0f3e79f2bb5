"""Dead letters: events the worker gave up on, listed for a person and replayed once fixed.

The worker (webhooks/ingest.py) moves an event to the shop's dead-letter stream with the error
and the attempts it took. Replaying appends the original event fields to the shop's event
stream as a new entry (the delivery's dedupe marker is already set, so it is not consulted) and
removes the dead letter, both in one Lua script: an event is in one of the two streams, never in
both and never in neither.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Final, Literal

import redis.asyncio as aioredis

from plugin.store import keys
from plugin.store.connection import text
from plugin.store.shops import get_shop

ALL: Final = "all"
PAGE = 500
# Fields the worker adds beside the event's own when it dead-letters it.
_FAILURE_FIELDS = ("event_id", "error", "attempts")

# KEYS: dead-letter stream, event stream, stats. ARGV: the dead-letter ids of one event, the
# first one's fields re-appended, without the order the receiver made of the body: a replay is
# parsed again from its body, by the code of today. Returns the new event id, or false if that
# entry is gone.
_REPLAY_SCRIPT = """
local entries = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if #entries == 0 then return false end
local fields, event, replays = entries[1][2], {}, 0
for i = 1, #fields, 2 do
  local name = fields[i]
  if name == 'replays' then
    replays = tonumber(fields[i + 1]) or 0
  elseif name ~= 'event_id' and name ~= 'error' and name ~= 'attempts' and name ~= 'order' then
    event[#event + 1] = name
    event[#event + 1] = fields[i + 1]
  end
end
event[#event + 1] = 'replays'
event[#event + 1] = tostring(replays + 1)
local id = redis.call('XADD', KEYS[2], '*', unpack(event))
redis.call('XDEL', KEYS[1], unpack(ARGV))
redis.call('HINCRBY', KEYS[3], 'replayed', 1)
return id
"""


class DeadLetterError(ValueError):
    """A dead-letter request names a shop or event that does not exist."""


async def list_dead(
    redis: aioredis.Redis, shop_id: str, limit: int = 50, with_body: bool = False
) -> list[dict[str, Any]]:
    """The shop's oldest `limit` dead letters: event_id (the id `replay_dead` takes),
    dead_letter_id, platform, topic, delivery_id, error, attempts, replays, received_at and
    failed_at (epoch seconds); the raw body (as text) only `with_body`."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    await _require_shop(redis, shop_id)
    entries: Any = await redis.xrange(keys.dead_letters(shop_id), count=limit)
    return [_describe(entry_id, fields, with_body) for entry_id, fields in entries]


async def count_dead(redis: aioredis.Redis, shop_id: str) -> int:
    return int(await redis.xlen(keys.dead_letters(shop_id)))


async def replay_dead(
    redis: aioredis.Redis, shop_id: str, event_ids: Collection[str] | Literal["all"]
) -> int:
    """Put dead-lettered events back into the shop's event stream for the worker; the number
    replayed. `event_ids` are the event_id values `list_dead` shows, or ALL. Unknown ids are
    refused (DeadLetterError) before anything is replayed."""
    await _require_shop(redis, shop_id)
    by_event = await _dead_letter_ids_by_event(redis, shop_id)
    if isinstance(event_ids, str):
        if event_ids != ALL:
            raise ValueError(f"event_ids must be a collection of event ids or {ALL!r}")
        chosen = list(by_event)
    else:
        chosen = list(dict.fromkeys(event_ids))
        unknown = [event_id for event_id in chosen if event_id not in by_event]
        if unknown:
            raise DeadLetterError(
                f"shop {shop_id!r} has no dead letter for event {', '.join(unknown)}; "
                f"`shopreco dead-letters list {shop_id}` shows the event_id of each"
            )
    replayed = 0
    for event_id in chosen:
        replayed += await _replay_one(redis, shop_id, by_event[event_id])
    return replayed


async def _replay_one(redis: aioredis.Redis, shop_id: str, dead_letter_ids: list[str]) -> int:
    new_id = await redis.eval(
        _REPLAY_SCRIPT, 3, keys.dead_letters(shop_id), keys.events(shop_id),
        keys.stats(shop_id), *dead_letter_ids,
    )
    return 0 if new_id is None else 1  # gone: replayed meanwhile by someone else


async def _dead_letter_ids_by_event(redis: aioredis.Redis, shop_id: str) -> dict[str, list[str]]:
    """Event id -> its dead-letter entries, oldest first (a worker that crashed between
    dead-lettering and acknowledging leaves one event dead-lettered twice)."""
    by_event: dict[str, list[str]] = {}
    start = "-"
    while True:
        entries: Any = await redis.xrange(keys.dead_letters(shop_id), min=start, count=PAGE)
        for entry_id, fields in entries:
            event_id = text(fields.get(b"event_id", entry_id))
            by_event.setdefault(event_id, []).append(text(entry_id))
        if len(entries) < PAGE:
            return by_event
        start = "(" + text(entries[-1][0])


def _describe(entry_id: bytes, fields: dict[bytes, bytes], with_body: bool) -> dict[str, Any]:
    named = {text(name): value for name, value in fields.items()}

    def field(name: str) -> str:
        return text(named.get(name, b""))

    described: dict[str, Any] = {
        "event_id": field("event_id"),
        "dead_letter_id": text(entry_id),
        "platform": field("platform"),
        "topic": field("topic"),
        "delivery_id": field("delivery_id"),
        "error": field("error"),
        "attempts": int(field("attempts") or 0),
        "replays": int(field("replays") or 0),
        "received_at": float(field("received_at")) if field("received_at") else None,
        "failed_at": int(text(entry_id).split("-")[0]) / 1000,
    }
    if with_body:
        described["body"] = text(named.get("body", b""))
    return described


async def _require_shop(redis: aioredis.Redis, shop_id: str) -> None:
    if await get_shop(redis, shop_id) is None:
        raise DeadLetterError(f"no shop {shop_id!r}; see `shopreco shops list`")


