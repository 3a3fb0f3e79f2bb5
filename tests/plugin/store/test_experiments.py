"""Experiments in the store (plugin.store.experiments) on the real embedded Redis: the checks of
a new one, the deterministic split (the same in another process), and the life of one:
started (never beside another on its placement), stopped, shipped, arms fixed once started."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from typing import Any

import pytest
import redis.asyncio as aioredis

from plugin.store import keys
from plugin.store.experiments import (
    ALL,
    PLACEMENTS,
    Arm,
    Experiment,
    ExperimentError,
    arm_for,
    arm_index,
    blend_of,
    create_experiment,
    edit_draft,
    get_experiment,
    keep_results,
    list_experiments,
    new_experiment,
    serve_strategy,
    serving_strategy,
    ship_experiment,
    start_experiment,
    stop_experiment,
)
from plugin.store.shops import get_shop
from tests.conftest import Store
from widgets.placements import PLACEMENTS as WIDGET_PLACEMENTS

NOW = 1_800_000_000.0
AB = [{"name": "A", "strategy": "chosen", "share": 50},
      {"name": "B", "strategy": "holdout", "share": 50}]


def draft(placement: str = "bundle", arms: Any = None) -> Experiment:
    return new_experiment("Bundle vs none", placement, AB if arms is None else arms, NOW)


def made(store: Store, shop_id: str, placement: str = "bundle", arms: Any = None
         ) -> Experiment:
    experiment = draft(placement, arms)
    store.run(lambda r: create_experiment(r, shop_id, experiment))
    return experiment


def test_a_new_experiment_is_a_draft_with_shares_scaled_to_100() -> None:
    experiment = new_experiment(" Cart test ", "cart", [
        {"name": "control", "strategy": "chosen", "share": 1},
        {"name": "popular", "strategy": "popularity", "share": 3}], NOW)
    assert experiment.status == "draft" and experiment.name == "Cart test"
    assert experiment.experiment_id.startswith("exp_") and len(experiment.experiment_id) == 16
    assert experiment.arms == (Arm("control", "chosen", 25.0), Arm("popular", "popularity", 75.0))


@pytest.mark.parametrize(("name", "placement", "arms", "says"), [
    ("", "bundle", AB, "name is 1 to 80"),
    ("x", "nowhere", AB, "placement must be one of"),
    ("x", "bundle", AB[:1], "2 to 5 arms"),
    ("x", "bundle", AB * 3, "2 to 5 arms"),
    ("x", "bundle", [AB[0], {**AB[1], "name": "a"}], "arm names must differ"),
    ("x", "bundle", [AB[0], {**AB[1], "strategy": "magic"}], "strategy must be one of"),
    ("x", "bundle", [AB[0], {**AB[1], "share": 0}], "share is a positive"),
    ("x", "bundle", [AB[0], {**AB[1], "share": True}], "share is a positive"),
    ("x", "bundle", [AB[0], {**AB[1], "share": 0.01}], "at least 0.1% of the traffic"),
    ("x", "bundle", [AB[0], {**AB[1], "name": "<b>"}], "name is 1 to 40"),
    ("x", "bundle", [AB[0], "B"], "must be {"),
])
def test_a_bad_experiment_is_refused_saying_what_to_send(name: str, placement: str, arms: Any,
                                                          says: str) -> None:
    with pytest.raises(ExperimentError, match=says):
        new_experiment(name, placement, arms, NOW)


def test_experiments_run_on_the_widget_placements() -> None:
    assert set(PLACEMENTS) <= set(WIDGET_PLACEMENTS)
    assert draft(ALL).covers("cart") and draft("cart").covers("cart")
    assert not draft("bundle").covers("cart")


def test_units_split_by_the_shares() -> None:
    experiment = draft(arms=[{"name": "A", "strategy": "chosen", "share": 20},
                             {"name": "B", "strategy": "popularity", "share": 30},
                             {"name": "C", "strategy": "holdout", "share": 50}])
    split = Counter(arm_for(experiment, f"v:{n}").name for n in range(20_000))
    assert abs(split["A"] - 4000) < 300 and abs(split["B"] - 6000) < 300
    assert abs(split["C"] - 10_000) < 300


def test_a_units_arm_depends_on_the_experiment_and_the_unit_only() -> None:
    first, second = draft(), draft()
    arms = [arm_index(first, f"v:{n}") for n in range(200)]
    assert arms == [arm_index(first, f"v:{n}") for n in range(200)]
    assert arms != [arm_index(second, f"v:{n}") for n in range(200)]  # a new experiment: anew


def test_another_process_puts_every_unit_in_the_same_arm() -> None:
    experiment = draft()
    script = ("import json, sys\n"
              "from plugin.store.experiments import Experiment, arm_index\n"
              "e = Experiment.from_dict(json.loads(sys.argv[1]))\n"
              "print(json.dumps([arm_index(e, f'v:{n}') for n in range(500)]))\n")
    other = subprocess.run([sys.executable, "-c", script, json.dumps(experiment.to_dict())],
                           capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(other.stdout) == [arm_index(experiment, f"v:{n}") for n in range(500)]


def test_a_draft_is_stored_and_listed_newest_first(store: Store, make_shop: Any) -> None:
    shop_id = make_shop().shop.shop_id
    first = made(store, shop_id)
    second = new_experiment("later", "cart", AB, NOW + 5)
    store.run(lambda r: create_experiment(r, shop_id, second))
    assert store.run(lambda r: get_experiment(r, shop_id, first.experiment_id)) == first
    assert [e.experiment_id for e in store.run(lambda r: list_experiments(r, shop_id))] == \
        [second.experiment_id, first.experiment_id]
    assert store.run(lambda r: get_experiment(r, shop_id, "exp_000000000000")) is None


def test_starting_puts_it_in_the_shops_running_experiments(store: Store,
                                                            make_shop: Any) -> None:
    shop_id = make_shop().shop.shop_id
    experiment = made(store, shop_id)

    async def work(redis: aioredis.Redis) -> Any:
        started = await start_experiment(redis, shop_id, experiment.experiment_id, NOW + 1)
        return started, await get_shop(redis, shop_id)

    started, shop = store.run(work)
    assert started.status == "running" and started.started_at == NOW + 1
    assert shop is not None and [e.experiment_id for e in shop.experiments] == \
        [experiment.experiment_id]
    with pytest.raises(ExperimentError, match="only a draft starts"):
        store.run(lambda r: start_experiment(r, shop_id, experiment.experiment_id, NOW))


@pytest.mark.parametrize(("first", "second", "refused"), [
    ("bundle", "bundle", True), ("bundle", ALL, True), (ALL, "cart", True),
    ("bundle", "cart", False)])
def test_one_running_experiment_per_placement(store: Store, make_shop: Any, first: str,
                                              second: str, refused: bool) -> None:
    shop_id = make_shop().shop.shop_id
    one, two = made(store, shop_id, first), made(store, shop_id, second)
    store.run(lambda r: start_experiment(r, shop_id, one.experiment_id, NOW))
    if refused:
        with pytest.raises(ExperimentError, match=f"{one.experiment_id} .* already runs"):
            store.run(lambda r: start_experiment(r, shop_id, two.experiment_id, NOW))
        store.run(lambda r: stop_experiment(r, shop_id, one.experiment_id, NOW + 1))
    store.run(lambda r: start_experiment(r, shop_id, two.experiment_id, NOW + 2))


def test_stopping_takes_it_out_and_its_kept_results_stay(store: Store, make_shop: Any) -> None:
    shop_id = make_shop().shop.shop_id
    experiment = made(store, shop_id)

    async def work(redis: aioredis.Redis) -> Any:
        with pytest.raises(ExperimentError, match="only a running experiment stops"):
            await stop_experiment(redis, shop_id, experiment.experiment_id, NOW)
        await start_experiment(redis, shop_id, experiment.experiment_id, NOW)
        stopped = await stop_experiment(redis, shop_id, experiment.experiment_id, NOW + 9)
        await keep_results(redis, shop_id, experiment.experiment_id, {"arms": []})
        return stopped, await get_experiment(redis, shop_id, experiment.experiment_id), \
            await get_shop(redis, shop_id)

    stopped, read, shop = store.run(work)
    assert stopped.status == "stopped" and stopped.stopped_at == NOW + 9
    assert read.results == {"arms": []} and shop.experiments == ()


def test_arms_change_only_while_a_draft(store: Store, make_shop: Any) -> None:
    shop_id = make_shop().shop.shop_id
    experiment = made(store, shop_id)
    edited = new_experiment("renamed", "cart", [*AB, {"name": "C", "strategy": "popularity",
                                                      "share": 50}], NOW)

    async def work(redis: aioredis.Redis) -> Experiment:
        changed = await edit_draft(redis, shop_id, experiment.experiment_id, edited)
        await start_experiment(redis, shop_id, experiment.experiment_id, NOW)
        with pytest.raises(ExperimentError, match="cannot change once it started"):
            await edit_draft(redis, shop_id, experiment.experiment_id, draft())
        return changed

    changed = store.run(work)
    assert changed.experiment_id == experiment.experiment_id and len(changed.arms) == 3
    assert changed.placement == "cart" and changed.name == "renamed"


def test_shipping_an_arm_serves_its_strategy_on_the_placement(store: Store,
                                                               make_shop: Any) -> None:
    shop_id = make_shop().shop.shop_id
    experiment = made(store, shop_id, "cart", [{"name": "A", "strategy": "chosen", "share": 50},
                                               {"name": "B", "strategy": "popularity",
                                                "share": 50}])

    async def work(redis: aioredis.Redis) -> Any:
        await start_experiment(redis, shop_id, experiment.experiment_id, NOW)
        with pytest.raises(ExperimentError, match="stop it before shipping"):
            await ship_experiment(redis, shop_id, experiment.experiment_id, "B")
        await stop_experiment(redis, shop_id, experiment.experiment_id, NOW + 1)
        with pytest.raises(ExperimentError, match="has no arm 'Z'"):
            await ship_experiment(redis, shop_id, experiment.experiment_id, "Z")
        shipped = await ship_experiment(redis, shop_id, experiment.experiment_id, "B")
        return shipped, await get_shop(redis, shop_id)

    shipped, shop = store.run(work)
    assert shipped.status == "shipped" and shipped.shipped_arm == "B"
    assert shop.serving == (("cart", "popularity"),)
    assert serving_strategy(shop.serving, "cart") == "popularity"
    assert serving_strategy(shop.serving, "bundle") == "chosen"


def test_a_config_arm_keeps_its_whole_blend_and_ships_it(store: Store,
                                                         make_shop: Any) -> None:
    shop_id = make_shop().shop.shop_id
    experiment = made(store, shop_id, "home", [
        {"name": "A", "strategy": "chosen", "share": 50},
        {"name": "B", "strategy": "config", "share": 50, "config": {"nurture_own": 0.5}}])
    arm = experiment.arms[1]
    assert dict(arm.blend)["nurture_own"] == 0.5 and dict(arm.blend)["cart_neighbours"] == 1.0
    assert blend_of(arm.serves) == dict(arm.blend) and blend_of("popularity") is None
    assert Experiment.from_dict(json.loads(json.dumps(experiment.to_dict()))) == experiment
    assert experiment.arms[0].serves == "chosen" and "config" not in experiment.to_dict()[
        "arms"][0]

    async def work(redis: aioredis.Redis) -> Any:
        await start_experiment(redis, shop_id, experiment.experiment_id, NOW)
        await stop_experiment(redis, shop_id, experiment.experiment_id, NOW + 1)
        await ship_experiment(redis, shop_id, experiment.experiment_id, "B")
        with pytest.raises(ExperimentError, match="strategy one of chosen, popularity, holdout"):
            await serve_strategy(redis, shop_id, "home", "config")
        return await get_shop(redis, shop_id)

    shop = store.run(work)
    assert shop.serving == (("home", arm.serves),)
    assert blend_of(serving_strategy(shop.serving, "home")) == dict(arm.blend)


@pytest.mark.parametrize(("arm", "says"), [
    ({"name": "B", "strategy": "config", "share": 50, "config": [1]}, "must be an object"),
    ({"name": "B", "strategy": "config", "share": 50, "config": {"nurture_own": -1}},
     r"arms\[1\].config: nurture_own is a weight"),
    ({"name": "B", "strategy": "popularity", "share": 50, "config": {}}, "config arm only"),
])
def test_a_config_arm_needs_a_blend_and_only_it_has_one(arm: dict[str, Any], says: str) -> None:
    with pytest.raises(ExperimentError, match=says):
        draft("home", [AB[0], arm])


def test_every_placement_shipped_at_once_and_back(store: Store, make_shop: Any) -> None:
    shop_id = make_shop().shop.shop_id

    async def work(redis: aioredis.Redis) -> list[Any]:
        seen = []
        for placement, strategy in (("cart", "holdout"), (ALL, "popularity"),
                                    ("home", "holdout"), (ALL, "chosen")):
            await serve_strategy(redis, shop_id, placement, strategy)
            shop = await get_shop(redis, shop_id)
            assert shop is not None
            seen.append(shop.serving)
        return seen

    assert store.run(work) == [(("cart", "holdout"),), (("*", "popularity"),),
                               (("*", "popularity"), ("home", "holdout")), ()]
    assert serving_strategy((("*", "popularity"), ("home", "holdout")), "cart") == "popularity"


def test_an_unknown_shop_or_experiment_is_named(store: Store, make_shop: Any) -> None:
    shop_id = make_shop().shop.shop_id
    with pytest.raises(ExperimentError, match="no experiment 'exp_000000000000'"):
        store.run(lambda r: start_experiment(r, shop_id, "exp_000000000000", NOW))
    with pytest.raises(ExperimentError, match="'nobody' does not exist"):
        store.run(lambda r: create_experiment(r, "nobody", draft()))
    assert store.run(lambda r: r.exists(keys.experiments("nobody"))) == 0
