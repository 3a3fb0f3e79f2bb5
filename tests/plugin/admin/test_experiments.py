"""The admin's Experiments page (plugin/admin/experiments.py): in Chromium the owner makes an
experiment, starts it, sees visitors arrive, stops it (the results stay), ships an arm and
serves the model again; a broken split is shown as such; forms need the CSRF token, a bad
form is refused with its reason, and another shop's experiment is never shown."""

from __future__ import annotations

import re
from typing import Any

import httpx

from plugin.store import keys
from plugin.store.experiments import (
    create_experiment,
    list_experiments,
    new_experiment,
    start_experiment,
)
from plugin.store.shops import NewShop
from tests.browser import DESKTOP_UA, SCREENSHOTS, PageWatch, browser  # noqa: F401
from tests.conftest import Store
from tests.helpers import order_payload, send_orders, train, visitor_in
from tests.plugin.admin.conftest import link_for, sign_in

AB = [{"name": "A", "strategy": "chosen", "share": 50},
      {"name": "B", "strategy": "holdout", "share": 50}]


def visit(http: httpx.Client, shop: NewShop, visitor: str) -> dict[str, Any]:
    answer = http.get("/widgets/v1/recommendations", params={
        "key": shop.shop.widget_key, "placement": "cart", "product_ids": "1",
        "visitor_id": visitor})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_the_owner_runs_an_experiment_in_chromium(store: Store, shop: NewShop, base_url: str,
                                                  http: httpx.Client,
                                                  browser: Any) -> None:  # noqa: F811
    send_orders(http, shop, [order_payload(n, n, [1, 2, 3]) for n in range(12)])
    assert train(http, shop).status_code == 200
    context = browser.new_context(user_agent=DESKTOP_UA, viewport={"width": 1200, "height": 900})
    try:
        page = context.new_page()
        watch = PageWatch(page)
        page.goto(link_for(store, shop, base_url))
        page.click("#continue")
        page.click("nav >> text=Experiments")
        page.wait_for_selector("h1:text('Experiments')")
        page.fill("#experiment-name", "Cart widget against none")
        page.select_option("#experiment-placement", "cart")
        page.click("#create-experiment button[type=submit]")
        page.wait_for_selector("#experiment-status:has-text('Draft')")
        page.click("#start")
        page.wait_for_selector("#experiment-status:has-text('Running')")
        (experiment,) = store.run(lambda r: list_experiments(r, shop.shop.shop_id))
        visitors = [f"owner-test-{n}" for n in range(10)]
        visitors += [visitor_in(experiment, arm, "owner-test-", 10) for arm in (0, 1)]
        arms = [visit(http, shop, visitor).get("arm") for visitor in visitors]
        assert set(arms) == {"A", "B"}
        page.reload()
        assert page.inner_text("#arm-results tbody").count("\n") == 1  # two arms
        assert sum(int(cell.inner_text()) for cell in page.locator(
            "#arm-results tbody td:nth-child(2)").all()) == len(arms)
        page.click("#stop")
        page.wait_for_selector("#experiment-status:has-text('Stopped')")
        assert page.inner_text("#verdicts") == "B: no orders from either arm's visitors yet"
        visit(http, shop, "after-the-stop")  # served as without an experiment, not counted
        page.reload()
        assert sum(int(cell.inner_text()) for cell in page.locator(
            "#arm-results tbody td:nth-child(2)").all()) == len(arms)
        SCREENSHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "admin-experiment-1200.png"), full_page=True)
        page.select_option("#ship-arm", "B")
        page.click("#ship button[type=submit]")
        page.wait_for_selector("#experiment-status:has-text('Shipped')")
        assert visit(http, shop, "anyone")["items"] == []  # B: no widget on the cart page
        page.click("text=← Experiments")
        row = page.locator("#serving tbody tr", has_text="cart")
        assert "holdout" in row.inner_text()
        page.screenshot(path=str(SCREENSHOTS / "admin-experiments-1200.png"), full_page=True)
        row.locator("button").click()
        page.wait_for_selector("h1:text('Experiments')")
        assert page.locator("#serving").count() == 0
        assert visit(http, shop, "anyone-else")["items"]
        assert watch.errors == []
    finally:
        context.close()


