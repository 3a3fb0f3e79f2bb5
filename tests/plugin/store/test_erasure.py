"""Erasure over real HTTP and the embedded Redis (plugin.store.erasure): Shopify's signed privacy
webhooks, the API, the CLI, and proof that an erased customer (or shop) is gone from every key."""

from __future__ import annotations

import json
from typing import Any

import pytest

from plugin.store import changes, keys
from plugin.store.erasure import Erasure, erase_customer, erase_shop
from plugin.store.events import Event, append
from plugin.store.order import LineItem, Order, email_customer_id
from plugin.store.records import store_order
from plugin.store.shops import NewShop
from recommender.matrix import Purchase
from recommender.shop_model import Config, ShopModel
from tests.conftest import Store, shopreco
from tests.helpers import body_of, eventually, order_payload
from tests.plugin.store.conftest import (
    ALICE,
    ALICE_EMAIL,
    ALICE_GUEST_ORDER,
    ALICE_NEEDLES,
    ALICE_ORDERS,
    ALICE_REFUNDED_ORDER,
    BOB,
    BOB_EMAIL,
    BOB_ORDERS,
    DATA_REQUEST_ID,
    accepted,
    auth,
    customer_strategy,
    drain,
    mentions,
    order,
    order_ids,
    redact_alice,
    send,
    shop_contents,
)
from webhooks.ingest import GROUP, Ingestor

# ---- customers/redact --------------------------------------------------------------------------


def test_before_erasure_the_customer_is_in_every_kind_of_data(store, populated) -> None:
    """The populated shop holds Alice everywhere the erasure test looks (so it can fail)."""
    shop_id = populated.shop_id
    found, user_ids = shop_contents(store, shop_id)
    assert ALICE in user_ids
    assert all(mentions(found, needle) for needle in ALICE_NEEDLES)
    assert mentions(found, ALICE, keys.orders(shop_id))
    assert mentions(found, ALICE_ORDERS[0], keys.order_versions(shop_id))
    assert mentions(found, ALICE, keys.order_lines(shop_id))
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
        # read by a consumer that then crashed: pending, never acknowledged (no MULTI: redis-py
        # cannot queue XREADGROUP in a Redis Cluster transaction, tests/test_cluster.py)
        async with redis.pipeline(transaction=False) as pipe:
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


# ---- erasure on the embedded Redis, step by step ------------------------------------------------


def test_erasure_removes_them_from_per_shop_data_it_has_no_step_for(
        store: Store, make_shop) -> None:
    """Whatever is added later is checked by type: hash fields, set, sorted set and list
    members, and string values that name the customer go; the rest stays."""
    shop_id = make_shop().shop.shop_id
    later = f"{keys.PREFIX}:{{{shop_id}}}:later"
    her = json.dumps({"customer": {"id": 31}})

    async def work(redis: Any) -> tuple[Any, ...]:
        await redis.hset(f"{later}:hash", mapping={"31": "x", "f": her, "keep": "y"})
        await redis.sadd(f"{later}:set", "31", "ann@example.com", "32")
        await redis.zadd(f"{later}:zset", {her: 1, "33": 2})
        await redis.rpush(f"{later}:list", her, "34", her)
        await redis.set(f"{later}:string", her)
        await redis.set(f"{later}:other", "35")
        erased = await erase_customer(redis, shop_id, "31", email="Ann@Example.com")
        return (erased, await redis.hgetall(f"{later}:hash"),
                await redis.smembers(f"{later}:set"), await redis.zrange(f"{later}:zset", 0, -1),
                await redis.lrange(f"{later}:list", 0, -1), await redis.exists(f"{later}:string"),
                await redis.get(f"{later}:other"))

    erased, hashed, members, ranked, listed, string, other = store.run(work)
    assert erased.other == 2 + 2 + 1 + 2 + 1
    assert hashed == {b"keep": b"y"} and members == {b"32"} and ranked == [b"33"]
    assert listed == [b"34"] and string == 0 and other == b"35"


def test_erasing_a_customer_with_nothing_stored_only_notes_it(store: Store, make_shop) -> None:
    shop_id = make_shop().shop.shop_id

    async def work(redis: Any) -> tuple[Any, ...]:
        erased = await erase_customer(redis, shop_id, "nobody")
        notes = await redis.xrevrange(keys.changes(shop_id), count=1)
        return erased, await redis.exists(keys.train_dirty(shop_id)), notes

    erased, dirty, notes = store.run(work)
    assert erased == Erasure(0, 0, 0, 0, 0, 0, None)
    assert dirty == 0  # nothing to rebuild
    assert [(n[b"k"], n[b"i"]) for _id, n in notes] == [  # the newest note
        (b"erased", changes.customer_digest("nobody").encode())]


def test_erasing_a_shop_refuses_a_bad_id_and_can_run_again(store: Store, make_shop) -> None:
    shop = make_shop()
    shop_id = shop.shop.shop_id
    with pytest.raises(ValueError, match="shop id"):
        store.run(lambda r: erase_shop(r, "Not A Shop"))

    async def work(redis: Any) -> tuple[dict[str, int], dict[str, int], int]:
        await store_order(redis, shop_id, Order("o1", "c1", 1.7e9, 1.7e9, False, "EUR", "5.00",
                                                (LineItem("p1", None, "P", 1, "5.00"),)))
        first = await erase_shop(redis, shop_id)
        again = await erase_shop(redis, shop_id)
        return first, again, await redis.exists(keys.domain_index("shopify", shop.shop.domain))

    first, again, domain = store.run(work)
    assert first["keys"] > 3 and first["index_entries"] == 4
    assert again == {"keys": 0, "index_entries": 0} and domain == 0
