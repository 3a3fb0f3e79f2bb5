"""One named query, the same items through every surface that asks it: the JSON API, the widget
endpoint, the nurture feed and the e-mail block (plugin.engine.queries is the one place that
says which model call answers each), and each query run in-process on the serving model."""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from typing import Any

import httpx
import pytest

from plugin.engine import queries
from plugin.engine.serving import serve_query
from plugin.store import keys
from plugin.store.cache import ShopCache
from plugin.store.shops import NewShop
from recommender.shop_model import Answer, ShopModel
from tests.conftest import Store
from tests.helpers import auth
from tests.plugin.api.test_email import block_link, block_product_ids, fill_shop, local
from tests.plugin.engine.test_serving import small_model

CUSTOMER = "3"


@pytest.fixture
def shop(http: httpx.Client, store: Store, make_shop: Any) -> NewShop:
    """Customers 0..29 buy 101+102 in January and two of 103..106 in February; trained."""
    return fill_shop(http, store, make_shop())


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["product_id"] for item in items]


def api(http: httpx.Client, shop: NewShop, path: str, **params: Any) -> list[str]:
    response = http.get(f"/api/v1/shops/{shop.shop.shop_id}/recommendations/{path}",
                        params=params, headers=auth(shop))
    assert response.status_code == 200, response.text
    return ids(response.json()["items"])


def api_cart(http: httpx.Client, shop: NewShop, product_ids: list[str], limit: int) -> list[str]:
    response = http.post(f"/api/v1/shops/{shop.shop.shop_id}/recommendations/cart",
                         json={"product_ids": product_ids, "limit": limit}, headers=auth(shop))
    assert response.status_code == 200, response.text
    return ids(response.json()["items"])


def widget(http: httpx.Client, shop: NewShop, placement: str, **params: Any) -> list[str]:
    response = http.get("/widgets/v1/recommendations",
                        params={"key": shop.shop.widget_key, "placement": placement, **params})
    assert response.status_code == 200, response.text
    return ids(response.json()["items"])


def feed_row(http: httpx.Client, shop: NewShop, customer_id: str, **params: Any) -> list[str]:
    response = http.get(f"/api/v1/shops/{shop.shop.shop_id}/lifecycle/feed",
                        params={"limit": 500, **params}, headers=auth(shop))
    assert response.status_code == 200, response.text
    rows = [row for row in response.json()["items"] if row["customer_id"] == customer_id]
    assert len(rows) == 1, f"customer {customer_id} is not in the feed"
    return ids(rows[0]["products"])


def email_block(http: httpx.Client, shop: NewShop, customer_id: str, **params: Any) -> list[str]:
    body = http.get(local(block_link(http, shop, customer_id, **params)))
    assert body.status_code == 200, body.text
    return block_product_ids(http, body.text)


@pytest.mark.parametrize("exclude", [False, True])
def test_personal_query_is_the_same_through_every_surface(http, shop, exclude) -> None:
    flag = str(exclude).lower()
    through_api = api(http, shop, f"customers/{CUSTOMER}", limit=4, exclude_purchased=flag)
    assert 0 < len(through_api) <= 4
    through_widget = widget(http, shop, "home" if exclude else "customer",
                            customer_id=CUSTOMER, limit=4)
    assert through_widget == through_api
    assert feed_row(http, shop, CUSTOMER, products=4, exclude_purchased=flag) == through_api
    assert email_block(http, shop, CUSTOMER, limit=4, exclude_purchased=flag) == through_api


def test_product_queries_are_the_same_through_api_and_widget(http, shop) -> None:
    together = api(http, shop, "products/101", kind="bought_together", limit=3)
    assert together[0] == "102"
    assert widget(http, shop, "bundle", product_id="101", limit=3) == together
    similar = api(http, shop, "products/103", kind="similar", limit=3)
    assert "103" not in similar and len(similar) == 3
    assert widget(http, shop, "also_bought", product_id="103", limit=3) == similar


def test_cart_and_trending_are_the_same_through_api_and_widget(http, shop) -> None:
    cart = api_cart(http, shop, ["101", "103"], 3)
    assert cart and not {"101", "103"} & set(cart)
    assert widget(http, shop, "cart", product_ids="101,103", limit=3) == cart
    trending = api(http, shop, "trending", limit=5)
    assert len(trending) == 5
    assert widget(http, shop, "trending", limit=5) == trending


