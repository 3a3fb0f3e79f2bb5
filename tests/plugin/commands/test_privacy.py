"""`shopreco privacy export` and `shopreco erase` (plugin/commands/privacy.py): what is held
about a customer as JSON, a customer erased now, a whole shop erased only with --yes.

On the commands' own store: no worker there turns the guest's raw event into an order."""

from __future__ import annotations

import uuid

import pytest

from plugin.store import keys
from plugin.store.events import Event, append
from plugin.store.shops import add_shop, get_shop
from tests.conftest import Store
from tests.helpers import body_of, order_payload
from tests.plugin.commands.conftest import Cli, order, store_orders

GUEST = "guest@example.com"


@pytest.fixture
def shop_id(own_store: Store) -> str:
    """Customer 501: orders a1 and a2; customer 502: b1; a guest's order event, by e-mail."""
    shop_id = "p-" + uuid.uuid4().hex[:12]
    own_store.run(lambda r: add_shop(r, shop_id, "shopify", f"{shop_id}.myshopify.com",
                                     "http://testserver"))
    store_orders(own_store, shop_id, [order("a1", "501", 0), order("a2", "501", 3),
                                      order("b1", "502", 1)])
    body = body_of({**order_payload(9001, None, [7]), "email": GUEST})
    own_store.run(lambda r: append(r, shop_id, Event("shopify", "orders/create", "g-1", body)))
    return shop_id


def stored_orders(store: Store, shop_id: str) -> list[str]:
    return sorted(k.decode() for k in store.run(lambda r: r.hkeys(keys.orders(shop_id))))


def test_export_prints_the_customers_orders(own_cli: Cli, shop_id: str) -> None:
    result = own_cli("privacy", "export", shop_id, "--customer", "501")
    assert result.returncode == 0, result.stderr
    shown = result.json()
    assert (shown["shop_id"], shown["customer_id"], shown["email"]) == (shop_id, "501", None)
    assert [o["order_id"] for o in shown["orders"]] == ["a1", "a2"]
    assert (shown["events"], shown["dead_letters"]) == ([], [])
    assert shown["model"] == {"version": None, "holds_customer": False,
                              "purchased_product_ids": []}


def test_export_with_an_email_finds_a_guests_events(own_cli: Cli, shop_id: str) -> None:
    without = own_cli("privacy", "export", shop_id, "--customer", "999").json()
    assert without["events"] == [] and without["orders"] == []
    found = own_cli("privacy", "export", shop_id, "--customer", "999", "--email", GUEST).json()
    assert found["email"] == GUEST
    assert [(e["delivery_id"], e["body"]["email"]) for e in found["events"]] == [("g-1", GUEST)]


def test_erase_a_customer_removes_their_orders_only(own_cli: Cli, own_store: Store,
                                                    shop_id: str) -> None:
    result = own_cli("erase", shop_id, "--customer", "501")
    assert result.returncode == 0, result.stderr
    shown = result.json()
    assert (shown["shop_id"], shown["customer_id"]) == (shop_id, "501")
    assert (shown["erased"]["orders"], shown["erased"]["events"]) == (2, 0)
    assert stored_orders(own_store, shop_id) == ["b1"]


def test_erase_with_an_email_removes_a_guests_events(own_cli: Cli, own_store: Store,
                                                     shop_id: str) -> None:
    result = own_cli("erase", shop_id, "--customer", "999", "--email", GUEST)
    assert result.returncode == 0, result.stderr
    assert result.json()["erased"]["events"] == 1
    assert own_store.run(lambda r: r.xlen(keys.events(shop_id))) == 0
    assert stored_orders(own_store, shop_id) == ["a1", "a2", "b1"]


def test_erasing_a_shop_needs_yes(own_cli: Cli, own_store: Store, shop_id: str) -> None:
    refused = own_cli("erase", shop_id, "--shop")
    assert (refused.returncode, refused.stdout) == (2, "")
    assert f"erasing shop {shop_id!r} deletes all its data" in refused.stderr
    assert "--yes" in refused.stderr
    assert own_store.run(lambda r: get_shop(r, shop_id)) is not None
    erased = own_cli("erase", shop_id, "--shop", "--yes")
    assert erased.returncode == 0, erased.stderr
    shown = erased.json()
    assert shown["shop_id"] == shop_id and sum(shown["erased"].values()) > 0
    assert own_store.run(lambda r: get_shop(r, shop_id)) is None
    assert stored_orders(own_store, shop_id) == []


@pytest.mark.parametrize("args", [("privacy", "export", "no-such-shop", "--customer", "1"),
                                  ("erase", "no-such-shop", "--customer", "1")])
def test_an_unknown_shop_is_refused(own_cli: Cli, args: tuple[str, ...]) -> None:
    result = own_cli(*args)
    assert (result.returncode, result.stdout) == (1, "")
    assert "no shop 'no-such-shop'" in result.stderr


def test_a_bad_email_is_refused_before_anything_is_erased(own_cli: Cli, own_store: Store,
                                                          shop_id: str) -> None:
    result = own_cli("erase", shop_id, "--customer", "501", "--email", "not-an-address")
    assert result.returncode == 1 and "email must be an e-mail address" in result.stderr
    assert stored_orders(own_store, shop_id) == ["a1", "a2", "b1"]


@pytest.mark.parametrize("args", [("erase", "x"), ("erase", "x", "--shop", "--customer", "1"),
                                  ("privacy", "export", "x")])
def test_who_to_erase_or_export_must_be_said_once(own_cli: Cli, args: tuple[str, ...]) -> None:
    with pytest.raises(SystemExit) as usage:
        own_cli(*args)
    assert usage.value.code == 2
