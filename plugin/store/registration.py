"""Writing a new shop: its config hash and its global index entries, each step within one
Redis Cluster slot.

The shop's config lives in the shop's slot; the domain (and store id) index, the API key and
widget key index and the shops set are global keys in other slots, so no one script may write
them all. The steps, and why a crash between any two reads consistently:

0. Refuse an id whose config exists; mark the registration as under way (keys.registering, in
   the shop's slot, expiring). Two registrations of one id: the second refuses.
1. Claim each domain index entry with `SET NX`. One registration wins a domain; the loser
   releases what it claimed and refuses. An entry naming a shop that has no config and no
   registration under way is left by a registration that died: it is taken over.
2. Add the id to the shops set. An id there without a config is no shop: readers go through
   the config (`list_shops` skips it), and registering the id again makes it whole.
3. Point the API key and widget key at the shop: fresh random keys nobody holds yet; a lookup
   through one finds no config until step 4, so no shop.
4. Create the config, in one script, only if there is none. From here on the shop exists, with
   every index entry already in place.
5. End the mark.

Erasure (plugin.store.erasure) runs the steps backwards: the shops set, then the index
entries, then the config.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum

import redis.asyncio as aioredis

from plugin.store import keys
from plugin.store.connection import text
from plugin.store.scripts import Script


class Outcome(Enum):
    CREATED = "created"
    ID_TAKEN = "id taken"
    DOMAIN_TAKEN = "domain taken"


async def register(redis: aioredis.Redis, shop_id: str, fields: Sequence[str],
                   domains: Sequence[str], lookups: Sequence[str]) -> Outcome:
    """Store a new shop: `fields` (name, value, ...) as its config, `domains` (index keys one
    shop may hold) and `lookups` (index keys of its fresh keys) pointing at it."""
    config, mark = keys.shop_config(shop_id), keys.registering(shop_id)
    if await redis.exists(config) or not await redis.set(
            mark, "1", nx=True, ex=keys.REGISTERING_SECONDS):
        return Outcome.ID_TAKEN
    try:
        return await _register(redis, shop_id, fields, domains, lookups)
    finally:
        await redis.delete(mark)


async def _register(redis: aioredis.Redis, shop_id: str, fields: Sequence[str],
                    domains: Sequence[str], lookups: Sequence[str]) -> Outcome:
    claimed: list[str] = []
    for key in domains:
        if not await _claim(redis, key, shop_id):
            await _release(redis, claimed, shop_id)
            return Outcome.DOMAIN_TAKEN
        claimed.append(key)
    await redis.sadd(keys.SHOPS, shop_id)
    async with redis.pipeline(transaction=False) as pipe:
        for key in lookups:
            pipe.set(key, shop_id)
        await pipe.execute()
    if not await _CREATE(redis, [keys.shop_config(shop_id)], fields):
        await _release(redis, [*claimed, *lookups], shop_id)
        return Outcome.ID_TAKEN
    return Outcome.CREATED


async def _claim(redis: aioredis.Redis, key: str, shop_id: str) -> bool:
    while not await redis.set(key, shop_id, nx=True):
        owner = await redis.get(key)
        if owner is None:
            continue  # released meanwhile: try again
        if text(owner) == shop_id:
            return True  # its own, from an earlier try that died
        if not await _abandoned(redis, text(owner)):
            return False
        if await _TAKE_OVER(redis, [key], [owner, shop_id]):
            return True
    return True


async def _abandoned(redis: aioredis.Redis, owner: str) -> bool:
    """True for an id with neither a config nor a registration under way."""
    if not keys.SHOP_ID_PATTERN.match(owner):
        return False
    found = await redis.exists(keys.shop_config(owner), keys.registering(owner))
    return not found


async def _release(redis: aioredis.Redis, claimed: Sequence[str], shop_id: str) -> None:
    for key in claimed:
        await _DELETE_IF_OWNER(redis, [key], [shop_id])


_CREATE = Script("""
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
""")

_TAKE_OVER = Script("""
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1
""")

_DELETE_IF_OWNER = Script("""
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
""")
