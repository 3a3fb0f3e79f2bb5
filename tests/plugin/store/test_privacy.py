"""Privacy over real HTTP and the embedded Redis: Shopify's signed privacy webhooks, the API,
the CLI, and proof that an erased customer is gone from every key of the shop."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import pytest

from plugin.store import keys
from plugin.store.erasure import erase_customer
from plugin.store.events import Event, append
from plugin.store.fields import PayloadError
from plugin.store.order import LineItem, Order, email_customer_id
from plugin.store.privacy import Subject
from plugin.store.records import store_order
from plugin.store.shops import NewShop
from recommender.matrix import Purchase
from recommender.shop_model import Config, ShopModel
from tests.conftest import Store, shopreco
from tests.helpers import body_of, eventually, order_payload, shopify_headers
from webhooks.ingest import GROUP, Ingestor, dead_letter

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
    set and list members, except model arrays; and the user ids of every stored model."""
    async def dump(redis: Any) -> tuple[Contents, list[str]]:
        contents: Contents = {}
        user_ids: list[str] = []
        async for key in redis.scan_iter(match=keys.shop_pattern(shop_id)):
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


# ---- data requests and exports -----------------------------------------------------------------


def test_data_request_export_holds_the_customers_orders_and_nothing_of_another(
        http, populated) -> None:
    response = http.get(f"/api/v1/shops/{populated.shop_id}/privacy/requests/{DATA_REQUEST_ID}",
                        headers=auth(populated.shop))
    assert response.status_code == 200, response.text
    export = response.json()
    assert export["customer_id"] == ALICE and export["request_id"] == DATA_REQUEST_ID
    assert [o["order_id"] for o in export["orders"]] == [*ALICE_ORDERS, ALICE_GUEST_ORDER]
    for needle in (BOB, BOB_EMAIL, *BOB_ORDERS):
        assert needle not in response.text


def test_data_request_export_is_kept_30_days(store, populated) -> None:
    ttl = store.run(lambda r: r.ttl(keys.privacy_request(populated.shop_id, DATA_REQUEST_ID)))
    assert keys.PRIVACY_REQUEST_TTL_SECONDS - 60 < ttl <= keys.PRIVACY_REQUEST_TTL_SECONDS


def test_unknown_data_request_is_404(http, populated) -> None:
    response = http.get(f"/api/v1/shops/{populated.shop_id}/privacy/requests/999",
                        headers=auth(populated.shop))
    assert response.status_code == 404
    assert "999" in response.json()["detail"]


def test_data_request_needs_the_shops_api_key(http, populated) -> None:
    response = http.get(f"/api/v1/shops/{populated.shop_id}/privacy/requests/{DATA_REQUEST_ID}")
    assert response.status_code == 401


def test_api_export_lists_orders_events_and_the_model_row(http, populated) -> None:
    response = http.get(f"/api/v1/shops/{populated.shop_id}/customers/{ALICE}/data",
                        params={"email": ALICE_EMAIL}, headers=auth(populated.shop))
    assert response.status_code == 200, response.text
    export = response.json()
    assert [o["order_id"] for o in export["orders"]] == [*ALICE_ORDERS, ALICE_GUEST_ORDER]
    assert sorted(e["topic"] for e in export["events"]) == [  # the refund names no customer
        "customers/data_request", "orders/create", "orders/create", "orders/create"]
    assert [d["body"]["contact_email"] for d in export["dead_letters"]] == [ALICE_EMAIL]
    assert export["model"] == {"version": populated.model_version, "holds_customer": True,
                               "purchased_product_ids": ["501", "502", "503"]}
    for needle in (BOB, BOB_EMAIL, *BOB_ORDERS):
        assert needle not in response.text


def test_api_export_refuses_an_email_that_is_not_one(http, populated) -> None:
    response = http.get(f"/api/v1/shops/{populated.shop_id}/customers/{ALICE}/data",
                        params={"email": "alice"}, headers=auth(populated.shop))
    assert response.status_code == 400
    assert "email" in response.json()["detail"]


def test_cli_export_prints_the_customers_orders(store, populated) -> None:
    result = shopreco(store, "privacy", "export", populated.shop_id, "--customer", BOB)
    assert result.returncode == 0, result.stderr
    export = json.loads(result.stdout)
    assert [o["order_id"] for o in export["orders"]] == list(BOB_ORDERS)
    assert ALICE not in result.stdout and ALICE_EMAIL not in result.stdout


# ---- customers/redact --------------------------------------------------------------------------


