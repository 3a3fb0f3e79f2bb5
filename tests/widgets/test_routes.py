"""The widget routes (widgets/routes.py) over real HTTP: the embed script, the shop of a widget
key, the answer's shape, a shop whose platform app was removed. (Each placement's query:
test_placements.py; CORS and caching: test_cors.py; the rate limit: test_ratelimit.py.)"""

from __future__ import annotations

import time

import httpx

from plugin.store.records import mark_uninstalled
from tests.conftest import LiveServer, Store, settings_for
from tests.helpers import auth
from tests.widgets.conftest import PATH, ids, widget


def test_answer_carries_the_shops_currency_and_locale(http, euro_shop) -> None:
    body = widget(http, euro_shop, "bundle", product_id="101").json()
    assert body["currency"] == "EUR" and body["locale"] == "de-DE"
    assert body["placement"] == "bundle" and body["strategy"] == "copurchase"
    assert body["model_version"] is not None
    first = body["items"][0]
    assert first["product_id"] == "102" and first["price"] == "10.00"
    assert first["currency"] == "EUR" and first["title"] == "Product 102"
    assert {"score", "reason", "url", "image_url"} <= set(first)


def test_unknown_key_is_404(http) -> None:
    response = http.get(PATH, params={"key": "wk_nope", "placement": "trending"})
    assert response.status_code == 404


def test_embed_script_is_served_as_javascript(http) -> None:
    response = http.get("/widgets/v1/embed.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert "data-shopreco" in response.text


def test_public_endpoint_answers_with_cors_for_the_widget_key(http, widget_shop) -> None:
    origin = f"https://{widget_shop.shop.domain}"
    response = http.get("/widgets/v1/recommendations", headers={"Origin": origin}, params={
        "key": widget_shop.shop.widget_key, "placement": "product", "product_id": "1"})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == origin
    assert response.json()["items"][0]["product_id"] == "2"


def test_public_endpoint_does_not_take_the_api_key(http, widget_shop) -> None:
    response = http.get("/widgets/v1/recommendations", params={
        "key": widget_shop.api_key, "placement": "trending"})
    assert response.status_code == 404


def test_widget_answers_only_for_its_own_shop(http, widget_shop, make_shop) -> None:
    other = make_shop()
    response = http.get("/widgets/v1/recommendations", params={
        "key": other.shop.widget_key, "placement": "trending"})
    assert response.json()["items"] == []
    mine = http.get(f"/api/v1/shops/{widget_shop.shop.shop_id}/recommendations/trending",
                    headers=auth(widget_shop))
    assert mine.json()["items"]


def test_the_embed_script_may_be_cached_and_loaded_from_any_page(http) -> None:
    response = http.get("/widgets/v1/embed.js")
    assert response.headers["cache-control"] == "public, max-age=300"
    assert response.headers["access-control-allow-origin"] == "*"


def test_a_shop_whose_app_was_removed_shows_nothing(http, store: Store, widget_shop) -> None:
    assert ids(widget(http, widget_shop, "bundle", product_id="1"))
    store.run(lambda r: mark_uninstalled(r, widget_shop.shop.shop_id, time.time()))
    # a server of its own reads the shop as it is now (the session server's cache would read
    # the change note within a refresh)
    with LiveServer(settings_for(store, run_worker=False)) as url, \
            httpx.Client(base_url=url, timeout=30) as fresh:
        body = widget(fresh, widget_shop, "bundle", product_id="1").json()
    assert (body["items"], body["strategy"], body["model_version"]) == ([], "none", None)
    assert (body["placement"], body["currency"]) == ("bundle", widget_shop.shop.currency)
