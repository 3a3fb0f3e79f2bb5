"""A WooCommerce store as the connect sees it: its address, its REST API with the key pair the
owner approved, our webhooks on it (created, repaired, listed, removed) and its currency.

Every call goes through PlatformHttp (retries on 429/5xx, a rate limit per key) with HTTP basic
auth, which WooCommerce accepts over https only (over plain http it wants OAuth 1.0a signatures:
so a store must be https, except in a local setup where this shopreco itself is plain http).
Webhooks are created, updated and deleted in one `POST webhooks/batch` call (the REST API's
batch endpoint, at most 100 objects), not one call per topic.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from plugin.config import Secret, Settings
from plugin.connect.common import ConnectError, HookState
from plugin.store.shops import Shop
from plugin.store.urls import safe_http_url
from plugin.web.body import decode_json
from webhooks import woocommerce
from webhooks.http import FetchError, PlatformHttp

PLATFORM = woocommerce.PLATFORM
API_PATH = "/wp-json/wc/v3"
# Every topic the adapter (webhooks.woocommerce) applies; core WooCommerce knows each
# resource (order, product) with the events created, updated, deleted and restored.
TOPICS = ("order.created", "order.updated", "order.deleted", "order.restored",
          "product.created", "product.updated", "product.deleted", "product.restored")
MAX_HOOK_PAGES = 10  # 1,000 webhooks on one store: more is not a store we can tidy up


def store_address(raw: str, settings: Settings) -> str:
    """The store's home URL as https://host[:port][/path] (no trailing slash), from what the
    owner typed ("shop.example" gets https://); ConnectError says what is wrong."""
    value = raw.strip()
    if value and "://" not in value:
        value = "https://" + value
    url = safe_http_url(value)
    if url is None:
        raise ConnectError("the store's address must be a web address such as "
                           "https://shop.example (the address of your WordPress home page)")
    parts = urlsplit(url)
    if parts.query or parts.fragment:
        raise ConnectError("give the store's home page address without ?… or #…, such as "
                           "https://shop.example")
    local = not settings.public_url.startswith("https://")
    if parts.scheme != "https" and not local:
        raise ConnectError("the store's address must start with https://: WooCommerce accepts "
                           "REST API keys over https only")
    if not local and _private_host(parts.hostname or ""):
        raise ConnectError("the store's address must be on the internet, not a private, "
                           "loopback or local network address")
    return f"{parts.scheme}://{_ascii_host(parts.netloc)}{parts.path.rstrip('/')}"


def _ascii_host(netloc: str) -> str:
    """The host in lower case and, if internationalised, in its ASCII (IDNA) form."""
    try:
        return netloc.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise ConnectError("the store's address has a host name that is not valid") from None


def _private_host(host: str) -> bool:
    if host == "localhost" or host.endswith((".localhost", ".local")):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return not address.is_global


def store_domain(store: str) -> str:
    """The shop registry's name for a store: host[:port] and the path of a WordPress in a
    folder, lower-case ("shop.example", "example.com/shop")."""
    parts = urlsplit(store)
    return f"{parts.netloc}{parts.path.rstrip('/')}".lower()


def is_ours(hook: Any, shop_id: str) -> bool:
    """Whether a store's webhook delivers to our receiver for this shop (whatever this
    shopreco's public address was when it was made)."""
    if not isinstance(hook, dict):
        return False
    path = urlsplit(str(hook.get("delivery_url") or "")).path.rstrip("/")
    return path.endswith(f"/webhooks/{PLATFORM}/{shop_id}")


@dataclass(frozen=True)
class StoreApi:
    """One store's REST API (`{store}/wp-json/wc/v3`) with a consumer key and secret."""

    http: PlatformHttp
    limit_key: str  # the per-shop rate limit's name
    base: str
    consumer_key: str
    consumer_secret: Secret

    @classmethod
    def for_store(cls, http: PlatformHttp, store: str, consumer_key: str,
                  consumer_secret: Secret) -> StoreApi:
        return cls(http, f"connect:{store_domain(store)}", store + API_PATH, consumer_key,
                   consumer_secret)

    @classmethod
    def for_shop(cls, http: PlatformHttp, shop: Shop) -> StoreApi:
        access = shop.access
        return cls(http, shop.shop_id, access.api_base.rstrip("/"), access.api_user,
                   access.api_token)

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return await self.http.request(
            self.limit_key, method, f"{self.base}/{path}",
            auth=(self.consumer_key, self.consumer_secret.reveal()), **kwargs)

    async def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._decoded(await self.call(method, path, **kwargs), method, path)

    def _decoded(self, response: httpx.Response, method: str, path: str) -> Any:
        try:
            return decode_json(response.content)
        except ValueError:
            raise FetchError(f"{method} {self.base}/{path} did not answer JSON") from None

    async def currency(self) -> str:
        """The store's currency (its woocommerce_currency setting), e.g. "EUR"."""
        setting = await self.json("GET", "settings/general/woocommerce_currency")
        value = setting.get("value") if isinstance(setting, dict) else None
        if not isinstance(value, str) or not value.isalpha() or len(value) != 3:
            raise FetchError(f"GET {self.base}/settings/general/woocommerce_currency did not "
                             "answer a currency code")
        return value.upper()

    async def hooks(self) -> list[dict[str, Any]]:
        """Every webhook of the store, page by page."""
        found: list[dict[str, Any]] = []
        for page in range(1, MAX_HOOK_PAGES + 1):
            response = await self.call("GET", "webhooks", params={
                "per_page": woocommerce.PER_PAGE, "page": page})
            batch = self._decoded(response, "GET", "webhooks")
            if not isinstance(batch, list):
                raise FetchError(f"GET {self.base}/webhooks did not answer a list")
            found += [hook for hook in batch if isinstance(hook, dict)]
            if page >= woocommerce.total_pages(response.headers, len(batch), page):
                break
        return found

    async def our_hooks(self, shop_id: str) -> list[dict[str, Any]]:
        return [hook for hook in await self.hooks() if is_ours(hook, shop_id)]

    async def batch(self, create: Sequence[dict[str, Any]] = (),
                    update: Sequence[dict[str, Any]] = (),
                    delete: Sequence[int] = ()) -> dict[str, list[dict[str, Any]]]:
        """`POST webhooks/batch`; FetchError naming the first item WooCommerce refused."""
        answer = await self.json("POST", "webhooks/batch", json={
            "create": list(create), "update": list(update), "delete": list(delete)})
        if not isinstance(answer, dict):
            raise FetchError(f"POST {self.base}/webhooks/batch did not answer an object")
        done = {part: [item for item in answer.get(part) or [] if isinstance(item, dict)]
                for part in ("create", "update", "delete")}
        for part, items in done.items():
            for item in items:
                error = item.get("error")
                if error and not (part == "delete" and _not_found(error)):
                    message = error.get("message") if isinstance(error, dict) else error
                    raise FetchError(f"the store refused to {part} a webhook: {message}")
        return done


def _age(hook: dict[str, Any]) -> int:
    hook_id = str(hook.get("id"))
    return int(hook_id) if hook_id.isdigit() else 0


def _not_found(error: Any) -> bool:
    status = error.get("data", {}).get("status") if isinstance(error, dict) else None
    return status == 404


async def ensure_hooks(api: StoreApi, shop_id: str, delivery_url: str,
                       secret: str) -> list[dict[str, str]]:
    """Our webhooks on the store, one per topic, delivering to `delivery_url` signed with
    `secret` and active: a reconnect updates the ones it finds (and deletes duplicates) instead
    of adding more. Their ids and topics."""
    mine = sorted(await api.our_hooks(shop_id), key=_age)  # the oldest of a topic stays
    create, update, delete = [], [], []
    for topic in TOPICS:
        same = [hook for hook in mine if hook.get("topic") == topic]
        wanted = {"name": f"shopreco {topic}", "topic": topic, "delivery_url": delivery_url,
                  "secret": secret, "status": "active"}
        if same:
            update.append({"id": same[0]["id"], **wanted})
            delete += [hook["id"] for hook in same[1:]]
        else:
            create.append(wanted)
    done = await api.batch(create, update, delete)
    made = {str(hook.get("topic")): str(hook.get("id")) for hook in
            [*done["update"], *done["create"]]}
    return [{"id": made[topic], "topic": topic} for topic in TOPICS if topic in made]


async def hooks_live(http: PlatformHttp, shop: Shop) -> list[HookState]:
    hooks = await StoreApi.for_shop(http, shop).our_hooks(shop.shop_id)
    return [HookState(str(hook.get("topic")), hook.get("status") == "active") for hook in hooks]


async def remove_hooks(http: PlatformHttp, shop: Shop) -> int:
    """Delete our webhooks from the store (one already gone is fine); how many there were."""
    api = StoreApi.for_shop(http, shop)
    ids = [hook["id"] for hook in await api.our_hooks(shop.shop_id)]
    if ids:
        await api.batch(delete=ids)
    return len(ids)