def test_before_erasure_the_customer_is_in_every_kind_of_data(store, populated) -> None:
    """The populated shop holds Alice everywhere the erasure test looks (so it can fail)."""
    shop_id = populated.shop_id
    found, user_ids = shop_contents(store, shop_id)
    assert ALICE in user_ids
    assert all(mentions(found, needle) for needle in ALICE_NEEDLES)
    assert mentions(found, ALICE, keys.orders(shop_id))
    assert mentions(found, ALICE_ORDERS[0], keys.order_versions(shop_id))
    assert mentions(found, ALICE_EMAIL, keys.events(shop_id))
    assert mentions(found, ALICE_EMAIL, keys.dead_letters(shop_id))
    assert mentions(found, ALICE_REFUNDED_ORDER, keys.pending_refunds(shop_id))
    assert mentions(found, ALICE, keys.privacy_request(shop_id, DATA_REQUEST_ID))


def test_redact_with_a_bad_signature_is_401_and_erases_nothing(http, store, populated) -> None:
    before = shop_contents(store, populated.shop_id)
    response = send(http, populated.shop, "customers/redact", redact_alice(populated.shop),
                    secret="not-the-secret")
    assert response.status_code == 401
    drain(store, populated.shop_id)
    assert shop_contents(store, populated.shop_id) == before


def test_customer_redact_leaves_no_trace_of_the_customer_anywhere(http, store, populated) -> None:
    accepted(send(http, populated.shop, "customers/redact", redact_alice(populated.shop)))
    drain(store, populated.shop_id)
    found, user_ids = shop_contents(store, populated.shop_id)
    for needle in ALICE_NEEDLES:
        assert not mentions(found, needle), needle
    assert ALICE not in user_ids
    assert BOB in user_ids and mentions(found, BOB_EMAIL)  # the other customer is intact
    assert set(BOB_ORDERS) <= order_ids(store, populated.shop_id)


def test_erasure_acknowledges_the_pending_events_it_deletes(store, populated) -> None:
    shop_id = populated.shop_id
    payload = order(ALICE_ORDERS[0], ALICE, ALICE_EMAIL, [501])
    stuck = Event("shopify", "orders/updated", "stuck-1", body_of(payload))

    async def work(redis: Any) -> dict[str, Any]:
        # read by a consumer that then crashed: pending, never acknowledged
        async with redis.pipeline(transaction=True) as pipe:
            pipe.xadd(keys.events(shop_id), stuck.fields())
            pipe.xreadgroup(GROUP, "crashed", {keys.events(shop_id): ">"})
            await pipe.execute()
        await erase_customer(redis, shop_id, ALICE)
        return await redis.xpending(keys.events(shop_id), GROUP)

    assert store.run(work)["pending"] == 0


def test_redacted_customer_gets_trending_without_a_retrain(http, store, populated) -> None:
    assert customer_strategy(http, populated.shop, ALICE)["strategy"] == "als"
    accepted(send(http, populated.shop, "customers/redact", redact_alice(populated.shop)))
    drain(store, populated.shop_id)

    def trending_for_alice() -> dict[str, Any]:  # once the erasure's note is read
        answer = customer_strategy(http, populated.shop, ALICE)
        assert answer["strategy"] == "trending"
        return answer

    alice = eventually(trending_for_alice)
    assert customer_strategy(http, populated.shop, BOB)["strategy"] == "als"
    model = http.get(f"/api/v1/shops/{populated.shop_id}/model",
                     headers=auth(populated.shop)).json()
    assert model["model_version"] == alice["model_version"] != populated.model_version
    assert model["model"]["erased_from_version"] == populated.model_version  # not retrained


def test_customer_redact_marks_the_shop_for_retraining(http, store, populated) -> None:
    assert store.run(lambda r: r.exists(keys.train_dirty(populated.shop_id))) == 0
    accepted(send(http, populated.shop, "customers/redact", redact_alice(populated.shop)))
    drain(store, populated.shop_id)
    assert store.run(lambda r: r.exists(keys.train_dirty(populated.shop_id))) == 1


def test_redact_without_a_customer_id_is_refused_and_erases_nothing(
        http, store, populated) -> None:
    payload = redact_alice(populated.shop)
    del payload["customer"]["id"]
    response = send(http, populated.shop, "customers/redact", payload)
    assert response.status_code == 400 and "customer.id" in response.json()["detail"]
    drain(store, populated.shop_id)
    assert set(ALICE_ORDERS) <= order_ids(store, populated.shop_id)


# ---- erasure through the API and the CLI -------------------------------------------------------


