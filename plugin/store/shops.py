"""Shops: registration, lookup by domain / API key / widget key, stored in Redis."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import WatchError

from plugin.config import Secret
from plugin.store import changes, keys, registration, sealing
from plugin.store.api_keys import ApiKey, find_key, shop_keys
from plugin.store.connection import text
from plugin.store.experiments import Experiment, parse_running, parse_serving

PLATFORMS = ("shopify", "woocommerce", "ecwid", "bigcommerce", "custom")
# Where each platform's webhooks go: one URL for all shops (the shop is named in the
# delivery) or one per shop.
SHARED_WEBHOOK_URL = frozenset({"shopify", "ecwid"})
# Standard Webhooks platforms get a `whsec_` secret when none is given.
STANDARD_WEBHOOKS = frozenset({"bigcommerce", "custom"})


DEFAULT_LOCALE = "en-US"
_ORIGIN = re.compile(r"^https?://[a-z0-9.-]+(:[0-9]{1,5})?\Z")
_LOCALE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*\Z")


class ShopError(ValueError):
    """A shop cannot be registered as asked; the message says why."""


@dataclass(frozen=True)
class PlatformAccess:
    """How shopreco reaches the shop's platform API (fetches, backfill), if it may.

    store_ref: the platform's own store id (Ecwid storeId, BigCommerce store hash).
    api_base: the API root, e.g. https://my-shop.example/wp-json/wc/v3; platform default if "".
    api_user: WooCommerce consumer key. api_token: access token / consumer secret.
    """

    store_ref: str = ""
    api_base: str = ""
    api_user: str = ""
    api_token: Secret = field(default_factory=lambda: Secret(""))


@dataclass(frozen=True)
class Shop:
    shop_id: str
    platform: str
    domain: str
    storefront_url: str
    currency: str
    webhook_secrets: tuple[Secret, ...]  # current first, then the previous during rotation
    widget_key: str
    api_key_hash: str
    created_at: float
    access: PlatformAccess = field(default_factory=PlatformAccess)
    locale: str = DEFAULT_LOCALE
    origins: tuple[str, ...] = ()  # storefront origins allowed by the widget's CORS
    uninstalled_at: float | None = None  # the platform app was removed: no work, no answers
    api_keys: tuple[ApiKey, ...] = ()  # the default key (api_key_hash) first, then named ones
    api_rate_per_minute: int | None = None  # calls per key and minute; None: the setting's
    experiments: tuple[Experiment, ...] = ()  # the running ones (plugin.store.experiments)
    serving: tuple[tuple[str, str], ...] = ()  # (placement or "*", shipped strategy)

    def api_key(self, secret: str, now: float | None = None) -> ApiKey | None:
        """The live key this secret is, if any (plugin.store.api_keys)."""
        named = self.api_keys or shop_keys({"api_key_hash": self.api_key_hash})
        return find_key(named, secret, time.time() if now is None else now)

    def accepts_api_key(self, api_key: str) -> bool:
        return self.api_key(api_key) is not None


@dataclass(frozen=True)
class NewShop:
    """What `shops add` shows once: the only time the API key is visible."""

    shop: Shop
    api_key: str = field(repr=False)  # never in a log line or an error
    webhook_url: str = ""

    def as_public_json(self) -> dict[str, str]:
        return {
            "shop_id": self.shop.shop_id,
            "platform": self.shop.platform,
            "domain": self.shop.domain,
            "api_key": self.api_key,
            "widget_key": self.shop.widget_key,
            "webhook_url": self.webhook_url,
            "webhook_secret": self.shop.webhook_secrets[0].reveal(),
        }


def hash_api_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def webhook_url(public_url: str, platform: str, shop_id: str) -> str:
    base = f"{public_url.rstrip('/')}/webhooks/{platform}"
    return base if platform in SHARED_WEBHOOK_URL else f"{base}/{shop_id}"


def new_webhook_secret(platform: str) -> str:
    if platform in STANDARD_WEBHOOKS:
        return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    return secrets.token_hex(32)


async def add_shop(
    redis: aioredis.Redis,
    shop_id: str,
    platform: str,
    domain: str,
    public_url: str,
    webhook_secret: str | None = None,
    storefront_url: str | None = None,
    currency: str = "USD",
    access: PlatformAccess | None = None,
    locale: str = DEFAULT_LOCALE,
    origins: Sequence[str] = (),
) -> NewShop:
    """Register a shop (a taken id or domain is refused); the API key is returned, its hash kept."""
    if platform not in PLATFORMS:
        raise ShopError(f"platform must be one of {', '.join(PLATFORMS)}, got {platform!r}")
    if not keys.SHOP_ID_PATTERN.match(shop_id):
        raise ShopError(
            f"shop id must be 1-63 lower-case letters, digits, '-' or '_', got {shop_id!r}"
        )
    domain = domain.strip().lower()
    if not domain:
        raise ShopError("--domain is required: the shop's domain as the platform sends it")
    if webhook_secret is not None and not webhook_secret:
        raise ShopError("--webhook-secret must not be empty")
    api_key = "sk_" + secrets.token_urlsafe(32)
    shop = Shop(
        shop_id=shop_id,
        platform=platform,
        domain=domain,
        storefront_url=(storefront_url or f"https://{domain}").rstrip("/"),
        currency=currency.upper(),
        webhook_secrets=(Secret(webhook_secret or new_webhook_secret(platform)),),
        widget_key="wk_" + secrets.token_urlsafe(16),
        api_key_hash=hash_api_key(api_key),
        created_at=time.time(),
        access=access or PlatformAccess(),
        locale=parse_locale(locale),
        origins=tuple(dict.fromkeys(parse_origin(o) for o in origins)),
    )
    await _store_new_shop(redis, shop)
    url = webhook_url(public_url, platform, shop_id)
    return NewShop(shop=shop, api_key=api_key, webhook_url=url)


async def _store_new_shop(redis: aioredis.Redis, shop: Shop) -> None:
    domains = [keys.domain_index(shop.platform, shop.domain)]
    if shop.access.store_ref:
        domains.append(keys.domain_index(shop.platform, shop.access.store_ref))
    lookups = [keys.api_key_index(shop.api_key_hash), keys.widget_key_index(shop.widget_key)]
    # each step within one cluster slot, in an order a crash cannot make inconsistent
    outcome = await registration.register(redis, shop.shop_id, _config_fields(shop), domains,
                                          lookups)
    if outcome is registration.Outcome.ID_TAKEN:
        raise ShopError(f"shop {shop.shop_id!r} already exists")
    if outcome is registration.Outcome.DOMAIN_TAKEN:
        raise ShopError(
            f"{shop.platform} store {shop.domain!r} (or its store id) is already registered "
            "to another shop"
        )
    await changes.note(redis, shop.shop_id, (changes.ALL, ""))  # its id may have been used


def _config_fields(shop: Shop) -> list[str]:
    pairs = {
        "platform": shop.platform,
        "domain": shop.domain,
        "storefront_url": shop.storefront_url,
        "currency": shop.currency,
        "webhook_secret": shop.webhook_secrets[0].reveal(),
        "widget_key": shop.widget_key,
        "api_key_hash": shop.api_key_hash,
        "created_at": repr(shop.created_at),
        "store_ref": shop.access.store_ref,
        "api_base": shop.access.api_base,
        "api_user": shop.access.api_user,
        "api_token": sealing.seal(shop.access.api_token.reveal()),  # never stored in clear
        "locale": shop.locale,
        "origins": json.dumps(list(shop.origins)),
    }
    return [item for pair in pairs.items() for item in pair]


async def get_shop(redis: aioredis.Redis, shop_id: str) -> Shop | None:
    if not keys.SHOP_ID_PATTERN.match(shop_id):
        return None
    return parse_shop(shop_id, await redis.hgetall(keys.shop_config(shop_id)))


def parse_shop(shop_id: str, raw: Mapping[Any, Any]) -> Shop | None:
    """The shop of its stored config hash (HGETALL); None for an empty one (no such shop)."""
    if not raw:
        return None
    fields = {text(k): text(v) for k, v in raw.items()}
    shop_secrets = [Secret(fields["webhook_secret"])]
    if fields.get("previous_webhook_secret"):
        shop_secrets.append(Secret(fields["previous_webhook_secret"]))
    return Shop(
        shop_id=shop_id,
        platform=fields["platform"],
        domain=fields["domain"],
        storefront_url=fields["storefront_url"],
        currency=fields.get("currency", "USD"),
        webhook_secrets=tuple(shop_secrets),
        widget_key=fields["widget_key"],
        api_key_hash=fields["api_key_hash"],
        created_at=float(fields["created_at"]),
        access=PlatformAccess(
            store_ref=fields.get("store_ref", ""),
            api_base=fields.get("api_base", ""),
            api_user=fields.get("api_user", ""),
            api_token=Secret(sealing.unseal(fields.get("api_token", ""))),
        ),
        locale=fields.get("locale") or DEFAULT_LOCALE,
        origins=tuple(json.loads(fields.get("origins") or "[]")),
        uninstalled_at=float(fields["uninstalled_at"]) if fields.get("uninstalled_at") else None,
        api_keys=shop_keys(fields),
        api_rate_per_minute=int(fields["api_rate_per_minute"])
        if fields.get("api_rate_per_minute") else None,
        experiments=parse_running(fields),
        serving=parse_serving(fields),
    )


async def _shop_from_index(redis: aioredis.Redis, index_key: str) -> Shop | None:
    shop_id = await redis.get(index_key)
    return None if shop_id is None else await get_shop(redis, text(shop_id))


async def shop_by_domain(redis: aioredis.Redis, platform: str, domain: str) -> Shop | None:
    return await _shop_from_index(redis, keys.domain_index(platform, domain))


async def shop_by_widget_key(redis: aioredis.Redis, widget_key: str) -> Shop | None:
    return await _shop_from_index(redis, keys.widget_key_index(widget_key))


async def shop_ids(redis: aioredis.Redis) -> list[str]:
    return sorted(text(member) for member in await redis.smembers(keys.SHOPS))


async def list_shops(redis: aioredis.Redis) -> list[Shop]:
    shops = [await get_shop(redis, shop_id) for shop_id in await shop_ids(redis)]
    return [shop for shop in shops if shop is not None]


async def rotate_webhook_secret(redis: aioredis.Redis, shop_id: str, new_secret: str) -> None:
    """Make `new_secret` current and keep the old one valid until the next rotation."""
    if not new_secret:
        raise ShopError("the new webhook secret must not be empty")
    config_key = keys.shop_config(shop_id)
    old = await redis.hget(config_key, "webhook_secret")
    if old is None:
        raise ShopError(f"shop {shop_id!r} does not exist")
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(config_key,
                  mapping={"webhook_secret": new_secret, "previous_webhook_secret": old})
        changes.note(pipe, shop_id, (changes.SHOP, ""))
        await pipe.execute()


async def set_storefront_url(redis: aioredis.Redis, shop_id: str, url: str) -> None:
    """Change where the shop's storefront lives (relative catalog URLs are joined to it)."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(keys.shop_config(shop_id), "storefront_url", url)
        changes.note(pipe, shop_id, (changes.SHOP, ""))
        await pipe.execute()