def test_a_broken_split_is_shown_as_untrustworthy(store: Store, shop: NewShop,
                                                  base_url: str) -> None:
    experiment = new_experiment("skewed", "home", AB, 1_800_000_000.0)

    async def work(redis: Any) -> None:
        await create_experiment(redis, shop.shop.shop_id, experiment)
        await start_experiment(redis, shop.shop.shop_id, experiment.experiment_id, 1.0)
        counts = keys.experiment_counts(shop.shop.shop_id, experiment.experiment_id)
        await redis.hset(counts, mapping={"0:visitors": 1000, "1:visitors": 700})

    store.run(work)
    with httpx.Client(base_url=base_url) as client:
        sign_in(store, shop, client)
        page = client.get(f"/admin/experiments/{experiment.experiment_id}")
    assert page.status_code == 200
    assert 'id="srm"' in page.text and "1000, 700" in page.text
    assert "Do not trust these results" in page.text


def test_forms_need_the_csrf_token_and_say_what_is_wrong(store: Store, shop: NewShop,
                                                         base_url: str) -> None:
    with httpx.Client(base_url=base_url) as client:
        csrf = sign_in(store, shop, client)
        forged = client.post("/admin/experiments", data={"name": "x", "placement": "cart"})
        assert forged.status_code == 403
        bad = client.post("/admin/experiments", data={
            "csrf": csrf, "name": "x", "placement": "cart", "arm_name_0": "A",
            "arm_strategy_0": "chosen", "arm_share_0": "50"})
        assert bad.status_code == 400 and "2 to 5 arms" in bad.text
        made = client.post("/admin/experiments", data={
            "csrf": csrf, "name": "ok", "placement": "cart", "arm_name_0": "A",
            "arm_strategy_0": "chosen", "arm_share_0": "50", "arm_name_1": "B",
            "arm_strategy_1": "popularity", "arm_share_1": "50"})
        assert made.status_code == 303
        experiment_id = made.headers["location"].rpartition("/")[2]
        twice = [client.post("/admin/experiments/stop", data={
            "csrf": csrf, "experiment_id": experiment_id}) for _ in range(2)]
        assert twice[0].status_code == 409 and "only a running experiment" in twice[0].text
        arms = {"csrf": csrf, "name": "blend", "placement": "home", "arm_name_0": "A",
                "arm_strategy_0": "chosen", "arm_share_0": "50", "arm_name_1": "B",
                "arm_strategy_1": "config", "arm_share_1": "50"}
        unreadable = client.post("/admin/experiments", data={**arms, "arm_config_1": "own"})
        assert unreadable.status_code == 400 and "arm B: a blend is written" in unreadable.text
        blended = client.post("/admin/experiments", data={
            **arms, "arm_config_1": "nurture_trending=1, nurture_own=0"}, follow_redirects=True)
        assert blended.status_code == 200
        assert "the shop&#39;s model with a fixed blend (nurture_own=0, nurture_trending=1)" \
            in blended.text


def test_another_shops_experiment_is_not_found(store: Store, make_shop: Any,
                                               base_url: str) -> None:
    mine, theirs = make_shop(), make_shop()
    experiment = new_experiment("theirs", "cart", AB, 1_800_000_000.0)
    store.run(lambda r: create_experiment(r, theirs.shop.shop_id, experiment))
    with httpx.Client(base_url=base_url) as client:
        csrf = sign_in(store, mine, client)
        shown = client.get(f"/admin/experiments/{experiment.experiment_id}")
        started = client.post("/admin/experiments/start", data={
            "csrf": csrf, "experiment_id": experiment.experiment_id})
    assert shown.status_code == 404 and started.status_code == 404
    assert re.search("theirs", shown.text) is None
