"""One suite every platform adapter of webhooks.platforms.ADAPTERS passes, over real HTTP to the
live app on the embedded Redis: signatures, shop lookup, pings, dedupe and refused bodies.

Each platform has a Case below: how to register a shop, and how to address and sign an order
delivery to it (Ecwid and BigCommerce deliveries name the order; a local fake platform API
serves it to the worker). An adapter registered without a Case fails every test of this file.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx
import pytest

from plugin.store import keys
from plugin.store.shops import Shop
from tests.conftest import Store
from tests.helpers import body_of, order_payload, shopify_headers
from tests.platform_server import (
    FakePlatformApi,
    dead_letters,
    drain,
    register_shop,
    stored_order,
    stream_length,
)
from tests.woo_server import order_like
from webhooks.adapter import PlatformAdapter, ShopInPath
from webhooks.platforms import ADAPTERS
from webhooks.standard_webhooks import sign

WRONG_SECRET = "not-the-shops-secret"
PING_BODY = b"webhook_id=42"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Sent:
    """One request to the receiver."""

    path: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    def post(self, http: httpx.Client) -> httpx.Response:
        return http.post(self.path, content=self.body, headers=self.headers)


class Case(ABC):
    """How to send one platform's order deliveries to a shop registered for the test."""

    platform: ClassVar[str]
    signs_timestamp: ClassVar[bool] = False  # Standard Webhooks: deliver(age=...) is honoured
    has_ping: ClassVar[bool] = False
    malformed_field: ClassVar[str]  # what the 400 answer names

    def register(self, store: Store, api: FakePlatformApi) -> Shop:
        return register_shop(store, self.platform, "", api.url)

    @abstractmethod
    def address(self, shop: Shop) -> tuple[str, dict[str, str]]:
        """The path and the headers that name the shop (unsigned)."""

    @abstractmethod
    def deliver(self, shop: Shop, api: FakePlatformApi, order_id: int, products: list[int],
                secret: str, age: int = 0) -> Sent:
        """A signed order.created-like delivery (served by `api` where the worker fetches)."""

    @abstractmethod
    def malformed(self, shop: Shop, secret: str) -> Sent:
        """A delivery signed by `secret` whose body the worker could never process."""

    @abstractmethod
    def unknown_shop(self, shop: Shop, secret: str) -> tuple[Sent, str]:
        """A signed delivery naming no registered shop, and how the 404 answer names it."""


