"""Registering a shop step by step, each step within one cluster slot (plugin.store.
registration): one winner per domain, nothing left by a loser, and what a registration that
died half way leaves is taken over by the next one."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from plugin.store import keys
from plugin.store.registration import Outcome, register
from plugin.store.shops import list_shops
from tests.conftest import Store


def new_id() -> str:
    return "r-" + uuid.uuid4().hex[:12]


FIELDS = ["platform", "shopify", "domain", "x", "storefront_url", "https://x",
          "webhook_secret", "s", "widget_key", "wk", "api_key_hash", "h", "created_at", "0.0"]


def registered(store: Store, shop_id: str, domain: str) -> Outcome:
    index = keys.domain_index("shopify", domain)
    return store.run(lambda r: register(r, shop_id, FIELDS, [index],
                                        [keys.widget_key_index("wk_" + shop_id)]))


def test_a_registration_writes_the_config_and_every_index_entry(store: Store) -> None:
    shop_id, domain = new_id(), f"{uuid.uuid4().hex}.example"
    assert registered(store, shop_id, domain) is Outcome.CREATED

    async def look(r: Any) -> tuple[Any, ...]:
        return (await r.get(keys.domain_index("shopify", domain)),
                await r.get(keys.widget_key_index("wk_" + shop_id)),
                await r.sismember(keys.SHOPS, shop_id), await r.exists(keys.registering(shop_id)),
                await r.ttl(keys.domain_index("shopify", domain)))

    assert store.run(look) == (shop_id.encode(), shop_id.encode(), 1, 0, -1)
    assert registered(store, shop_id, f"{uuid.uuid4().hex}.example") is Outcome.ID_TAKEN


def test_of_two_registrations_of_one_domain_one_wins_and_the_other_leaves_nothing(
        store: Store) -> None:
    domain, ids = f"{uuid.uuid4().hex}.example", [new_id(), new_id()]
    index = keys.domain_index("shopify", domain)

    async def both(r: Any) -> list[Outcome]:
        return list(await asyncio.gather(*(register(
            r, shop_id, FIELDS, [index], [keys.widget_key_index("wk_" + shop_id)])
            for shop_id in ids)))

    outcomes = store.run(both)
    assert sorted(o.value for o in outcomes) == ["created", "domain taken"]
    loser = ids[outcomes.index(Outcome.DOMAIN_TAKEN)]
    assert store.run(lambda r: r.exists(keys.shop_config(loser),
                                        keys.registering(loser))) == 0
    assert store.run(lambda r: r.get(keys.widget_key_index("wk_" + loser))) is None
    assert loser not in {s.shop_id for s in store.run(list_shops)}


def test_a_domain_left_by_a_registration_that_died_is_taken_over(store: Store) -> None:
    domain, dead = f"{uuid.uuid4().hex}.example", new_id()
    store.run(lambda r: r.set(keys.domain_index("shopify", domain), dead))  # no config, no mark
    store.run(lambda r: r.sadd(keys.SHOPS, dead))
    assert dead not in {s.shop_id for s in store.run(list_shops)}  # listed, yet no shop
    shop_id = new_id()
    assert registered(store, shop_id, domain) is Outcome.CREATED
    assert store.run(lambda r: r.get(keys.domain_index("shopify", domain))) == shop_id.encode()
    store.run(lambda r: r.srem(keys.SHOPS, dead))


def test_a_domain_claimed_by_a_registration_under_way_is_refused(store: Store) -> None:
    domain, busy = f"{uuid.uuid4().hex}.example", new_id()
    store.run(lambda r: r.set(keys.domain_index("shopify", domain), busy))
    store.run(lambda r: r.set(keys.registering(busy), "1", ex=60))
    assert registered(store, new_id(), domain) is Outcome.DOMAIN_TAKEN
    assert store.run(lambda r: r.get(keys.domain_index("shopify", domain))) == busy.encode()


def test_the_same_id_registered_again_after_a_death_is_made_whole(store: Store) -> None:
    domain, shop_id = f"{uuid.uuid4().hex}.example", new_id()
    store.run(lambda r: r.set(keys.domain_index("shopify", domain), shop_id))  # its own claim
    assert registered(store, shop_id, domain) is Outcome.CREATED
    assert store.run(lambda r: r.hget(keys.shop_config(shop_id), "domain")) == b"x"