async def issue_api_key(redis: aioredis.Redis, shop_id: str) -> str:
    """Replace the shop's API key (the old one stops working) and return the new one."""
    config_key = keys.shop_config(shop_id)
    old_hash = await redis.hget(config_key, "api_key_hash")
    if old_hash is None:
        raise ShopError(f"shop {shop_id!r} does not exist")
    api_key = "sk_" + secrets.token_urlsafe(32)
    new_hash = hash_api_key(api_key)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(config_key, "api_key_hash", new_hash)
        changes.note(pipe, shop_id, (changes.SHOP, ""))
        await pipe.execute()
    # the global index after the shop's own slot (plugin.store.api_keys explains the order)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.delete(keys.api_key_index(text(old_hash)))
        pipe.set(keys.api_key_index(new_hash), shop_id)
        await pipe.execute()
    return api_key


MAX_API_RATE_PER_MINUTE = 1_000_000_000

# Sets (or with "" removes) the shop's API rate limit if the shop exists, with its change note.
_SET_API_RATE = changes.NOTE_LUA + """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[1] == '' then redis.call('HDEL', KEYS[1], 'api_rate_per_minute')
else redis.call('HSET', KEYS[1], 'api_rate_per_minute', ARGV[1]) end
note_change(KEYS[2], KEYS[3], ARGV[2], ARGV[3], '')
return 1
"""


