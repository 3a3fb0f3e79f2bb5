"""The experiments API (plugin/api/experiments.py) over real HTTP: made, started, stopped and
shipped, refused with the status that says why, the recommendation calls answering with their
arm; every answer as the API reference describes it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from plugin.store.experiments import Experiment, arm_index
from plugin.store.shops import NewShop
from tests.helpers import auth, order_payload, send_orders, train
from tests.openapi_check import reference, schema_errors, undocumented

ROUTES = ("/experiments", "/experiments/{experiment_id}", "/experiments/{experiment_id}/start",
          "/experiments/{experiment_id}/stop", "/experiments/{experiment_id}/ship")
AB = [{"name": "A", "strategy": "chosen", "share": 50},
      {"name": "B", "strategy": "holdout", "share": 50}]


@pytest.fixture(scope="module")
def doc(base_url: str) -> dict[str, Any]:
    with httpx.Client(base_url=base_url) as client:
        return reference(client)


@pytest.fixture
def trained(http: httpx.Client, shop: NewShop) -> NewShop:
    send_orders(http, shop, [order_payload(n, n, [1, 2, 3]) for n in range(12)])
    assert train(http, shop).status_code == 200
    return shop


def call(http: httpx.Client, shop: NewShop, method: str, route: str, doc: dict[str, Any],
         **kwargs: Any) -> httpx.Response:
    """The call, its answer checked against the reference of its route."""
    path = f"/api/v1/shops/{shop.shop.shop_id}" + route.format(**kwargs.pop("ids", {}))
    response = http.request(method, path, headers=auth(shop), **kwargs)
    assert schema_errors(doc, method, "/api/v1/shops/{shop_id}" + route, response) == []
    return response


def made(http: httpx.Client, shop: NewShop, doc: dict[str, Any], placement: str = "bundle",
         arms: Any = None) -> dict[str, Any]:
    response = call(http, shop, "POST", "/experiments", doc, json={
        "name": "Bundle against none", "placement": placement, "arms": arms or AB})
    assert response.status_code == 201, response.text
    return dict(response.json())


def step(http: httpx.Client, shop: NewShop, doc: dict[str, Any], experiment_id: str,
         action: str, **kwargs: Any) -> httpx.Response:
    return call(http, shop, "POST", f"/experiments/{{experiment_id}}/{action}", doc,
                ids={"experiment_id": experiment_id}, **kwargs)


def test_every_route_is_documented(doc: dict[str, Any]) -> None:
    for route in ROUTES:
        assert undocumented(doc, "/api/v1/shops/{shop_id}" + route) == [], route


def test_a_draft_is_made_listed_and_read(http: httpx.Client, shop: NewShop,
                                          doc: dict[str, Any]) -> None:
    draft = made(http, shop, doc)
    assert (draft["status"], draft["results"], draft["arms"][1]["share"]) == ("draft", None, 50)
    listed = call(http, shop, "GET", "/experiments", doc).json()
    assert [e["id"] for e in listed["experiments"]] == [draft["id"]]
    assert listed["serving"] == {}
    read = call(http, shop, "GET", "/experiments/{experiment_id}", doc,
                ids={"experiment_id": draft["id"]})
    assert read.json() == draft


@pytest.mark.parametrize(("body", "says"), [
    ({"name": "x", "placement": "nowhere", "arms": AB}, "placement must be one of"),
    ({"name": "x", "placement": "cart", "arms": AB[:1]}, "2 to 5 arms"),
    ([], "the body must be an object"),
])
def test_a_bad_experiment_is_refused_with_400(http: httpx.Client, shop: NewShop,
                                              doc: dict[str, Any], body: Any, says: str) -> None:
    response = call(http, shop, "POST", "/experiments", doc, json=body)
    assert response.status_code == 400 and says in response.json()["detail"]


@pytest.mark.parametrize("experiment_id", ["exp_000000000000", "nonsense"])
def test_an_unknown_experiment_is_404(http: httpx.Client, shop: NewShop, doc: dict[str, Any],
                                      experiment_id: str) -> None:
    for response in (call(http, shop, "GET", "/experiments/{experiment_id}", doc,
                          ids={"experiment_id": experiment_id}),
                     step(http, shop, doc, experiment_id, "start")):
        assert response.status_code == 404, response.text


def test_run_stop_and_ship(http: httpx.Client, trained: NewShop, doc: dict[str, Any]) -> None:
    experiment_id = made(http, trained, doc)["id"]
    started = step(http, trained, doc, experiment_id, "start")
    assert started.status_code == 200 and started.json()["status"] == "running"
    assert started.json()["results"]["arms"][0]["visitors"] == 0
    other = made(http, trained, doc, "*")["id"]
    refused = step(http, trained, doc, other, "start")
    assert refused.status_code == 409 and experiment_id in refused.json()["detail"]
    stopped = step(http, trained, doc, experiment_id, "stop")
    assert stopped.json()["status"] == "stopped" and stopped.json()["results"] is not None
    assert step(http, trained, doc, experiment_id, "stop").status_code == 409
    bad_arm = step(http, trained, doc, experiment_id, "ship", json={"arm": "Z"})
    assert bad_arm.status_code == 400 and "no arm 'Z'" in bad_arm.json()["detail"]
    shipped = step(http, trained, doc, experiment_id, "ship", json={"arm": "B"})
    assert (shipped.json()["status"], shipped.json()["shipped_arm"]) == ("shipped", "B")
    assert call(http, trained, "GET", "/experiments", doc).json()["serving"] == {
        "bundle": "holdout"}


def test_a_draft_is_edited_until_it_starts(http: httpx.Client, shop: NewShop,
                                           doc: dict[str, Any]) -> None:
    experiment_id = made(http, shop, doc)["id"]
    three = [*AB, {"name": "C", "strategy": "popularity", "share": 50}]
    body = {"name": "three ways", "placement": "cart", "arms": three}
    edited = call(http, shop, "PUT", "/experiments/{experiment_id}", doc,
                  ids={"experiment_id": experiment_id}, json=body)
    assert edited.status_code == 200 and len(edited.json()["arms"]) == 3
    step(http, shop, doc, experiment_id, "start")
    again = call(http, shop, "PUT", "/experiments/{experiment_id}", doc,
                 ids={"experiment_id": experiment_id}, json=body)
    assert again.status_code == 409 and "cannot change" in again.json()["detail"]


def test_recommendation_calls_answer_with_their_arm(http: httpx.Client, trained: NewShop,
                                                    doc: dict[str, Any]) -> None:
    experiment = made(http, trained, doc, "*", [{"name": "A", "strategy": "chosen", "share": 50},
                                                {"name": "B", "strategy": "popularity",
                                                 "share": 50}])
    step(http, trained, doc, experiment["id"], "start")
    base = f"/api/v1/shops/{trained.shop.shop_id}/recommendations"
    for visitor in ("v1", "v2", "v3", "v4", "v5", "v6"):
        response = http.get(f"{base}/products/1", params={"visitor_id": visitor},
                            headers=auth(trained))
        assert schema_errors(doc, "GET", "/api/v1/shops/{shop_id}/recommendations/products/"
                             "{product_id}", response) == []
        body = response.json()
        arm = "AB"[arm_index_of(experiment, f"v:{visitor}")]
        assert (body["experiment"], body["arm"]) == (experiment["id"], arm)
        assert body["strategy"] == ("trending" if arm == "B" else body["strategy"])
        assert "1" not in [item["product_id"] for item in body["items"]]
    outside = http.get(f"{base}/products/1", headers=auth(trained)).json()
    assert "experiment" not in outside  # names no one: in no experiment
    bad = http.get(f"{base}/trending", params={"visitor_id": "a b"}, headers=auth(trained))
    assert bad.status_code == 400 and "visitor_id" in bad.json()["detail"]


def arm_index_of(experiment: dict[str, Any], unit: str) -> int:
    return arm_index(Experiment.from_dict(experiment), unit)


def test_a_config_arm_serves_the_model_with_its_blend(http: httpx.Client, shop: NewShop,
                                                      doc: dict[str, Any]) -> None:
    """Customers 1 and 2 bought 4 and 5 only; 9 sells most. The chosen blend puts their own
    products first, the config arm that weighs trending alone puts 9 first; shipped, it serves
    every call of the placement. (A customer stays in their first visitor's arm: one each.)"""
    send_orders(http, shop, [*(order_payload(n, 1 + n % 2, [4, 5]) for n in range(1, 5)),
                             *(order_payload(n, n, [9, n % 3 + 1]) for n in range(10, 25))])
    assert train(http, shop).status_code == 200
    trending_only = {"nurture_own": 0, "nurture_taste": 0, "nurture_trending": 1}
    experiment = made(http, shop, doc, "home", [
        {"name": "A", "strategy": "chosen", "share": 50},
        {"name": "B", "strategy": "config", "share": 50, "config": trending_only}])
    arm_b = experiment["arms"][1]
    assert arm_b["config"]["nurture_trending"] == 1 and arm_b["config"]["discovery_taste"] == 1
    step(http, shop, doc, experiment["id"], "start")
    path = "/recommendations/customers/{customer_id}"
    visitors = {"AB"[arm_index_of(experiment, f"v:{v}")]: v for v in map(str, range(40))}
    first = {}
    for customer, (arm, visitor) in enumerate(sorted(visitors.items()), start=1):
        body = call(http, shop, "GET", path, doc, ids={"customer_id": str(customer)},
                    params={"visitor_id": visitor}).json()
        assert body["arm"] == arm
        first[arm] = body["items"][0]
    assert first["A"]["product_id"] in ("4", "5") and first["A"]["reason"] == "buy_again"
    assert first["B"]["product_id"] == "9" and first["B"]["reason"] == "personal"
    shipped = step(http, shop, doc, experiment["id"], "ship", json={"arm": "B"})
    assert shipped.status_code == 200, shipped.text
    serving = call(http, shop, "GET", "/experiments", doc).json()["serving"]
    assert serving["home"].startswith("config:{")
    after = call(http, shop, "GET", path, doc, ids={"customer_id": "1"}).json()
    assert after["items"][0]["product_id"] == "9" and "experiment" not in after


@pytest.mark.parametrize(("arm", "says"), [
    ({"name": "B", "strategy": "config", "share": 50}, "config must be an object"),
    ({"name": "B", "strategy": "config", "share": 50, "config": {"factors": 9}}, "not factors"),
    ({"name": "B", "strategy": "holdout", "share": 50, "config": {}}, "for a config arm only"),
])
def test_a_bad_config_arm_is_refused(http: httpx.Client, shop: NewShop, doc: dict[str, Any],
                                     arm: dict[str, Any], says: str) -> None:
    response = call(http, shop, "POST", "/experiments", doc, json={
        "name": "blend", "placement": "home", "arms": [AB[0], arm]})
    assert response.status_code == 400 and says in response.json()["detail"]