def test_api_erase_answers_what_it_removed(http, store, populated) -> None:
    response = http.delete(f"/api/v1/shops/{populated.shop_id}/customers/{ALICE}",
                           params={"email": ALICE_EMAIL, "order_ids": ALICE_REFUNDED_ORDER},
                           headers=auth(populated.shop))
    assert response.status_code == 200, response.text
    erased = response.json()["erased"]
    version = erased.pop("model_version")
    assert erased == {"orders": 3, "events": 5, "dead_letters": 1, "other": 2, "model_rows": 1,
                      "model_versions_deleted": 1}
    assert version is not None and version != populated.model_version


def test_api_erase_removes_the_customers_orders_only(http, store, populated) -> None:
    response = http.delete(f"/api/v1/shops/{populated.shop_id}/customers/{ALICE}",
                           params={"email": ALICE_EMAIL}, headers=auth(populated.shop))
    assert response.status_code == 200, response.text
    remaining = order_ids(store, populated.shop_id)
    assert not remaining & {*ALICE_ORDERS, ALICE_GUEST_ORDER}
    assert set(BOB_ORDERS) <= remaining and len(remaining) == 32


def test_api_erase_needs_the_shops_api_key(http, make_shop, populated) -> None:
    response = http.delete(f"/api/v1/shops/{populated.shop_id}/customers/{ALICE}",
                           headers=auth(make_shop()))
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"


def test_cli_erase_removes_the_customer_from_orders_and_model(http, store, populated) -> None:
    result = shopreco(store, "erase", populated.shop_id, "--customer", ALICE,
                      "--email", ALICE_EMAIL)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["erased"]["orders"] == 3
    found, user_ids = shop_contents(store, populated.shop_id)
    assert ALICE not in user_ids and not mentions(found, ALICE_EMAIL)
    assert customer_strategy(http, populated.shop, ALICE)["strategy"] == "trending"


def test_cli_erase_of_an_unknown_shop_says_so(store) -> None:
    result = shopreco(store, "erase", "no-such-shop", "--customer", ALICE)
    assert result.returncode == 1 and "no shop 'no-such-shop'" in result.stderr


# ---- shop/redact and whole-shop erasure --------------------------------------------------------


def index_keys(shop: NewShop) -> list[str]:
    return [keys.domain_index("shopify", shop.shop.domain),
            keys.api_key_index(shop.shop.api_key_hash), keys.widget_key_index(shop.shop.widget_key)]


def shop_keys(store: Store, shop_id: str) -> list[bytes]:
    return store.run(lambda r: _collect(r.scan_iter(match=keys.shop_pattern(shop_id))))


async def _collect(iterator: Any) -> list[Any]:
    return sorted([item async for item in iterator])


def registered(store: Store, shop_id: str) -> bool:
    return bool(store.run(lambda r: r.sismember(keys.SHOPS, shop_id)))


def test_shop_redact_removes_every_key_and_index_entry_of_the_shop(
        http, store, make_shop, populated) -> None:
    other = make_shop()
    accepted(send(http, other, "orders/create", order("5001", "1", "x@example.com", [501])))
    drain(store, other.shop.shop_id)
    other_keys = shop_keys(store, other.shop.shop_id)
    accepted(send(http, populated.shop, "shop/redact",
                  {"shop_id": 954889, "shop_domain": populated.shop.shop.domain}))
    drain(store, populated.shop_id)
    assert shop_keys(store, populated.shop_id) == []
    assert store.run(lambda r: r.exists(*index_keys(populated.shop))) == 0
    assert not registered(store, populated.shop_id)
    assert shop_keys(store, other.shop.shop_id) == other_keys
    assert store.run(lambda r: r.exists(*index_keys(other))) == 3
    assert registered(store, other.shop.shop_id)


def test_events_after_shop_redact_in_the_same_batch_bring_nothing_back(store, make_shop) -> None:
    shop = make_shop()
    shop_id = shop.shop.shop_id
    redact = Event("shopify", "shop/redact", "r-1", body_of({"shop_domain": shop.shop.domain}))
    late = Event("shopify", "orders/create", "o-1", body_of(order_payload(1, 2, [3])))

    async def work(redis: Any) -> None:
        for event in (redact, late):
            await append(redis, shop_id, event)
        await Ingestor(redis).drain(shop_id)

    store.run(work)
    assert shop_keys(store, shop_id) == []


