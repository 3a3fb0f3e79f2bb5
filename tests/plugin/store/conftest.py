"""Shared by test_privacy.py and test_erasure.py: a shop holding Alice (to export or erase) and Bob
(to keep) in every kind of data, and ways to look at everything the shop holds."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import pytest

from plugin.store import keys
from plugin.store.events import Event
from plugin.store.fields import PayloadError
from plugin.store.shops import NewShop
from tests.conftest import Store
from tests.helpers import body_of, order_payload, shopify_headers
from webhooks.ingest import Ingestor, dead_letter

# Shopify-sized ids (beyond 2^53), distinct enough that a substring match means "it is there"
ALICE, ALICE_EMAIL = "7300000000000000001", "alice.erase@example.com"
BOB, BOB_EMAIL = "7300000000000000002", "bob.keep@example.com"
ALICE_ORDERS = ("9100000000000000001", "9100000000000000002")
ALICE_GUEST_ORDER = "9100000000000000003"  # checked out as a guest with her e-mail
ALICE_REFUNDED_ORDER = "9100000000000000005"  # only a refund arrived so far (pending)
BOB_ORDERS = ("9200000000000000001", "9200000000000000002")
DATA_REQUEST_ID = "4401"
ALICE_NEEDLES = (ALICE, ALICE_EMAIL, *ALICE_ORDERS, ALICE_GUEST_ORDER, ALICE_REFUNDED_ORDER)


@dataclass
class Populated:
    shop: NewShop
    model_version: str

    @property
    def shop_id(self) -> str:
        return self.shop.shop.shop_id


def auth(shop: NewShop) -> dict[str, str]:
    return {"Authorization": f"Bearer {shop.api_key}"}


def send(http: httpx.Client, shop: NewShop, topic: str, payload: Any,
         secret: str | None = None) -> httpx.Response:
    body = body_of(payload)
    secret = secret or shop.shop.webhook_secrets[0].reveal()
    return http.post("/webhooks/shopify", content=body,
                     headers=shopify_headers(shop.shop.domain, secret, body, topic=topic))


def accepted(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text


def drain(store: Store, shop_id: str) -> None:
    store.run(lambda r: Ingestor(r).drain(shop_id))


def order(order_id: str, customer: str | None, email: str, products: list[int]) -> dict:
    payload = order_payload(int(order_id), None if customer is None else int(customer), products)
    payload["email"] = email
    if customer is not None:
        payload["customer"]["email"] = email
    return payload


def customer_payload(shop: NewShop, customer: str, email: str) -> dict[str, Any]:
    return {"shop_id": 954889, "shop_domain": shop.shop.domain,
            "customer": {"id": int(customer), "email": email, "phone": "555-625-1199"}}


def redact_alice(shop: NewShop) -> dict[str, Any]:
    orders = [*ALICE_ORDERS, ALICE_GUEST_ORDER, ALICE_REFUNDED_ORDER]
    return {**customer_payload(shop, ALICE, ALICE_EMAIL),
            "orders_to_redact": [int(o) for o in orders]}


def data_request(shop: NewShop, customer: str, email: str, orders: tuple[str, ...],
                 request_id: str) -> dict[str, Any]:
    return {**customer_payload(shop, customer, email),
            "orders_requested": [int(o) for o in orders], "data_request": {"id": int(request_id)}}


def add_dead_letter_naming_alice(store: Store, shop_id: str) -> None:
    body = body_of({"id": 1, "note": "call me", "contact_email": ALICE_EMAIL})
    fields = {k.encode(): v if isinstance(v, bytes) else v.encode()
              for k, v in Event("shopify", "orders/updated", "dl-1", body).fields().items()}
    store.run(lambda r: dead_letter(r, shop_id, b"1-1", fields, PayloadError("broken"), 1))


@pytest.fixture
def populated(http: httpx.Client, make_shop, store: Store) -> Populated:
    """Alice (to erase) and Bob (to keep) among 30 other customers, a trained model, Alice's
    guest order, a refund pending for an order of hers, a dead letter and a data export."""
    return populate(http, make_shop, store)


def populate(http: httpx.Client, make_shop, store: Store) -> Populated:
    """What `populated` holds (also on the cluster: tests/test_cluster.py)."""
    shop = make_shop()
    orders = [order(ALICE_ORDERS[0], ALICE, ALICE_EMAIL, [501, 502]),
              order(ALICE_ORDERS[1], ALICE, ALICE_EMAIL, [503]),
              order(ALICE_GUEST_ORDER, None, ALICE_EMAIL, [504]),
              order(BOB_ORDERS[0], BOB, BOB_EMAIL, [501, 503]),
              order(BOB_ORDERS[1], BOB, BOB_EMAIL, [505])]
    orders += [order(str(1000 + n), str(n + 1), f"c{n}@example.com", [501 + n % 5, 502 + n % 5])
               for n in range(30)]
    for payload in orders:
        accepted(send(http, shop, "orders/create", payload))
    refund = {"id": 77001, "order_id": int(ALICE_REFUNDED_ORDER),
              "refund_line_items": [{"line_item_id": 1, "quantity": 1}]}
    accepted(send(http, shop, "refunds/create", refund))
    accepted(send(http, shop, "customers/data_request",
                  data_request(shop, ALICE, ALICE_EMAIL, ALICE_ORDERS, DATA_REQUEST_ID)))
    add_dead_letter_naming_alice(store, shop.shop.shop_id)
    trained = http.post(f"/api/v1/shops/{shop.shop.shop_id}/model/train",
                        params={"wait": "true"}, headers=auth(shop))
    assert trained.status_code == 200, trained.text
    return Populated(shop, trained.json()["model_version"])


Contents = dict[bytes, list[bytes]]


def shop_contents(store: Store, shop_id: str) -> tuple[Contents, list[str]]:
    """Per key of the shop: its name, string value, hash fields and values, stream entries, or
    set and list members, except model arrays and rate-limit counters; and the user ids of
    every stored model."""
    async def dump(redis: Any) -> tuple[Contents, list[str]]:
        contents: Contents = {}
        user_ids: list[str] = []
        async for key in redis.scan_iter(match=keys.shop_pattern(shop_id)):
            if b":widget:rate:" in key or b":api:rate:" in key:
                continue  # the rate limits' counters: every call counts, a refused one too
            found = contents.setdefault(key, [key])
            kind = await redis.type(key)
            if kind == b"string":
                found.append(await redis.get(key))
            elif kind == b"hash":
                for field, value in (await redis.hgetall(key)).items():
                    if field == b"arrays":
                        with np.load(io.BytesIO(value), allow_pickle=False) as arrays:
                            user_ids += arrays["user_ids"].tolist()
                    else:
                        found += [field, value]
            elif kind == b"stream":
                for entry_id, fields in await redis.xrange(key):
                    found += [entry_id, *fields, *fields.values()]
            elif kind in (b"set", b"zset", b"list"):
                found += await redis.sort(key, alpha=True)
            else:
                raise AssertionError(f"{key!r} has a type this test does not read: {kind!r}")
        return contents, user_ids

    return store.run(dump)


def mentions(contents: Contents, needle: str, key: str | None = None) -> bool:
    """`needle` is in the contents of the shop (or of one of its keys)."""
    chosen = [contents.get(key.encode(), [])] if key else contents.values()
    return any(needle.encode() in value for values in chosen for value in values)


def customer_strategy(http: httpx.Client, shop: NewShop, customer: str) -> dict[str, Any]:
    response = http.get(f"/api/v1/shops/{shop.shop.shop_id}/recommendations/customers/{customer}",
                        headers=auth(shop))
    assert response.status_code == 200, response.text
    return response.json()


def order_ids(store: Store, shop_id: str) -> set[str]:
    return {k.decode() for k in store.run(lambda r: r.hkeys(keys.orders(shop_id)))}
