"""`shopreco experiments` (plugin/commands/experiments.py) on the session's store: made,
started (the running server answers with arms within a moment), results as a table, stopped,
shipped, refused with a message a person can act on."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from plugin.commands.experiments import format_results, parse_arm, with_blends
from plugin.store.experiments import get_experiment
from plugin.store.shops import NewShop
from tests.conftest import Store
from tests.helpers import eventually, order_payload, send_orders, train, visitor_in
from tests.plugin.commands.conftest import Cli


@pytest.fixture
def trained(http: httpx.Client, shop: NewShop) -> NewShop:
    send_orders(http, shop, [order_payload(n, n, [1, 2]) for n in range(10)])
    assert train(http, shop).status_code == 200
    return shop


def test_an_arm_is_name_strategy_and_share() -> None:
    assert parse_arm("no widget:holdout:25") == {"name": "no widget", "strategy": "holdout",
                                                 "share": 25.0}
    with pytest.raises(ValueError, match="NAME:STRATEGY:SHARE"):
        parse_arm("B:holdout")


def test_a_config_arm_takes_its_blend() -> None:
    arms = [parse_arm("A:chosen:50"), parse_arm("B:config:25"), parse_arm("C:config:25")]
    found = with_blends(arms, ["B:nurture_own=0,repeat_model=true"])
    assert found[0] == arms[0] and "config" not in found[0]
    assert found[1]["config"] == {"nurture_own": 0.0, "repeat_model": True}
    assert found[2]["config"] == {}  # the default blend
    with pytest.raises(ValueError, match="names no config arm: A"):
        with_blends(arms, ["A:nurture_own=0"])
    with pytest.raises(ValueError, match="NAME:FIELD=VALUE"):
        with_blends(arms, ["nurture_own=0"])
    with pytest.raises(ValueError, match=r"--config B: .*name=value"):
        with_blends(arms, ["B:nurture_own"])


def test_a_config_arm_is_made_and_shipped(cli: Cli, trained: NewShop) -> None:
    shop_id = trained.shop.shop_id
    made = cli("experiments", "create", shop_id, "--name", "defaults", "--placement", "home",
               "--arm", "A:chosen:50", "--arm", "B:config:50", "--config",
               "B:nurture_trending=2")
    assert made.returncode == 0, made.stderr
    arm = made.json()["arms"][1]
    assert arm["strategy"] == "config" and arm["config"]["nurture_trending"] == 2.0
    bad = cli("experiments", "create", shop_id, "--name", "x", "--placement", "home",
              "--arm", "A:chosen:50", "--arm", "B:config:50", "--config", "B:factors=3")
    assert bad.returncode == 1 and "not factors" in bad.stderr
    experiment_id = made.json()["id"]
    cli("experiments", "start", shop_id, experiment_id)
    shipped = cli("experiments", "ship", shop_id, experiment_id, "--arm", "B")
    assert shipped.returncode == 0 and "now serves arm B: config:{" in shipped.stdout
    serving = cli("experiments", "list", shop_id).json()["serving"]
    assert '"nurture_trending":2.0' in serving["home"]
    with pytest.raises(SystemExit):  # argparse: a blend is served by shipping its arm
        cli("experiments", "serve", shop_id, "home", "config")


def test_make_run_read_stop_and_ship(cli: Cli, http: httpx.Client, trained: NewShop,
                                     store: Store) -> None:
    shop_id = trained.shop.shop_id
    made = cli("experiments", "create", shop_id, "--name", "cart test", "--placement", "cart",
               "--arm", "A:chosen:50", "--arm", "B:holdout:50")
    assert made.returncode == 0, made.stderr
    experiment_id = made.json()["id"]
    assert cli("experiments", "start", shop_id, experiment_id).json()["status"] == "running"

    def in_it(visitor: str) -> dict[str, Any]:
        answer = http.get("/widgets/v1/recommendations", params={
            "key": trained.shop.widget_key, "placement": "cart", "product_ids": "1",
            "visitor_id": visitor}).json()
        assert answer.get("experiment") == experiment_id
        return dict(answer)

    experiment = store.run(lambda r: get_experiment(r, shop_id, experiment_id))
    assert experiment is not None
    visitors = ["a", "b", "c", "d", *(visitor_in(experiment, arm) for arm in (0, 1))]
    arms = {eventually(lambda v=v: in_it(v))["arm"] for v in visitors}
    assert arms == {"A", "B"}
    table = cli("experiments", "results", shop_id, experiment_id)
    assert table.returncode == 0 and "cart test) on cart: running" in table.stdout
    assert "conversion" in table.stdout.splitlines()[1]
    read = cli("experiments", "results", shop_id, experiment_id, "--json").json()
    assert sum(read["results"]["sample_ratio"]["observed"]) == len(visitors)
    stopped = cli("experiments", "stop", shop_id, experiment_id)
    assert stopped.returncode == 0 and ": stopped" in stopped.stdout
    shipped = cli("experiments", "ship", shop_id, experiment_id, "--arm", "B")
    assert shipped.stdout.strip() == f"placement cart of shop {shop_id} now serves arm B: holdout"
    assert cli("experiments", "list", shop_id).json()["serving"] == {"cart": "holdout"}
    back = cli("experiments", "serve", shop_id, "cart", "chosen")
    assert back.json()["serving"] == {}


def test_refusals_say_what_to_do(cli: Cli, shop: NewShop) -> None:
    shop_id = shop.shop.shop_id
    bad = cli("experiments", "create", shop_id, "--name", "x", "--placement", "cart",
              "--arm", "A:chosen:50")
    assert bad.returncode == 1 and "2 to 5 arms" in bad.stderr
    unknown = cli("experiments", "results", shop_id, "exp_000000000000")
    assert unknown.returncode == 1 and "shopreco experiments list" in unknown.stderr
    draft = cli("experiments", "create", shop_id, "--name", "x", "--placement", "*",
                "--arm", "A:chosen:1", "--arm", "B:popularity:1").json()["id"]
    not_running = cli("experiments", "stop", shop_id, draft)
    assert not_running.returncode == 1 and "only a running experiment stops" in \
        not_running.stderr
    assert "no results: it has not started" in cli("experiments", "results", shop_id,
                                                    draft).stdout


def test_the_table_shows_money_per_currency() -> None:
    arm = {"name": "A", "strategy": "chosen", "share": 50.0, "visitors": 10,
           "impressions": 40, "ctr": 0.1, "add_to_cart_rate": 0.2, "conversion_rate": None,
           "orders": 2, "revenue_per_visitor": {"EUR": "3.00", "USD": None},
           "aov": {"EUR": "15.00"}}
    text = format_results({"id": "exp_1", "name": "n", "placement": "cart",
                           "status": "stopped"}, {"arms": [arm], "verdicts": ["B: ..."]})
    assert text.splitlines()[2].split() == ["A", "chosen", "50%", "10", "40", "10.00%",
                                            "20.00%", "-", "2", "3.00", "EUR", "15.00", "EUR"]
    assert text.endswith("B: ...")
