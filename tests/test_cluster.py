"""On a real Redis Cluster (tests/cluster.py: 3 masters and 3 replicas on loopback, started
for this module only): shops spread over slots and nodes, a whole ingest -> train -> serve ->
erase run without a cross-slot command, and the end-to-end, privacy, lifecycle and experiments
tests run again, their bodies unchanged, with `store` and `base_url` on the cluster. (Workers killed
mid-replay on the cluster: tests/test_cluster_kill.py, apart, as this module's server ingests
every shop's events.)"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from redis.crc import key_slot

from plugin.store import keys
from plugin.store.erasure import erase_shop
from plugin.store.shops import NewShop, get_shop, shop_by_domain, shop_ids
from tests.conftest import ClusterStore, LiveServer
from tests.helpers import auth, bundle_orders, eventually, send_orders, train
from tests.plugin.api.test_experiments import (  # noqa: F401
    doc,
    test_a_config_arm_serves_the_model_with_its_blend,
    test_recommendation_calls_answer_with_their_arm,
    test_run_stop_and_ship,
    trained,
)
from tests.plugin.api.test_lifecycle import (  # noqa: F401  (fixtures and tests run here too)
    small_shop,
    test_a_customers_spend_has_their_shops_currency_digits,
    test_a_shop_without_orders_answers_zeros_and_nulls,
    test_future_as_of_raises_churn_risk,
    test_metrics_of_a_small_shop,
    test_mixed_currencies_are_reported_apart,
    test_one_customer_with_stage_scores_and_dates,
    test_retention_over_a_period,
    test_shops_see_only_their_own_customers,
    test_stages_count_every_customer_once,
    test_unknown_customer_is_404,
)
from tests.plugin.api.test_privacy import (  # noqa: F401
    customers,
    test_a_customers_export_holds_their_orders_and_the_named_ones,
    test_a_stored_data_request_is_answered,
    test_erasing_a_customer_answers_what_was_removed,
    test_the_privacy_endpoints_need_the_shops_api_key,
)
from tests.plugin.store.conftest import Populated, populate
from tests.plugin.store.test_erasure import (  # noqa: F401
    test_api_erase_removes_the_customers_orders_only,
    test_before_erasure_the_customer_is_in_every_kind_of_data,
    test_customer_redact_leaves_no_trace_of_the_customer_anywhere,
    test_erasure_acknowledges_the_pending_events_it_deletes,
    test_events_after_shop_redact_in_the_same_batch_bring_nothing_back,
    test_shop_redact_removes_every_key_and_index_entry_of_the_shop,
    test_worker_keeps_ingesting_other_shops_after_a_shop_redact,
)
from tests.plugin.store.test_experiments import (  # noqa: F401
    test_a_config_arm_keeps_its_whole_blend_and_ships_it,
    test_one_running_experiment_per_placement,
    test_stopping_takes_it_out_and_its_kept_results_stay,
)
from tests.plugin.store.test_privacy import (  # noqa: F401
    test_an_export_holds_the_browsing_and_clicks_of_their_visitors_until_erased,
    test_api_export_lists_orders_events_and_the_model_row,
    test_data_request_export_holds_the_customers_orders_and_nothing_of_another,
)
from tests.test_end_to_end import (  # noqa: F401
    demo_store,
    replayed_shop,
    test_always_bought_together_pair_comes_back_first,
    test_catalog_from_product_webhooks_fills_display_fields,
)

CROSS_SLOT = ("CROSSSLOT", "same slot", "same key slot")


@pytest.fixture(scope="module")
def store(cluster_store: ClusterStore) -> ClusterStore:
    return cluster_store


@pytest.fixture(scope="module")
def base_url(store: ClusterStore) -> Iterator[str]:
    with LiveServer(store.settings) as url:
        yield url


@pytest.fixture
def populated(http: httpx.Client, make_shop: Any, store: ClusterStore) -> Populated:
    return populate(http, make_shop, store)


def node_of(store: ClusterStore, key: str) -> int:
    """The port of the master serving `key`'s slot."""
    slot = key_slot(key.encode())
    for line in store.cluster.cli(store.cluster.ports[0], "cluster", "nodes").splitlines():
        parts = line.split()
        if "master" in parts[2].split(","):
            for span in parts[8:]:
                first, _, last = span.partition("-")
                if int(first) <= slot <= int(last or first):
                    return int(parts[1].split(":")[1].split("@")[0])
    raise AssertionError(f"no master serves slot {slot}")


def test_shops_land_in_different_slots_and_nodes(store: ClusterStore, make_shop: Any) -> None:
    shops = [make_shop() for _ in range(12)]
    configs = [keys.shop_config(s.shop.shop_id) for s in shops]
    assert len({key_slot(k.encode()) for k in configs}) == len(shops)
    assert len({node_of(store, k) for k in configs}) == 3
    for made in shops:  # every key of a shop in its own slot, found through the global indexes
        shop_id = made.shop.shop_id
        assert {key_slot(k.encode()) for k in (keys.shop_config(shop_id), keys.events(shop_id),
                                               keys.orders(shop_id))} == {
            key_slot(keys.shop_config(shop_id).encode())}
        found = store.run(lambda r, s=made: shop_by_domain(r, "shopify", s.shop.domain))
        assert found is not None and found.shop_id == shop_id
    assert {s.shop.shop_id for s in shops} <= set(store.run(shop_ids))


def test_a_whole_run_on_the_cluster_sends_no_cross_slot_command(
        store: ClusterStore, http: httpx.Client, make_shop: Any,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    shops: list[NewShop] = [make_shop() for _ in range(3)]
    for shop in shops:  # ingest: each shop's stream read wherever its slot lives
        send_orders(http, shop, bundle_orders(customers=40))
    for shop in shops:  # train, serve
        assert train(http, shop).status_code == 200
        items = eventually(lambda s=shop: _recommended(http, s))
        assert items
    first = shops[0]
    erased = http.delete(f"/api/v1/shops/{first.shop.shop_id}/customers/1",
                         headers=auth(first))
    assert erased.status_code == 200, erased.text
    new_key = http.post(f"/api/v1/shops/{first.shop.shop_id}/keys",
                        json={"name": "cluster", "scopes": ["recommendations:read"]},
                        headers=auth(first))
    assert new_key.status_code in (200, 201), new_key.text
    for shop in shops:  # the whole shop, its global index entries with it
        store.run(lambda r, s=shop: erase_shop(r, s.shop.shop_id))
        assert store.run(lambda r, s=shop: get_shop(r, s.shop.shop_id)) is None
        assert store.run(lambda r, s=shop: shop_by_domain(r, "shopify", s.shop.domain)) is None
    messages = [record.getMessage() + str(record.exc_info) for record in caplog.records]
    assert not [m for m in messages if any(word in m for word in CROSS_SLOT)]


def _recommended(http: httpx.Client, shop: NewShop) -> list[Any]:
    answer = http.get(f"/api/v1/shops/{shop.shop.shop_id}/recommendations/trending",
                      headers=auth(shop))
    assert answer.status_code == 200, answer.text
    items: list[Any] = answer.json()["items"]
    assert items
    return items
