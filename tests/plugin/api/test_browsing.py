"""Browsing through the JSON API (plugin/api/browsing.py) over real HTTP: a visitor's events in,
`recently_viewed` and `inspired_by_browsing` out, fresh right after the events in this process
and after its next refresh in another; every refusal a 400 naming the problem that stores
nothing; the events:write scope; one shop's visitors never another's; erasure of a linked
customer; every answer as the reference says."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from plugin.api.browsing import MAX_EVENTS
from plugin.store import keys
from plugin.store.api_keys import create_key
from plugin.store.experiments import arm_for, create_experiment, new_experiment, start_experiment
from plugin.store.shops import NewShop
from tests.conftest import Store
from tests.helpers import auth, eventually
from tests.openapi_check import reference, schema_errors, undocumented

EVENTS = "/api/v1/shops/{shop_id}/events"
VISITOR = "/api/v1/shops/{shop_id}/recommendations/visitors/{visitor_id}"


def views(*product_ids: str, kind: str = "product_view") -> list[dict[str, Any]]:
    return [{"type": kind, "product_id": p} for p in product_ids]


def send(http: httpx.Client, shop: NewShop, events: list[dict[str, Any]],
         visitor: str = "v-1", **more: Any) -> httpx.Response:
    return http.post(EVENTS.format(shop_id=shop.shop.shop_id), headers=auth(shop),
                     json={"visitor_id": visitor, "events": events, **more})


def listed(http: httpx.Client, shop: NewShop, kind: str, visitor: str = "v-1",
           **params: Any) -> httpx.Response:
    return http.get(VISITOR.format(shop_id=shop.shop.shop_id, visitor_id=visitor),
                    params={"kind": kind, **params}, headers=auth(shop))


def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["product_id"] for item in response.json()["items"]]


def history(store: Store, shop: NewShop, visitor: str = "v-1") -> list[bytes]:
    return list(store.run(lambda r: r.zrange(keys.visitor_browsing(shop.shop.shop_id, visitor),
                                             0, -1)))


def test_views_make_both_lists_at_once(http: httpx.Client, trained_shop: NewShop) -> None:
    shop, doc = trained_shop, reference(http)
    sent = send(http, shop, views("103", "101", "105"))
    assert sent.status_code == 200, sent.text
    assert sent.json() == {"shop_id": shop.shop.shop_id, "visitor_id": "v-1", "recorded": 3,
                           "ignored": 0}
    assert schema_errors(doc, "POST", EVENTS, sent) == []
    recent = listed(http, shop, "recently_viewed")
    assert ids(recent) == ["105", "101", "103"]
    assert schema_errors(doc, "GET", VISITOR, recent) == []
    first = recent.json()["items"][0]
    assert (first["reason"], first["title"], first["currency"]) == (
        "recently_viewed", "Product 105", "USD")
    assert recent.json()["model_version"] is not None
    inspired = listed(http, shop, "inspired_by_browsing", limit=4)
    assert schema_errors(doc, "GET", VISITOR, inspired) == []
    shown = ids(inspired)
    assert len(shown) == 4 and not {"101", "103", "105"} & set(shown)
    assert "102" in shown  # always bought with 101
    led = [item for item in inspired.json()["items"] if item["reason"] == "browsing"]
    assert led and all(set(item["because"]) <= {"101", "103", "105"} for item in led)
    assert ids(listed(http, shop, "recently_viewed", limit=2)) == ["105", "101"]
    assert undocumented(doc, EVENTS) == [] and undocumented(doc, VISITOR) == []
    assert doc["paths"][EVENTS]["post"]["security"] == [{"apiKey": ["events:write"]}]
    assert doc["paths"][VISITOR]["get"]["security"] == [{"apiKey": ["recommendations:read"]}]


def test_a_visitor_without_views_gets_no_recent_list_and_trending_inspiration(
        http: httpx.Client, trained_shop: NewShop) -> None:
    shop = trained_shop
    assert ids(listed(http, shop, "recently_viewed", visitor="nobody")) == []
    trending = http.get(f"/api/v1/shops/{shop.shop.shop_id}/recommendations/trending",
                        params={"limit": 3}, headers=auth(shop))
    assert ids(listed(http, shop, "inspired_by_browsing", visitor="nobody", limit=3)) == \
        ids(trending)
    default = http.get(VISITOR.format(shop_id=shop.shop.shop_id, visitor_id="nobody"),
                       headers=auth(shop))
    assert default.status_code == 200 and default.json()["strategy"] == "recently_viewed"


def test_a_new_view_changes_the_kept_answer_here_and_in_another_process(
        http: httpx.Client, elsewhere: httpx.Client, trained_shop: NewShop) -> None:
    shop = trained_shop
    assert send(http, shop, views("103")).status_code == 200
    for client in (http, elsewhere):  # both processes keep these answers
        assert ids(listed(client, shop, "recently_viewed")) == ["103"]
        assert "104" in ids(listed(client, shop, "inspired_by_browsing", limit=3))
    assert send(http, shop, views("104")).status_code == 200
    assert ids(listed(http, shop, "recently_viewed")) == ["104", "103"]  # at once here ...

    def fresh(client: httpx.Client, viewed: list[str]) -> None:
        assert ids(listed(client, shop, "recently_viewed")) == viewed
        assert viewed[0] not in ids(listed(client, shop, "inspired_by_browsing", limit=3))

    fresh(http, ["104", "103"])
    eventually(lambda: fresh(elsewhere, ["104", "103"]))  # ... there after its next refresh
    assert send(http, shop, views("103", kind="add_to_cart")).status_code == 200
    fresh(http, ["103", "104"])
    eventually(lambda: fresh(elsewhere, ["103", "104"]))


def test_times_order_the_history_and_old_events_are_ignored(
        http: httpx.Client, trained_shop: NewShop) -> None:
    shop = trained_shop
    now = time.time()

    def iso(seconds: float) -> str:
        return datetime.fromtimestamp(seconds, UTC).isoformat()

    sent = send(http, shop, [
        {"type": "product_view", "product_id": "104", "at": iso(now - 60)},
        {"type": "product_view", "product_id": "106", "at": iso(now - 3600)},
        {"type": "add_to_cart", "product_id": "107", "at": "2030-01-01T00:00:00+01:00"},
        {"type": "product_view", "product_id": "108", "at": iso(now - 40 * 86400)},
        {"type": "product_view", "product_id": "105", "at": "2020-01-01T00:00:00Z"}])
    assert sent.json()["recorded"] == 3 and sent.json()["ignored"] == 2
    assert ids(listed(http, shop, "recently_viewed")) == ["107", "104", "106"]


def test_products_never_shown_are_left_out(http: httpx.Client, trained_shop: NewShop) -> None:
    shop = trained_shop
    base = f"/api/v1/shops/{shop.shop.shop_id}"
    assert send(http, shop, views("101", "103", "104", "not-in-the-catalog")).status_code == 200
    assert http.put(f"{base}/exclusions", json={"product_ids": ["103"]},
                    headers=auth(shop)).status_code == 200
    assert http.delete(f"{base}/catalog/products/101", headers=auth(shop)).status_code == 204
    assert ids(listed(http, shop, "recently_viewed")) == ["104"]
    assert not {"101", "103", "104"} & set(ids(listed(http, shop, "inspired_by_browsing")))


REFUSED = [
    ("not json", "JSON"),
    ([], "an object with `visitor_id` and a list `events`"),
    ({"visitor_id": "v-1"}, "a list `events`"),
    ({"visitor_id": "v-1", "events": views("1"), "extra": 1}, "a list `events`"),
    ({"events": views("1")}, "visitor_id must be 1 to 128 letters"),
    ({"visitor_id": "has space", "events": views("1")}, "visitor_id must be"),
    ({"visitor_id": "v" * 129, "events": views("1")}, "visitor_id must be"),
    ({"visitor_id": "v-1", "events": []}, f"1 to {MAX_EVENTS} events, got 0"),
    ({"visitor_id": "v-1", "events": views(*map(str, range(MAX_EVENTS + 1)))},
     f"1 to {MAX_EVENTS} events"),
    ({"visitor_id": "v-1", "events": [*views("1"), "2"]}, r"events\[1\] must be an object"),
    ({"visitor_id": "v-1", "events": [{"type": "purchase", "product_id": "1"}]},
     r"events\[0\].type must be one of product_view, add_to_cart"),
    ({"visitor_id": "v-1", "events": [{"type": "product_view"}]},
     r"events\[0\].product_id must be a non-empty"),
    ({"visitor_id": "v-1", "events": [{"type": "product_view", "product_id": ["1"]}]},
     r"events\[0\].product_id"),
    ({"visitor_id": "v-1", "events": [{"type": "product_view", "product_id": "1",
                                       "at": "yesterday"}]}, r"events\[0\].at must be an ISO"),
    ({"visitor_id": "v-1", "events": [{"type": "product_view", "product_id": "1",
                                       "at": 1_800_000_000}]}, r"events\[0\].at must be"),
    ({"visitor_id": "v-1", "events": [{"type": "product_view", "product_id": "1",
                                       "at": "1960-01-01T00:00:00Z"}]}, r"events\[0\].at"),
    ({"visitor_id": "v-1", "events": [{"type": "product_view", "product_id": "1",
                                       "placement": "home"}]}, r"events\[0\] must be an object"),
    ({"visitor_id": "v-1", "customer_id": "", "events": views("1")}, "customer_id must be"),
]


@pytest.mark.parametrize("body, reason", REFUSED, ids=[str(n) for n in range(len(REFUSED))])
def test_bad_events_are_refused_naming_the_problem_and_nothing_is_stored(
        http: httpx.Client, store: Store, shop: NewShop, body: Any, reason: str) -> None:
    path = EVENTS.format(shop_id=shop.shop.shop_id)
    if isinstance(body, str):
        response = http.post(path, content=body, headers=auth(shop))
    else:
        response = http.post(path, json=body, headers=auth(shop))
    assert response.status_code == 400, response.text
    assert re.search(reason, response.json()["detail"]), response.json()["detail"]
    assert schema_errors(reference(http), "POST", EVENTS, response) == []
    assert history(store, shop) == []
    assert store.run(lambda r: r.exists(
        keys.widget_customer_visitors(shop.shop.shop_id, "c1"))) == 0


@pytest.mark.parametrize("params, reason", [
    ({"kind": "similar"}, "kind must be recently_viewed or inspired_by_browsing"),
    ({"limit": "0"}, "limit must be an integer"),
], ids=["kind", "limit"])
def test_bad_list_parameters_are_refused(http: httpx.Client, shop: NewShop,
                                         params: dict[str, str], reason: str) -> None:
    response = http.get(VISITOR.format(shop_id=shop.shop.shop_id, visitor_id="v-1"),
                        params=params, headers=auth(shop))
    assert response.status_code == 400 and reason in response.json()["detail"]
    assert schema_errors(reference(http), "GET", VISITOR, response) == []
    bad_visitor = http.get(VISITOR.format(shop_id=shop.shop.shop_id, visitor_id="a b"),
                           headers=auth(shop))
    assert bad_visitor.status_code == 400 and "visitor_id must be" in bad_visitor.text


def test_visitors_belong_to_one_shop_and_events_need_their_scope(
        http: httpx.Client, store: Store, trained_shop: NewShop, make_shop: Any) -> None:
    shop, other = trained_shop, make_shop()
    assert send(http, shop, views("101")).status_code == 200
    assert send(http, other, views("zz")).status_code == 200  # the same visitor id
    assert ids(listed(http, shop, "recently_viewed")) == ["101"]
    assert history(store, other) == [b"zz"]
    path = EVENTS.format(shop_id=shop.shop.shop_id)
    body = {"visitor_id": "v-1", "events": views("102")}
    assert http.post(path, json=body).status_code == 401
    assert http.post(path, json=body, headers=auth(other)).status_code == 403
    assert listed(http, shop, "recently_viewed").status_code == 200
    assert http.get(VISITOR.format(shop_id=shop.shop.shop_id, visitor_id="v-1"),
                    headers=auth(other)).status_code == 403
    assert http.post(path.replace(shop.shop.shop_id, "no-such-shop"), json=body,
                     headers=auth(shop)).status_code == 404
    reader = store.run(lambda r: create_key(r, shop.shop.shop_id, "shelf",
                                            ["recommendations:read"]))
    writer = store.run(lambda r: create_key(r, shop.shop.shop_id, "tracker", ["events:write"]))
    refused = http.post(path, json=body, headers={"Authorization": f"Bearer {reader.secret}"})
    assert refused.status_code == 403 and "events:write" in refused.json()["detail"]
    written = http.post(path, json=body, headers={"Authorization": f"Bearer {writer.secret}"})
    assert written.status_code == 200, written.text
    assert http.get(VISITOR.format(shop_id=shop.shop.shop_id, visitor_id="v-1"),
                    headers={"Authorization": f"Bearer {writer.secret}"}).status_code == 403
    assert ids(listed(http, shop, "recently_viewed")) == ["102", "101"]
    assert history(store, other) == [b"zz"]


def test_erasing_the_linked_customer_erases_the_visitors_history(
        http: httpx.Client, store: Store, trained_shop: NewShop) -> None:
    shop = trained_shop
    assert send(http, shop, views("101"), customer_id="7").status_code == 200
    assert send(http, shop, views("102"), visitor="v-2").status_code == 200  # not linked
    erased = http.delete(f"/api/v1/shops/{shop.shop.shop_id}/customers/7", headers=auth(shop))
    assert erased.status_code == 200, erased.text
    assert history(store, shop) == [] and history(store, shop, "v-2") == [b"102"]
    # the process that erased drops the histories it held at once (the others at their next
    # refresh: a browsing note for every visitor of the shop, plugin.store.visitor_cache)
    assert ids(listed(http, shop, "recently_viewed")) == []
    assert ids(listed(http, shop, "recently_viewed", visitor="v-2")) == ["102"]


def test_the_lists_answer_with_the_visitors_arm(http: httpx.Client, store: Store,
                                                 trained_shop: NewShop) -> None:
    """An experiment on recently_viewed: the visitor in the path is the unit, so a visitor in
    the holdout arm gets an empty list and one in the chosen arm their views; the other list
    is in no experiment."""
    shop, doc = trained_shop, reference(http)
    experiment = new_experiment("recent or none", "recently_viewed", [
        {"name": "A", "strategy": "chosen", "share": 50},
        {"name": "B", "strategy": "holdout", "share": 50}], time.time())

    async def run(redis: Any) -> None:
        await create_experiment(redis, shop.shop.shop_id, experiment)
        await start_experiment(redis, shop.shop.shop_id, experiment.experiment_id, time.time())

    store.run(run)
    visitors = {arm_for(experiment, f"v:w-{n}").name: f"w-{n}" for n in range(40)}
    for arm, visitor in visitors.items():
        assert send(http, shop, views("101", "103"), visitor=visitor).status_code == 200

        def answered(visitor: str = visitor) -> dict[str, Any]:
            found = listed(http, shop, "recently_viewed", visitor=visitor).json()
            assert found.get("arm") is not None  # the shop's new experiment reached the server
            return dict(found)

        body = eventually(answered)
        assert (body["experiment"], body["arm"]) == (experiment.experiment_id, arm)
        assert [i["product_id"] for i in body["items"]] == ([] if arm == "B" else ["103", "101"])
        assert schema_errors(doc, "GET", VISITOR, listed(http, shop, "recently_viewed",
                                                         visitor=visitor)) == []
        assert "arm" not in listed(http, shop, "inspired_by_browsing", visitor=visitor).json()
