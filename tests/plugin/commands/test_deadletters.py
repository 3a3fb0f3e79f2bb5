"""`shopreco dead-letters list|replay SHOP_ID` (plugin/commands/deadletters.py): the events the
worker gave up on, as JSON, and put back into the event stream by id or all at once.

On the commands' own store, where only the Ingestor these tests drive takes events."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from plugin.store import keys
from plugin.store.events import Event, append
from plugin.store.shops import add_shop
from tests.conftest import Store
from tests.plugin.commands.conftest import Cli
from webhooks.ingest import Ingestor


@pytest.fixture
def shop_id(own_store: Store) -> str:
    shop_id = "d-" + uuid.uuid4().hex[:12]
    own_store.run(lambda r: add_shop(r, shop_id, "shopify", f"{shop_id}.myshopify.com",
                                     "http://testserver"))
    return shop_id


def poison(store: Store, shop_id: str, delivery: str) -> str:
    """A Shopify orders/create whose body is `[]`, accepted and given up on: its event id."""
    async def work(redis: Any) -> str:
        event_id = await append(redis, shop_id, Event("shopify", "orders/create", delivery,
                                                      b"[]"))
        await Ingestor(redis).drain(shop_id)
        return str(event_id)

    return store.run(work)


def dead_count(store: Store, shop_id: str) -> int:
    return int(store.run(lambda r: r.xlen(keys.dead_letters(shop_id))))


def test_list_shows_the_oldest_first_with_the_total(own_cli: Cli, own_store: Store,
                                                    shop_id: str) -> None:
    first = poison(own_store, shop_id, "one")
    poison(own_store, shop_id, "two")
    result = own_cli("dead-letters", "list", shop_id, "--limit", "1")
    assert result.returncode == 0, result.stderr
    shown = result.json()
    assert (shown["shop_id"], shown["total"]) == (shop_id, 2)
    (dead,) = shown["dead_letters"]
    assert (dead["event_id"], dead["delivery_id"], dead["topic"]) == (first, "one",
                                                                     "orders/create")
    assert dead["error"] == "PayloadError: an order must be a JSON object"
    assert "body" not in dead
    every = own_cli("dead-letters", "list", shop_id, "--body").json()["dead_letters"]
    assert [d["delivery_id"] for d in every] == ["one", "two"]
    assert [d["body"] for d in every] == ["[]", "[]"]  # the raw webhook body, as text


def test_replay_puts_the_named_event_back(own_cli: Cli, own_store: Store, shop_id: str) -> None:
    first = poison(own_store, shop_id, "one")
    poison(own_store, shop_id, "two")
    result = own_cli("dead-letters", "replay", shop_id, first)
    assert result.returncode == 0, result.stderr
    assert result.json() == {"shop_id": shop_id, "replayed": 1}
    assert dead_count(own_store, shop_id) == 1
    ((_, fields),) = own_store.run(lambda r: r.xrevrange(keys.events(shop_id), count=1))
    assert (fields[b"delivery_id"], fields[b"replays"]) == (b"one", b"1")


def test_replay_all(own_cli: Cli, own_store: Store, shop_id: str) -> None:
    poison(own_store, shop_id, "one")
    poison(own_store, shop_id, "two")
    assert own_cli("dead-letters", "replay", shop_id, "--all").json()["replayed"] == 2
    assert dead_count(own_store, shop_id) == 0


def test_an_unknown_event_id_replays_nothing(own_cli: Cli, own_store: Store,
                                             shop_id: str) -> None:
    first = poison(own_store, shop_id, "one")
    result = own_cli("dead-letters", "replay", shop_id, first, "123-0")
    assert (result.returncode, result.stdout) == (1, "")
    assert f"shop {shop_id!r} has no dead letter for event 123-0" in result.stderr
    assert dead_count(own_store, shop_id) == 1


def test_an_unknown_shop_is_refused(own_cli: Cli) -> None:
    result = own_cli("dead-letters", "list", "no-such-shop")
    assert result.returncode == 1 and "no-such-shop" in result.stderr


@pytest.mark.parametrize("args", [(), ("1-0", "--all")])
def test_replay_takes_event_ids_or_all(own_cli: Cli, shop_id: str,
                                       args: tuple[str, ...]) -> None:
    with pytest.raises(SystemExit) as usage:
        own_cli("dead-letters", "replay", shop_id, *args)
    assert usage.value.code == 2