def test_worker_keeps_ingesting_other_shops_after_a_shop_redact(store, make_shop) -> None:
    gone, kept = make_shop(), make_shop()
    redact = Event("shopify", "shop/redact", "r-2", body_of({"shop_domain": gone.shop.domain}))
    late = Event("shopify", "orders/create", "o-2", body_of(order_payload(2, 3, [4])))

    async def work(redis: Any) -> bytes | None:
        ingestor = Ingestor(redis)
        await append(redis, gone.shop.shop_id, redact)
        await ingestor.read_once([gone.shop.shop_id, kept.shop.shop_id], block_ms=None)
        await append(redis, kept.shop.shop_id, late)
        await ingestor.drain(kept.shop.shop_id)
        return await redis.hget(keys.orders(kept.shop.shop_id), "2")

    assert store.run(work) is not None


def test_shop_redact_naming_another_domain_is_refused(http, store, populated) -> None:
    accepted(send(http, populated.shop, "shop/redact",
                  {"shop_id": 1, "shop_domain": "someone-else.myshopify.com"}))
    drain(store, populated.shop_id)
    assert registered(store, populated.shop_id)
    assert set(ALICE_ORDERS) <= order_ids(store, populated.shop_id)


def test_cli_erase_shop_needs_yes(store, populated) -> None:
    result = shopreco(store, "erase", populated.shop_id, "--shop")
    assert result.returncode == 2 and "--yes" in result.stderr
    assert registered(store, populated.shop_id)


def test_cli_erase_shop_removes_every_key(store, populated) -> None:
    result = shopreco(store, "erase", populated.shop_id, "--shop", "--yes")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["erased"]["index_entries"] == 4  # 3 indexes + shops set
    assert shop_keys(store, populated.shop_id) == []
    assert not registered(store, populated.shop_id)


# ---- the model without some customers (pure) ---------------------------------------------------


def small_model() -> ShopModel:
    purchases = [Purchase(f"o{u}-{i}", f"u{u}", f"p{(u + i) % 6}", 1, 1_700_000_000 + u)
                 for u in range(12) for i in range(3)]
    return ShopModel.train(purchases, Config(factors=3, iterations=5))


def test_model_without_a_customer_no_longer_knows_them() -> None:
    model = small_model().without_customers(["u3"])
    assert not model.knows_customer("u3")
    assert model.for_customer("u3", 4, False).strategy == "trending"


def test_model_without_a_customer_answers_the_others_as_before() -> None:
    model = small_model()
    smaller = ShopModel.from_bytes(model.without_customers(["u3"]).to_bytes())
    for user in ("u0", "u4", "u11"):
        assert smaller.for_customer(user, 4, True) == model.for_customer(user, 4, True)
    assert smaller.bought_together("p1", 4) == model.bought_together("p1", 4)
    assert len(smaller.user_ids) == len(model.user_ids) - 1


# ---- who is named (pure) -----------------------------------------------------------------------


def order_entry(payload: dict[str, Any]) -> dict[bytes, bytes]:
    return {b"topic": b"orders/create", b"body": json.dumps(payload).encode()}


def test_an_email_escaped_by_json_is_still_found() -> None:
    subject = Subject("1", "zoë@example.com")
    assert subject.mentioned_in_entry(order_entry({"id": 5, "email": "Zoë@Example.com"}))


def test_an_email_that_only_contains_hers_is_not_hers() -> None:
    subject = Subject("1", "alice@example.com")
    assert not subject.mentioned_in_entry(order_entry({"id": 5, "email": "malice@example.com"}))


def test_a_product_id_equal_to_her_order_id_is_not_her_order() -> None:
    subject = Subject("1", None, frozenset({"42"}))
    assert not subject.mentioned_in_entry(
        {b"topic": b"products/update", b"body": json.dumps({"id": 42}).encode()})
    assert subject.mentioned_in_entry(order_entry({"id": 42}))


def test_erasure_by_email_also_removes_orders_imported_by_email(store: Store, make_shop) -> None:
    shop_id = make_shop().shop.shop_id
    imported = Order(order_id="csv-1", customer_id=email_customer_id("Ann@Example.com"),
                     created_at=1.7e9, updated_at=1.7e9, cancelled=False, currency="EUR",
                     total_price="5.00", lines=(LineItem("p1", None, "P", 1, "5.00"),))

    async def work(redis: Any) -> tuple[int, int]:
        await store_order(redis, shop_id, imported)
        erased = await erase_customer(redis, shop_id, "4242", email="ann@example.com")
        return erased.orders, await redis.hlen(keys.orders(shop_id))

    assert store.run(work) == (1, 0)
