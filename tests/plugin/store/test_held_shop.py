"""What the cache holds of a shop: every held shop has containers and a model lock of its own
(a change dropped from one shop's answers never touches another's)."""

from __future__ import annotations

from typing import Any

from plugin.store.held_shop import HeldShop


def test_each_held_shop_has_its_own_containers_and_lock() -> None:
    shop: Any = object()  # the record is only carried
    first, second = HeldShop(shop, b"0-0", 0), HeldShop(shop, b"0-0", 0)
    first.catalog["p1"] = {"title": "Mug"}
    first.histories["c1"] = {"p1": 1}
    first.answers["key"] = ["p1"]
    first.customer_answers["c1"] = {"key"}
    assert (second.catalog, second.histories, second.answers, second.customer_answers) == (
        {}, {}, {}, {})
    assert first.model_lock is not second.model_lock
    assert (second.blocked, second.pins, second.model, second.epoch) == (None, None, None, 0)
