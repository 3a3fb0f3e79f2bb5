"""A shop's API keys: several named keys, each with scopes, created, listed (the secret is
shown once, only its sha256 is stored), rotated with an overlap and revoked; last use noted.

The key `shops add` printed is the shop's `default` key (all scopes: `admin`), kept in the
config hash's `api_key_hash` as before. Named keys are a JSON list in the same hash's
`api_keys` field, so every process's shop cache (plugin.store.cache) sees a change as it sees
any change of the shop: within REFRESH_SECONDS. Each key's hash is also indexed to its shop
(keys.api_key_index), which lets the check tell "another shop's key" from "no key". That index
is global (another Redis Cluster slot than the shop's), so it is written after the shop's own
transaction: an entry always names a key the config already holds (the check rereads the shop
when it finds one of its own), a crash in between only leaves a hint missing or a revoked key's
hint behind (the config still refuses the key), and the next change of the shop's keys writes
every live key's entry again.

Rotation: a new key with the same name and scopes, the old one kept until `expires_at` (an
overlap for deployments to switch); revoking ends a key at once (in every process within the
cache bound). Keys past their end are refused and dropped at the next change.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import WatchError

from plugin.store import changes, keys
from plugin.store.connection import text

SCOPES = ("recommendations:read", "lifecycle:read", "catalog:read", "catalog:write",
          "events:write", "privacy", "admin")
ADMIN = "admin"  # every scope
DEFAULT_KEY_ID = "default"
MAX_KEYS = 50
MAX_NAME = 80
MAX_OVERLAP_SECONDS = 30 * 86400
USE_NOTE_SECONDS = 60.0  # last use is written at most this often per key and process


class ApiKeyError(ValueError):
    """A key cannot be made or changed as asked; the message says why."""


class UnknownKey(ApiKeyError):
    """No such key (of this shop)."""


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    name: str
    scopes: tuple[str, ...]
    key_hash: str
    created_at: float
    expires_at: float | None = None  # rotated: works until then

    def allows(self, scope: str | None) -> bool:
        return scope is None or ADMIN in self.scopes or scope in self.scopes

    def live(self, now: float) -> bool:
        return self.expires_at is None or now < self.expires_at

    def public(self, last_used_at: float | None) -> dict[str, Any]:
        """What listing shows: never the secret nor its hash."""
        return {"key_id": self.key_id, "name": self.name, "scopes": list(self.scopes),
                "created_at": self.created_at, "expires_at": self.expires_at,
                "last_used_at": last_used_at}


@dataclass(frozen=True)
class NewKey:
    key: ApiKey
    secret: str  # shown once

    def __repr__(self) -> str:  # never the secret in a log line
        return f"NewKey({self.key.key_id!r}, {self.key.name!r})"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return "sk_" + secrets.token_urlsafe(32)


def parse_scopes(raw: Iterable[Any]) -> tuple[str, ...]:
    found = []
    for scope in raw:
        if scope not in SCOPES:
            raise ApiKeyError(f"unknown scope {scope!r}; scopes are {', '.join(SCOPES)}")
        if scope not in found:
            found.append(scope)
    if not found:
        raise ApiKeyError(f"a key needs at least one scope of {', '.join(SCOPES)}")
    return tuple(found)


def parse_name(raw: Any) -> str:
    if not isinstance(raw, str) or not raw.strip() or len(raw) > MAX_NAME \
            or any(ord(c) < 32 for c in raw):
        raise ApiKeyError(f"a key's name is 1 to {MAX_NAME} printable characters, got {raw!r}")
    return raw.strip()


def shop_keys(fields: Mapping[str, str]) -> tuple[ApiKey, ...]:
    """The keys of a shop's config hash (decoded): the default key first, then named ones."""
    found = []
    if fields.get("api_key_hash"):
        found.append(ApiKey(DEFAULT_KEY_ID, DEFAULT_KEY_ID, (ADMIN,), fields["api_key_hash"],
                            float(fields.get("created_at") or 0.0)))
    for entry in json.loads(fields.get("api_keys") or "[]"):
        found.append(ApiKey(entry["key_id"], entry["name"], tuple(entry["scopes"]),
                            entry["key_hash"], float(entry["created_at"]),
                            entry.get("expires_at")))
    return tuple(found)


def find_key(api_keys: Sequence[ApiKey], secret: str, now: float) -> ApiKey | None:
    digest = hash_secret(secret)
    for key in api_keys:
        if secrets.compare_digest(key.key_hash, digest) and key.live(now):
            return key
    return None


# ---- changes --------------------------------------------------------------------------------


async def create_key(redis: aioredis.Redis, shop_id: str, name: Any, scopes: Iterable[Any],
                     now: float | None = None) -> NewKey:
    made = ApiKey("key_" + secrets.token_hex(6), parse_name(name), parse_scopes(scopes), "",
                  time.time() if now is None else now)
    return _made(await _change(redis, shop_id, lambda found: (list(found), made, None)))