async def set_api_rate(redis: aioredis.Redis, shop_id: str, per_minute: int | None) -> None:
    """Limit each of the shop's API keys to `per_minute` calls a minute (None: the server's
    SHOPRECO_API_RATE_PER_MINUTE); every process applies it within the shop cache's bound."""
    if per_minute is not None and not 1 <= per_minute <= MAX_API_RATE_PER_MINUTE:
        raise ShopError(f"the API rate limit is 1 to {MAX_API_RATE_PER_MINUTE} calls a minute, "
                        f"got {per_minute}")
    done = await redis.eval(_SET_API_RATE, 3, keys.shop_config(shop_id),
                            *changes.note_keys(shop_id), "" if per_minute is None else per_minute,
                            keys.CHANGES_MAXLEN, changes.SHOP)
    if not done:
        raise ShopError(f"shop {shop_id!r} does not exist")


def parse_origin(raw: str) -> str:
    """A storefront origin as browsers send it: scheme://host[:port], no path, lower case."""
    origin = raw.strip().lower().rstrip("/")
    if not _ORIGIN.match(origin):
        raise ShopError(
            f"an origin must look like https://shop.example or http://host:8080 "
            f"(scheme://host[:port], no path), got {raw!r}"
        )
    return origin


def parse_locale(raw: str) -> str:
    """A BCP 47 language tag such as en-US or de-DE (region upper-cased)."""
    parts = raw.strip().split("-")
    locale = "-".join([parts[0].lower(), *(p.upper() if len(p) == 2 else p for p in parts[1:])])
    if not _LOCALE.match(locale):
        raise ShopError(f"--locale must be a language tag like en-US or de-DE, got {raw!r}")
    return locale