def base64_hmac(secret: str, message: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def standard_headers(secret: str, body: bytes, age: int) -> dict[str, str]:
    msg_id, stamp = f"msg_{uuid.uuid4().hex}", int(time.time()) - age
    return {**JSON, "webhook-id": msg_id, "webhook-timestamp": str(stamp),
            "webhook-signature": sign(secret, msg_id, stamp, body)}


class ShopifyCase(Case):
    platform = "shopify"
    malformed_field = "line_items must be a list"

    def address(self, shop: Shop) -> tuple[str, dict[str, str]]:
        return "/webhooks/shopify", {"X-Shopify-Shop-Domain": shop.domain}

    def deliver(self, shop: Shop, api: FakePlatformApi, order_id: int, products: list[int],
                secret: str, age: int = 0) -> Sent:
        body = body_of(order_payload(order_id, 11, products))
        return Sent("/webhooks/shopify", body, shopify_headers(shop.domain, secret, body))

    def malformed(self, shop: Shop, secret: str) -> Sent:
        body = body_of({**order_payload(1, 11, [101]), "line_items": "none"})
        return Sent("/webhooks/shopify", body, shopify_headers(shop.domain, secret, body))

    def unknown_shop(self, shop: Shop, secret: str) -> tuple[Sent, str]:
        domain = f"nobody-{uuid.uuid4().hex[:8]}.myshopify.com"
        body = body_of(order_payload(1, 11, [101]))
        sent = Sent("/webhooks/shopify", body, shopify_headers(domain, secret, body))
        return sent, f"X-Shopify-Shop-Domain {domain!r}"


class WooCommerceCase(Case):
    platform = "woocommerce"
    has_ping = True
    malformed_field = "line_items[0].quantity"

    def address(self, shop: Shop) -> tuple[str, dict[str, str]]:
        return f"/webhooks/woocommerce/{shop.shop_id}", {}

    def deliver(self, shop: Shop, api: FakePlatformApi, order_id: int, products: list[int],
                secret: str, age: int = 0) -> Sent:
        payload = order_like(order_id, "2025-03-01T10:00:00", product_ids=tuple(products))
        return self._signed(f"/webhooks/woocommerce/{shop.shop_id}", shop, payload, secret)

    def malformed(self, shop: Shop, secret: str) -> Sent:
        payload = order_like(1, "2025-03-01T10:00:00")
        payload["line_items"][0]["quantity"] = -1
        return self._signed(f"/webhooks/woocommerce/{shop.shop_id}", shop, payload, secret)

    def unknown_shop(self, shop: Shop, secret: str) -> tuple[Sent, str]:
        shop_id = f"no-such-{uuid.uuid4().hex[:8]}"
        sent = self._signed(f"/webhooks/woocommerce/{shop_id}", shop,
                            order_like(1, "2025-03-01T10:00:00"), secret)
        return sent, f"shop id {shop_id!r}"

    @staticmethod
    def _signed(path: str, shop: Shop, payload: Any, secret: str) -> Sent:
        body = body_of(payload)
        return Sent(path, body, {
            **JSON, "X-WC-Webhook-Source": f"https://{shop.domain}/",
            "X-WC-Webhook-Topic": "order.created", "X-WC-Webhook-ID": "11",
            "X-WC-Webhook-Delivery-ID": uuid.uuid4().hex,
            "X-WC-Webhook-Signature": base64_hmac(secret, body),
        })


class EcwidCase(Case):
    platform = "ecwid"
    malformed_field = "eventType"

    def register(self, store: Store, api: FakePlatformApi) -> Shop:
        store_id = str(3_000_000_000 + uuid.uuid4().int % 1_000_000_000)
        return register_shop(store, self.platform, store_id, api.url)

    def address(self, shop: Shop) -> tuple[str, dict[str, str]]:
        return "/webhooks/ecwid", {}

    def deliver(self, shop: Shop, api: FakePlatformApi, order_id: int, products: list[int],
                secret: str, age: int = 0) -> Sent:
        api.reply(f"/{shop.access.store_ref}/orders/{order_id}", {
            "id": order_id, "createTimestamp": 1740823200, "paymentStatus": "PAID",
            "customerId": 11, "currency": "EUR", "total": 10 * len(products),
            "items": [{"id": order_id * 10 + i, "productId": product, "quantity": 1,
                       "price": 10, "name": f"Product {product}"}
                      for i, product in enumerate(products)],
        })
        event = self._event(shop.access.store_ref, "order.created", {"orderId": order_id})
        return self._signed(event, secret)

    def malformed(self, shop: Shop, secret: str) -> Sent:
        event = self._event(shop.access.store_ref, "order.created", {"orderId": 1})
        del event["eventType"]
        return self._signed(event, secret)

    def unknown_shop(self, shop: Shop, secret: str) -> tuple[Sent, str]:
        store_id = str(4_000_000_000 + uuid.uuid4().int % 1_000_000_000)
        sent = self._signed(self._event(store_id, "order.created", {"orderId": 1}), secret)
        return sent, f"storeId {store_id!r}"

    @staticmethod
    def _event(store_id: str, event_type: str, data: dict[str, Any]) -> dict[str, Any]:
        return {"eventId": uuid.uuid4().hex, "eventCreated": int(time.time()),
                "storeId": int(store_id), "entityId": 1, "eventType": event_type, "data": data}

    @staticmethod
    def _signed(event: dict[str, Any], secret: str) -> Sent:
        message = f"{event['eventCreated']}.{event['eventId']}".encode()
        return Sent("/webhooks/ecwid", body_of(event),
                    {**JSON, "X-Ecwid-Webhook-Signature": base64_hmac(secret, message)})


class BigCommerceCase(Case):
    platform = "bigcommerce"
    signs_timestamp = True
    malformed_field = "data must be an object"

    def register(self, store: Store, api: FakePlatformApi) -> Shop:
        return register_shop(store, self.platform, "h" + uuid.uuid4().hex[:9], api.url)

    def address(self, shop: Shop) -> tuple[str, dict[str, str]]:
        return f"/webhooks/bigcommerce/{shop.shop_id}", {}

    def deliver(self, shop: Shop, api: FakePlatformApi, order_id: int, products: list[int],
                secret: str, age: int = 0) -> Sent:
        path = f"/v2/orders/{order_id}"
        api.reply(path, {"id": order_id, "customer_id": 11, "status_id": 11,
                         "date_created": "Sat, 01 Mar 2025 10:00:00 +0000",
                         "currency_code": "EUR", "total_inc_tax": "10.00", "is_deleted": False})
        api.reply(f"{path}/products", [
            {"id": order_id * 10 + i, "product_id": product, "variant_id": 0, "quantity": 1,
             "name": f"Product {product}", "price_inc_tax": "10.0000", "quantity_refunded": 0}
            for i, product in enumerate(products)
        ])
        return self._signed(shop, shop.shop_id, {"type": "order", "id": order_id}, secret, age)

    def malformed(self, shop: Shop, secret: str) -> Sent:
        return self._signed(shop, shop.shop_id, "order 1", secret)

    def unknown_shop(self, shop: Shop, secret: str) -> tuple[Sent, str]:
        shop_id = f"no-such-{uuid.uuid4().hex[:8]}"
        return self._signed(shop, shop_id, {"type": "order", "id": 1}, secret), \
            f"shop id {shop_id!r}"

    @staticmethod
    def _signed(shop: Shop, shop_id: str, data: Any, secret: str, age: int = 0) -> Sent:
        body = body_of({"scope": "store/order/created", "store_id": "1025646", "data": data,
                        "hash": uuid.uuid4().hex, "created_at": int(time.time()),
                        "producer": f"stores/{shop.access.store_ref}"})
        return Sent(f"/webhooks/bigcommerce/{shop_id}", body, standard_headers(secret, body, age))


class CustomCase(Case):
    platform = "custom"
    signs_timestamp = True
    malformed_field = "data.line_items[0].quantity"

    def address(self, shop: Shop) -> tuple[str, dict[str, str]]:
        return f"/webhooks/custom/{shop.shop_id}", {}

    def deliver(self, shop: Shop, api: FakePlatformApi, order_id: int, products: list[int],
                secret: str, age: int = 0) -> Sent:
        return self._signed(shop.shop_id, self._event(order_id, products), secret, age)

    def malformed(self, shop: Shop, secret: str) -> Sent:
        event = self._event(1, [101])
        event["data"]["line_items"][0]["quantity"] = -1
        return self._signed(shop.shop_id, event, secret)

    def unknown_shop(self, shop: Shop, secret: str) -> tuple[Sent, str]:
        shop_id = f"no-such-{uuid.uuid4().hex[:8]}"
        return self._signed(shop_id, self._event(1, [101]), secret), f"shop id {shop_id!r}"

    @staticmethod
    def _event(order_id: int, products: list[int]) -> dict[str, Any]:
        at = "2025-03-01T10:00:00Z"
        return {"type": "order.created", "timestamp": at, "data": {
            "id": str(order_id), "customer_id": "11", "created_at": at, "updated_at": at,
            "status": "paid", "currency": "EUR", "total_price": f"{10 * len(products)}.00",
            "line_items": [{"id": str(i), "product_id": str(product), "quantity": 1,
                            "title": f"Product {product}", "price": "10.00"}
                           for i, product in enumerate(products)],
        }}

    @staticmethod
    def _signed(shop_id: str, event: dict[str, Any], secret: str, age: int = 0) -> Sent:
        body = body_of(event)
        return Sent(f"/webhooks/custom/{shop_id}", body, standard_headers(secret, body, age))


CASES: dict[str, Case] = {case.platform: case for case in (
    ShopifyCase(), WooCommerceCase(), EcwidCase(), BigCommerceCase(), CustomCase())}


# ---- fixtures ------------------------------------------------------------------------------

@pytest.fixture(params=sorted(ADAPTERS))
def platform(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def adapter(platform: str) -> PlatformAdapter:
    return ADAPTERS[platform]


@pytest.fixture
def case(platform: str) -> Case:
    if platform not in CASES:
        pytest.fail(f"adapter {platform!r} is registered in webhooks.platforms.ADAPTERS but "
                    "has no Case in tests/webhooks/test_adapters.py: add one")
    return CASES[platform]


@pytest.fixture
def api() -> Iterator[FakePlatformApi]:
    with FakePlatformApi() as fake:
        yield fake


@pytest.fixture
def shop(case: Case, store: Store, api: FakePlatformApi) -> Shop:
    return case.register(store, api)


def secret_of(shop: Shop) -> str:
    return shop.webhook_secrets[0].reveal()


def new_order_id() -> int:
    return 100_000 + uuid.uuid4().int % 900_000


def stats(store: Store, shop_id: str) -> dict[bytes, bytes]:
    return dict(store.run(lambda redis: redis.hgetall(keys.stats(shop_id))))


def stored_state(store: Store, shop_id: str) -> tuple[int, dict[bytes, bytes]]:
    """What a refused delivery must leave untouched: the event stream's length, the stats."""
    return stream_length(store, shop_id), stats(store, shop_id)


# ---- the suite -----------------------------------------------------------------------------

def test_every_registered_adapter_has_a_case() -> None:
    assert sorted(CASES) == sorted(ADAPTERS)


def test_adapter_extends_the_base_under_its_own_name(platform, adapter) -> None:
    assert isinstance(adapter, PlatformAdapter)
    assert adapter.platform == platform


def test_good_signature_is_accepted_and_the_order_stored_once_processed(
    http, store, api, case, shop
) -> None:
    order_id = new_order_id()
    response = case.deliver(shop, api, order_id, [101, 102], secret_of(shop)).post(http)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "accepted"
    assert response.json()["shop_id"] == shop.shop_id
    drain(store, shop.shop_id)
    order = stored_order(store, shop.shop_id, str(order_id))
    assert order is not None and not order.cancelled
    assert sorted(line.product_id for line in order.lines) == ["101", "102"]
    assert stream_length(store, shop.shop_id) == 1 and dead_letters(store, shop.shop_id) == []


def test_wrong_signature_is_401_and_nothing_is_stored(http, store, api, case, shop) -> None:
    before = stored_state(store, shop.shop_id)
    response = case.deliver(shop, api, new_order_id(), [101], WRONG_SECRET).post(http)
    assert response.status_code == 401
    assert f"shop {shop.shop_id!r}" in response.json()["detail"]
    assert stored_state(store, shop.shop_id) == before == (0, {})


def test_stale_signature_is_401_where_the_signature_is_timed(
    http, store, api, case, adapter, shop
) -> None:
    window = adapter.signature_window_seconds
    assert (window is not None) == case.signs_timestamp, "the adapter's declared window"
    if window is None:
        return  # asserted above: this platform signs no time to be stale
    stale = case.deliver(shop, api, new_order_id(), [101], secret_of(shop), age=window + 60)
    assert stale.post(http).status_code == 401
    assert stored_state(store, shop.shop_id) == (0, {})
    fresh = case.deliver(shop, api, new_order_id(), [101], secret_of(shop), age=window - 60)
    assert fresh.post(http).status_code == 200
    drain(store, shop.shop_id)


def test_unknown_shop_is_404_naming_how_the_delivery_named_it(http, case, shop) -> None:
    sent, named = case.unknown_shop(shop, secret_of(shop))
    response = sent.post(http)
    assert response.status_code == 404
    detail = response.json()["detail"]
    assert detail.startswith(f"no {case.platform} shop is registered for {named}; ")


def test_another_shop_id_in_the_path_does_what_the_adapter_declares(
    http, api, case, adapter, shop
) -> None:
    sent = case.deliver(shop, api, new_order_id(), [101], secret_of(shop))
    other = f"other-{uuid.uuid4().hex[:8]}"
    response = Sent(f"/webhooks/{case.platform}/{other}", sent.body, sent.headers).post(http)
    if adapter.shop_in_path is ShopInPath.IGNORED:
        assert response.status_code == 200, response.text
        assert response.json()["shop_id"] == shop.shop_id
        return
    assert response.status_code == 404
    detail = response.json()["detail"].split(";")[0]
    if adapter.shop_in_path is ShopInPath.SELECTS:
        assert detail.endswith(f"registered for shop id {other!r}")
    else:  # CHECKED: the shop the delivery names, and the path's disagreeing id
        assert detail.endswith(f" and shop id {other!r}")


def test_ping_is_answered_where_the_platform_pings(http, store, case, adapter, shop) -> None:
    path, naming = case.address(shop)
    headers = {**FORM, **naming}
    assert adapter.is_ping(headers, PING_BODY) == case.has_ping
    response = http.post(path, content=PING_BODY, headers=headers)
    if case.has_ping:
        assert response.status_code == 200
        assert response.json() == {"status": "ping", "shop_id": shop.shop_id}
    else:
        assert response.status_code in (401, 404)  # unsigned, or no shop named in the body
    assert stored_state(store, shop.shop_id) == (0, {})


def test_duplicate_delivery_is_stored_once(http, store, api, case, shop) -> None:
    order_id = new_order_id()
    sent = case.deliver(shop, api, order_id, [101], secret_of(shop))
    first, second = sent.post(http), sent.post(http)
    assert (first.status_code, second.status_code) == (200, 200)
    assert (first.json()["status"], second.json()["status"]) == ("accepted", "duplicate")
    assert second.json()["event_id"] is None
    assert stream_length(store, shop.shop_id) == 1
    counted = stats(store, shop.shop_id)  # the worker may add order_changes meanwhile
    assert (counted[b"accepted"], counted[b"duplicates"]) == (b"1", b"1")
    drain(store, shop.shop_id)
    assert stored_order(store, shop.shop_id, str(order_id)) is not None


def test_signed_malformed_body_is_400_and_nothing_is_stored(http, store, case, shop) -> None:
    before = stored_state(store, shop.shop_id)
    response = case.malformed(shop, secret_of(shop)).post(http)
    assert response.status_code == 400, response.text
    assert case.malformed_field in response.json()["detail"]
    assert f"shop {shop.shop_id!r}" in response.json()["detail"]
    assert stored_state(store, shop.shop_id) == before == (0, {})