class _Recorded:
    """A query that records what it was asked, to check serve_query's filter and threading."""

    name = "recorded"
    key = ("recorded",)
    customer = None

    def __init__(self) -> None:
        self.blocked: AbstractSet[str] | None = None

    def run(self, model: ShopModel, blocked: AbstractSet[str]) -> Answer:
        self.blocked = blocked
        return model.trending(2, blocked)

    def personal_call(self, model: ShopModel) -> queries.PersonalCall | None:
        return None


def test_serve_query_runs_a_named_query_with_the_merchandising_filter(store, shop) -> None:
    shop_id = shop.shop.shop_id
    store.run(lambda r: r.sadd(keys.excluded(shop_id), "101"))
    recorded = _Recorded()
    served = store.run(lambda r: serve_query(ShopCache(r), shop_id, "USD", recorded))
    assert recorded.blocked is not None and "101" in recorded.blocked
    assert served.strategy == "trending" and len(served.items) == 2
    assert "101" not in ids(served.items)


@pytest.mark.parametrize("query", [
    queries.BoughtTogether("101", 3), queries.Similar("103", 3), queries.Cart(("101",), None, 3),
    queries.Personal(CUSTOMER, 3), queries.BuyAgain(CUSTOMER, 3), queries.Trending(3),
    queries.Home(None, 3), queries.Home(CUSTOMER, 3), queries.ThankYou(("101",), None, 3),
    queries.ThankYou(("101",), CUSTOMER, 3),
], ids=lambda q: f"{q.name}")
def test_every_query_names_itself_and_answers_within_its_limit(store, shop, query) -> None:
    served = store.run(lambda r: serve_query(ShopCache(r), shop.shop.shop_id, "USD", query))
    assert served.model_version is not None
    assert 0 < len(served.items) <= 3
    assert query.name in {"bought_together", "similar", "cart", "personal", "buy_again",
                          "trending", "home", "thank_you"}


def test_run_all_answers_each_query_as_it_runs_alone_personal_lists_scored_together(
        monkeypatch) -> None:
    """Every kind of query in one batch, several customers (known, new, with histories, one
    asked twice): each answer the query's own `run`; the personal lists among them in one
    for_customers call per kind (limit, exclusion, products left out), the rest one by one."""
    model = small_model()
    blocked = frozenset({"p4"})
    asked: list[queries.Query] = [
        queries.Personal("c1", 3), queries.Personal("c2", 3, False, {"p1": 2}),
        queries.Personal("new", 3, False, {"p7": 1}), queries.Personal("c1", 3),
        queries.Personal("c3", 5, True), queries.Home("c4", 5), queries.Home(None, 5),
        queries.Home("c5", 5, {"p2": 1, "p6": 3}), queries.ThankYou(("p1",), "c6", 4),
        queries.ThankYou(("p1",), "c2", 4), queries.ThankYou(("p8",), "c3", 4),
        queries.ThankYou(("p1",), None, 4), queries.ThankYou(("p1",), "stranger", 4),
        queries.BuyAgain("c1", 3), queries.BoughtTogether("p1", 3), queries.Similar("p2", 3),
        queries.Cart(("p1", "p2"), "c1", 3), queries.Trending(3)]
    def alone(query: queries.Query) -> Answer:  # what each asks of the model, said directly
        call = query.personal_call(model)
        if call is None:
            return query.run(model, blocked)
        return model.for_customer(call.customer_id, call.limit, call.exclude_purchased,
                                  {*blocked, *call.also_blocked}, dict(call.history))

    expected = [alone(query) for query in asked]
    assert [query.run(model, blocked) for query in asked] == expected
    calls: list[tuple[int, int, bool]] = []
    for_customers = model.for_customers
    monkeypatch.setattr(model, "for_customers", lambda asked, limit, exclude, left_out: (
        calls.append((len(asked), limit, exclude)) or for_customers(asked, limit, exclude,
                                                                    left_out)))
    assert queries.run_all(model, blocked, asked) == expected
    assert sorted(calls) == [(1, 4, True), (2, 4, True), (3, 5, True), (4, 3, False)]
    assert queries.run_all(model, blocked, []) == []