def allowed_origins(shop: Shop) -> frozenset[str]:
    """Origins whose pages may call the widget endpoints: https://<domain>, the storefront
    URL's origin and those registered with `shopreco shops origins`."""
    found = {f"https://{shop.domain}", *shop.origins}
    scheme, _, rest = shop.storefront_url.partition("://")
    if rest:
        found.add(f"{scheme.lower()}://{rest.split('/', 1)[0].lower()}")
    return frozenset(found)


async def change_origins(
    redis: aioredis.Redis, shop_id: str, add: Sequence[str] = (), remove: Sequence[str] = ()
) -> tuple[str, ...]:
    """Add and remove registered origins of a shop; returns the resulting list."""
    adding = [parse_origin(o) for o in add]
    removing = {parse_origin(o) for o in remove}
    config_key = keys.shop_config(shop_id)
    async with redis.pipeline(transaction=True) as pipe:
        while True:
            try:
                await pipe.watch(config_key)
                if not await pipe.exists(config_key):
                    raise ShopError(f"shop {shop_id!r} does not exist")
                raw = await pipe.hget(config_key, "origins")
                current = json.loads(text(raw)) if raw else []
                updated = [o for o in dict.fromkeys([*current, *adding]) if o not in removing]
                pipe.multi()  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
                pipe.hset(config_key, "origins", json.dumps(updated))
                changes.note(pipe, shop_id, (changes.SHOP, ""))
                await pipe.execute()
                return tuple(updated)
            except WatchError:
                continue


# Replaces the stored token only if it is still the one read (a token set meanwhile stays).
_REPLACE_TOKEN = """
if redis.call('HGET', KEYS[1], 'api_token') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'api_token', ARGV[2])
  return 1
end
return 0
"""


async def reseal_token(redis: aioredis.Redis, shop_id: str, only_clear: bool = False) -> bool:
    """Seal the shop's stored access token again under the keyring's first key (`shopreco
    secrets rotate`), or with `only_clear` only a token stored in clear (the migration).
    Whether it was rewritten."""
    stored = await redis.hget(keys.shop_config(shop_id), "api_token")
    if not stored or (only_clear and text(stored).startswith(sealing.SEALED)):
        return False
    resealed = sealing.keyring().reseal(text(stored))
    return bool(await redis.eval(_REPLACE_TOKEN, 1, keys.shop_config(shop_id), stored, resealed))


async def reinstall(redis: aioredis.Redis, shop_id: str, api_token: str,
                    api_user: str | None = None) -> None:
    """The platform app was installed again on a known shop: its new access token (sealed)
    and, for WooCommerce, its new consumer key; the uninstall mark gone."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(keys.shop_config(shop_id), "api_token", sealing.seal(api_token))
        if api_user is not None:
            pipe.hset(keys.shop_config(shop_id), "api_user", api_user)
        pipe.hdel(keys.shop_config(shop_id), "uninstalled_at")
        changes.note(pipe, shop_id, (changes.SHOP, ""))
        await pipe.execute()