async def rotate_key(redis: aioredis.Redis, shop_id: str, key_id: str, overlap_seconds: float,
                     now: float | None = None) -> NewKey:
    """A new key in place of `key_id` (same name and scopes); the old one keeps working for
    `overlap_seconds` (0: it stops now)."""
    if not 0 <= overlap_seconds <= MAX_OVERLAP_SECONDS:
        raise ApiKeyError(f"the overlap is 0 to {MAX_OVERLAP_SECONDS} seconds, got "
                        f"{overlap_seconds!r}")
    at = time.time() if now is None else now

    def rotate(found: list[ApiKey]) -> tuple[list[ApiKey], ApiKey, ApiKey | None]:
        old = _named(found, key_id, shop_id)
        made = ApiKey(old.key_id if old.key_id == DEFAULT_KEY_ID else "key_" +
                      secrets.token_hex(6), old.name, old.scopes, "", at)
        kept = [k for k in found if k.key_id != key_id]
        if overlap_seconds > 0:  # the old one stays, renamed if it was the default
            kept.append(replace(old, key_id="key_" + secrets.token_hex(6)
                                if old.key_id == DEFAULT_KEY_ID else old.key_id,
                                expires_at=at + overlap_seconds))
        return kept, made, None if overlap_seconds > 0 else old

    return _made(await _change(redis, shop_id, rotate))


def _made(new: NewKey | None) -> NewKey:
    if new is None:
        raise AssertionError("the change made no key")
    return new


async def revoke_key(redis: aioredis.Redis, shop_id: str, key_id: str) -> ApiKey:
    """End `key_id` now; the key it was."""
    revoked: list[ApiKey] = []

    def revoke(found: list[ApiKey]) -> tuple[list[ApiKey], None, ApiKey]:
        old = _named(found, key_id, shop_id)
        revoked.append(old)
        return [k for k in found if k.key_id != key_id], None, old

    await _change(redis, shop_id, revoke)
    return revoked[0]


def _named(found: Sequence[ApiKey], key_id: str, shop_id: str) -> ApiKey:
    for key in found:
        if key.key_id == key_id:
            return key
    raise UnknownKey(f"shop {shop_id!r} has no API key {key_id!r}")


Change = Callable[[list[ApiKey]], tuple[list[ApiKey], ApiKey | None, ApiKey | None]]


async def _change(redis: aioredis.Redis, shop_id: str, change: Change) -> NewKey | None:
    """Apply `change(keys) -> (keys, made, dropped)` to the shop's keys atomically (WATCH on
    its config hash); `made` gets its secret here. The NewKey of `made`, if any."""
    config = keys.shop_config(shop_id)
    while True:
        async with redis.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(config)
                raw = await pipe.hgetall(config)
                if not raw:
                    raise ApiKeyError(f"shop {shop_id!r} does not exist")
                fields = {text(k): text(v) for k, v in raw.items()}
                now = time.time()
                found = [k for k in shop_keys(fields) if k.live(now)]
                gone = [k for k in shop_keys(fields) if not k.live(now)]
                kept, made, dropped = change(found)
                secret = None
                if made is not None:
                    secret = new_secret()
                    made = replace(made, key_hash=hash_secret(secret))
                    kept.append(made)
                if len(kept) > MAX_KEYS:
                    raise ApiKeyError(f"a shop has at most {MAX_KEYS} API keys; revoke one first")
                pipe.multi()  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
                _write(pipe, shop_id, fields, kept)
                await pipe.execute()
            except WatchError:
                continue
        await write_index(redis, shop_id, kept, [*gone, *([dropped] if dropped else [])])
        return None if made is None or secret is None else NewKey(made, secret)


def _write(pipe: Any, shop_id: str, fields: Mapping[str, str], kept: Sequence[ApiKey]) -> None:
    config = keys.shop_config(shop_id)
    default = [k for k in kept if k.key_id == DEFAULT_KEY_ID]
    named = [asdict(k) for k in kept if k.key_id != DEFAULT_KEY_ID]
    pipe.hset(config, mapping={"api_key_hash": default[0].key_hash if default else "",
                               "api_keys": json.dumps(named)})
    changes.note(pipe, shop_id, (changes.SHOP, ""))


async def write_index(redis: aioredis.Redis, shop_id: str, kept: Sequence[ApiKey],
                      dropped: Sequence[ApiKey]) -> None:
    """Point each kept key's hash at the shop and drop the dropped ones' entries: one key each,
    after the shop's config is written (see the module's note on the order)."""
    async with redis.pipeline(transaction=False) as pipe:
        for key in dropped:
            if key.key_hash:
                pipe.delete(keys.api_key_index(key.key_hash))
        for key in kept:
            pipe.set(keys.api_key_index(key.key_hash), shop_id)
        await pipe.execute()


# ---- last use ---------------------------------------------------------------------------------


async def note_use(redis: aioredis.Redis, shop_id: str, key_id: str, at: float) -> None:
    await redis.hset(keys.api_key_use(shop_id), key_id, repr(round(at, 3)))


async def last_uses(redis: aioredis.Redis, shop_id: str) -> dict[str, float]:
    raw = await redis.hgetall(keys.api_key_use(shop_id))
    return {text(k): float(text(v)) for k, v in raw.items()}


async def listed(redis: aioredis.Redis, shop_id: str) -> list[dict[str, Any]]:
    """The shop's live keys as `public()` shows them, with their last use."""
    raw = await redis.hgetall(keys.shop_config(shop_id))
    if not raw:
        raise ApiKeyError(f"shop {shop_id!r} does not exist")
    fields = {text(k): text(v) for k, v in raw.items()}
    used = await last_uses(redis, shop_id)
    now = time.time()
    return [k.public(used.get(k.key_id)) for k in shop_keys(fields) if k.live(now)]
