"""PlatformAdapter, the base every platform adapter extends; what the receiver and the worker
hand it; and the parsing helpers the platforms share."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar, NamedTuple

import redis.asyncio as aioredis

from plugin.store.cache import ShopCache
from plugin.store.fields import PayloadError, id_string
from plugin.store.order import Order
from plugin.store.shops import Shop
from plugin.web.body import InvalidJson, decode_json
from webhooks.http import PlatformHttp


class Delivery(NamedTuple):
    """What the receiver needs to know of a delivery before storing it. (The receiver makes
    one a webhook: a named tuple is made in about half a frozen dataclass's time.)"""

    topic: str  # the platform's event name, e.g. orders/create, order.created
    delivery_id: str  # the platform's dedupe key for this delivery
    triggered_at: str = ""
    api_version: str = ""


@dataclass(frozen=True)
class Context:
    """What an adapter may use while applying an event in the worker."""

    redis: aioredis.Redis
    shop: Shop
    http: PlatformHttp


class ShopName(NamedTuple):
    """How a delivery names its shop: `key`, the domain or store id the shop is registered
    under (None if the delivery names none), and `said`, how the 404 answer quotes it."""

    key: str | None
    said: str


class ShopInPath(Enum):
    """What the shop id in the URL path (`/webhooks/{platform}/{shop_id}`) does."""

    SELECTS = "selects"  # one URL per shop: the path's shop id is the shop
    CHECKED = "checked"  # one shared URL: a shop id in the path must be the named shop's
    IGNORED = "ignored"  # one shared URL: only the delivery names the shop


class PlatformAdapter(ABC):
    """One platform: find the shop, verify, describe the delivery, check, and apply it.

    The receiver calls find_shop, is_ping, verify, describe and check (in that order; all
    fast, nothing fetched); the worker calls apply, which may fetch from the platform API.
    A platform says how its deliveries name their shop (`shop_name`, `shop_in_path`) and
    supplies verify, describe, check and apply.
    """

    platform: ClassVar[str]
    shop_in_path: ClassVar[ShopInPath] = ShopInPath.SELECTS
    # How far the signed timestamp may be from now; None where the signature covers no time
    # checked against a window (a replayed delivery is then caught by dedupe alone).
    signature_window_seconds: ClassVar[int | None] = None

    def shop_name(self, headers: Mapping[str, str], body: bytes) -> ShopName:
        """The shop as the delivery itself names it; by default it names none."""
        return ShopName(None, f"a request without a shop id (POST to /webhooks/{self.platform}"
                              "/{shop_id})")

    async def find_shop(
        self, shops: ShopCache, path_shop_id: str | None, headers: Mapping[str, str],
        body: bytes,
    ) -> Shop | None:
        """The shop of the path's shop id, else the one the delivery names; None if unknown."""
        if path_shop_id is not None and self.shop_in_path is ShopInPath.SELECTS:
            return await shops.shop(path_shop_id)
        key = self.shop_name(headers, body).key
        shop = await shops.shop_by_domain(self.platform, key) if key else None
        if shop is not None and self._path_disagrees(path_shop_id, shop.shop_id):
            return None
        return shop

    def held_shop(self, shops: ShopCache, path_shop_id: str | None,
                  headers: Mapping[str, str], body: bytes) -> Shop | None:
        """find_shop's answer when this process holds the shop of a delivery that names it
        itself (no coroutine: asked for every webhook); None: ask find_shop."""
        if path_shop_id is not None and self.shop_in_path is not ShopInPath.IGNORED:
            return None
        key = self.shop_name(headers, body).key
        return shops.held_by_domain(self.platform, key) if key else None

    def shop_hint(
        self, path_shop_id: str | None, headers: Mapping[str, str], body: bytes
    ) -> str:
        """How this delivery names its shop, for the 404 answer (e.g. "shop id 'x'")."""
        if path_shop_id is not None and self.shop_in_path is ShopInPath.SELECTS:
            return f"shop id {path_shop_id!r}"
        said = self.shop_name(headers, body).said
        if path_shop_id is not None and self.shop_in_path is ShopInPath.CHECKED:
            return f"{said} and shop id {path_shop_id!r}"
        return said

    def _path_disagrees(self, path_shop_id: str | None, shop_id: str) -> bool:
        return self.shop_in_path is ShopInPath.CHECKED and path_shop_id not in (None, shop_id)

    def is_ping(self, headers: Mapping[str, str], body: bytes) -> bool:
        """A platform's unsigned "is this URL alive" request, answered without storing."""
        return False

    @abstractmethod
    def verify(self, shop: Shop, headers: Mapping[str, str], body: bytes) -> bool:
        """Whether the delivery is signed by one of the shop's webhook secrets."""

    @abstractmethod
    def describe(self, headers: Mapping[str, str], body: bytes, payload: Any) -> Delivery:
        """Topic and dedupe id of a verified delivery (raises PayloadError)."""

    @abstractmethod
    def check(self, topic: str, payload: Any) -> Order | None:
        """Refuse a body the worker could never process (raises PayloadError). An adapter
        whose check makes order_to_store's order anyway returns it (the receiver stores it
        beside the body, and the worker need not parse the body again); None otherwise."""

    @abstractmethod
    async def apply(self, context: Context, topic: str, payload: Any) -> None:
        """Apply a stored event to the shop's data (in the worker; may fetch)."""

    def order_to_store(self, topic: str, payload: Any) -> Order | None:
        """The order of an event whose apply does nothing but store_order it (raises
        PayloadError like apply would); None for any other event. The worker stores a run of
        such events with records.store_orders, in a few round trips for the run."""
        return None


def parse_json(body: bytes) -> Any:
    """A delivery's body as JSON; PayloadError (400 at the door, dead letter in the worker)
    when it is not JSON."""
    try:
        return decode_json(body)
    except InvalidJson as error:
        raise PayloadError(str(error)) from None


def objects(value: Any) -> list[dict[str, Any]]:
    """The JSON objects of a list field; [] when the field is missing or not a list (a
    platform that sends `"images": 5` gets no images, not a crash)."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object; {} when it is not one (the shop is looked up before the
    body is checked)."""
    try:
        payload = decode_json(body)
    except InvalidJson:
        return {}
    return payload if isinstance(payload, dict) else {}


def optional_id(value: Any, field: str) -> str | None:
    """An id that may be absent (None or "")."""
    return id_string(value, field, False)


def nonzero_id(value: Any, field: str) -> str | None:
    """An id where None, 0, "0" and "" all mean none."""
    return None if value in (None, 0, "0", "") else id_string(value, field)


def product_lines(
    items: list[Any], where: str, product_field: str,
    product_id: Callable[[Any, str], str | None] = optional_id,
) -> Iterator[tuple[str, dict[str, Any], str]]:
    """(field, line, product id) of each line that names a product, field being e.g.
    "line_items[3]"; a line whose `product_field` parses to None (a custom line, a deleted
    product) is skipped. Raises PayloadError naming the field of a line that is not an object
    or whose product id is malformed."""
    for index, item in enumerate(items):
        field = f"{where}[{index}]"
        if not isinstance(item, dict):
            raise PayloadError(f"{field} must be an object")
        product = product_id(item.get(product_field), f"{field}.{product_field}")
        if product is not None:
            yield field, item, product
