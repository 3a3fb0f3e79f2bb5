"""The demo's experiment (plugin/demo/experiment.py) against a live server: made, started and
run by simulated shoppers to its stop through the real endpoints; kept on the next run (one
left running by an interrupted demo is stopped); shoppers drawn the same for a seed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from plugin.demo.experiment import (
    NAME,
    PLACEMENT,
    conversion,
    demo_experiment,
    shoppers,
)
from plugin.store.shops import NewShop
from tests.conftest import LiveServer, Store, run_async, settings_for
from tests.helpers import auth, order_payload, send_orders, train
from tests.widgets.test_experiments import order_placer


@pytest.fixture(scope="module")
def lab_url(store: Store) -> Iterator[str]:
    with LiveServer(settings_for(store, widget_rate_per_minute=1_000_000)) as url:
        yield url


@pytest.fixture
def trained(lab_url: str, make_shop: Any) -> NewShop:
    shop = make_shop()
    with httpx.Client(base_url=lab_url, timeout=60) as client:
        send_orders(client, shop, [order_payload(n, n, [1, 2, 3]) for n in range(20)])
        assert train(client, shop).status_code == 200
    return shop


def test_shoppers_are_drawn_the_same_for_a_seed() -> None:
    first, again = shoppers(["1", "2"], 50, 3), shoppers(["1", "2"], 50, 3)
    assert [(s.page, s.click_roll, s.order_roll, s.customer_id[-2:]) for s in first] == \
        [(s.page, s.click_roll, s.order_roll, s.customer_id[-2:]) for s in again]
    assert len({s.customer_id for s in first}) == 50 and len({s.visitor_id for s in first}) == 50
    assert conversion(True) > conversion(False)


def test_the_demo_runs_its_experiment_to_the_stop_once(lab_url: str, trained: NewShop) -> None:
    shop_id = trained.shop.shop_id

    async def work() -> tuple[Any, ...]:
        async with httpx.AsyncClient(base_url=lab_url, timeout=60) as client:
            place = order_placer(client, trained)
            task = await demo_experiment(client, trained.api_key, trained.shop.widget_key,
                                         ["1", "2", "3"], place, n=150, shop_id=shop_id)
            assert task is not None
            stopped = await task
            again = await demo_experiment(client, trained.api_key, trained.shop.widget_key,
                                          ["1"], place, n=150, shop_id=shop_id)
            listed = (await client.get(f"/api/v1/shops/{shop_id}/experiments",
                                       headers=auth(trained))).json()["experiments"]
            return stopped, again, listed

    stopped, again, listed = run_async(work)
    assert (stopped["name"], stopped["placement"], stopped["status"]) == (NAME, PLACEMENT,
                                                                          "stopped")
    assert sum(arm["visitors"] for arm in stopped["results"]["arms"]) == 150
    assert again is None and [e["id"] for e in listed] == [stopped["id"]]


def test_an_experiment_an_interrupted_demo_left_running_is_stopped(lab_url: str,
                                                                   trained: NewShop) -> None:
    shop_id = trained.shop.shop_id
    base = f"/api/v1/shops/{shop_id}/experiments"
    with httpx.Client(base_url=lab_url, timeout=60) as client:
        made = client.post(base, headers=auth(trained), json={
            "name": NAME, "placement": PLACEMENT, "arms": [
                {"name": "no widget", "strategy": "holdout", "share": 50},
                {"name": "widget", "strategy": "chosen", "share": 50}]}).json()
        client.post(f"{base}/{made['id']}/start", headers=auth(trained))

    async def work() -> Any:
        async with httpx.AsyncClient(base_url=lab_url, timeout=60) as client:
            return await demo_experiment(client, trained.api_key, trained.shop.widget_key,
                                         ["1"], order_placer(client, trained), shop_id=shop_id)

    assert run_async(work) is None
    with httpx.Client(base_url=lab_url, timeout=60) as client:
        found = client.get(f"{base}/{made['id']}", headers=auth(trained)).json()
    assert found["status"] == "stopped"
