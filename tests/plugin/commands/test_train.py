"""`shopreco train SHOP_ID [--retune]` (plugin/commands/train.py): the shop's pending events
processed, then its model trained and made the one that serves.

On the commands' own store: the events wait there until the command itself drains them."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from plugin.store import keys
from plugin.store.events import Event, append
from plugin.store.shops import add_shop
from tests.conftest import Store
from tests.helpers import body_of, order_payload
from tests.plugin.commands.conftest import Cli, order, store_orders

FAST = {"SHOPRECO_TUNING_SECONDS": "0"}


def new_shop(store: Store) -> str:
    shop_id = "tr-" + uuid.uuid4().hex[:12]
    store.run(lambda r: add_shop(r, shop_id, "shopify", f"{shop_id}.myshopify.com",
                                 "http://testserver"))
    return shop_id


@pytest.fixture
def shop_id(own_store: Store) -> str:
    """A shop whose 24 orders (12 customers buying pairs) are accepted, not yet processed."""
    shop_id = new_shop(own_store)

    async def work(redis: Any) -> None:
        for n in range(24):
            body = body_of(order_payload(100 + n, 500 + n % 12, [1 + n % 4, 5 + n % 3]))
            await append(redis, shop_id, Event("shopify", "orders/create", f"o-{n}", body))

    own_store.run(work)
    return shop_id


def test_processes_pending_events_then_trains(own_cli: Cli, own_store: Store,
                                              shop_id: str) -> None:
    assert own_store.run(lambda r: r.hlen(keys.orders(shop_id))) == 0
    result = own_cli("train", shop_id, **FAST)
    assert result.returncode == 0, result.stderr
    shown = result.json()
    assert shown["shop_id"] == shop_id
    assert own_store.run(lambda r: r.hlen(keys.orders(shop_id))) == 24  # drained first
    assert (shown["model"]["orders"], shown["model"]["customers"], shown["model"]["products"]) \
        == (24, 12, 7)
    serving = own_store.run(lambda r: r.get(keys.model_current(shop_id)))
    assert serving.decode() == shown["model_version"]


def test_the_tuning_budget_comes_from_the_settings(own_cli: Cli, shop_id: str) -> None:
    choice = own_cli("train", shop_id, **FAST).json()["model"]["choice"]
    assert choice["chosen_by"] == "defaults"
    assert choice["why"] == "no time budget for the choice (SHOPRECO_TUNING_SECONDS=0)"


def test_retune_chooses_the_strategy_again(own_cli: Cli, own_store: Store) -> None:
    """A history long enough to validate on: the choice is kept while recent, --retune makes
    a new one."""
    shop_id = new_shop(own_store)
    orders = [order(f"{c}-{k}", f"c{c}", day=c % 7 + 12 * k, products=(f"p{(c + k) % 9}",
                                                                       f"p{(c + 2 * k) % 5}"))
              for c in range(60) for k in range(5)]
    store_orders(own_store, shop_id, orders)
    budget = {"SHOPRECO_TUNING_SECONDS": "1"}
    first = own_cli("train", shop_id, **budget).json()["model"]["choice"]
    assert first["chosen_by"] == "time-split validation", first
    kept = own_cli("train", shop_id, **budget).json()["model"]["choice"]
    assert kept["chosen_at"] == first["chosen_at"]
    retuned = own_cli("train", shop_id, "--retune", **budget).json()["model"]["choice"]
    assert retuned["chosen_at"] > first["chosen_at"]


def test_a_shop_without_orders_is_refused_in_one_line(own_cli: Cli, own_store: Store) -> None:
    result = own_cli("train", new_shop(own_store), **FAST)
    assert (result.returncode, result.stdout) == (1, "")
    assert "has no orders to learn from yet" in result.stderr


def test_an_unknown_shop_is_refused_in_one_line(own_cli: Cli) -> None:
    result = own_cli("train", "no-such-shop", **FAST)
    assert (result.returncode, result.stdout) == (1, "")
    assert "no shop 'no-such-shop'" in result.stderr and "Traceback" not in result.stderr
