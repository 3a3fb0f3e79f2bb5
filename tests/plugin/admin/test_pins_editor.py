"""The pinned-products editor of the admin's Recommendations page (plugin/admin/recommendations.py):
pins added and removed with the session's CSRF token, bad input refused with a page that says
why and nothing stored, the preview showing them first, and a session seeing only its shop."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import httpx

from plugin.store.pins import MAX_PINS, Pin, pins, replace_pins
from plugin.store.records import store_product
from plugin.store.shops import NewShop
from tests.conftest import Store
from tests.plugin.admin.conftest import sign_in

ADD, REMOVE = "/admin/recommendations/pins", "/admin/recommendations/pins/remove"
NEXT_YEAR = datetime.now(UTC).year + 1


def section(page: str) -> str:
    """The pinned-products section of the Recommendations page."""
    return page.split('aria-labelledby="pins-title"')[1].split("</section>")[0]


def listed(client: httpx.Client) -> list[str]:
    """Each listed pin as its text, whitespace squeezed."""
    items = re.findall(r'<li class="pin">(.*?)</li>', section(
        client.get("/admin/recommendations").text), re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", item).split()) for item in items]


def stored(store: Store, shop: NewShop) -> list[tuple[str, str | None, float | None]]:
    return [(p.product_id, p.for_product_id, p.until)
            for p in store.run(lambda r: pins(r, shop.shop.shop_id))]


def test_pins_are_added_listed_and_removed(store: Store, http: httpx.Client,
                                           shop: NewShop) -> None:
    shop_id = shop.shop.shop_id
    store.run(lambda r: store_product(r, shop_id, {"product_id": "p1", "title": "Blue mug",
                                                   "price": "9"}, shop.shop.storefront_url))
    with httpx.Client(base_url=http.base_url, timeout=30) as client:
        csrf = sign_in(store, shop, client)
        assert 'id="no-pins"' in section(client.get("/admin/recommendations").text)
        added = client.post(ADD, data={"csrf": csrf, "product_id": " p1 ", "for_product_id": "",
                                       "until": ""})
        assert added.status_code == 303
        assert added.headers["location"] == "/admin/recommendations?pins=saved#pins-title"
        assert "Pinned products saved." in client.get(added.headers["location"]).text
        assert client.post(ADD, data={"csrf": csrf, "product_id": "p2", "for_product_id": "p1",
                                      "until": f"{NEXT_YEAR}-12-24"}).status_code == 303
        end = datetime(NEXT_YEAR, 12, 25, tzinfo=UTC).timestamp()
        assert stored(store, shop) == [("p1", None, None), ("p2", "p1", end)]
        assert listed(client) == [
            "Blue mug (p1) · everywhere · no end date · active Remove the pin of Blue mug",
            f"p2 · for Blue mug (p1) · until the end of {NEXT_YEAR}-12-24 (UTC) · active "
            "Remove the pin of p2",
        ]
        api = http.get(f"/api/v1/shops/{shop_id}/pins",
                       headers={"Authorization": f"Bearer {shop.api_key}"}).json()["pins"]
        assert api[1] == {"product_id": "p2", "for_product_id": "p1",
                          "until": f"{NEXT_YEAR}-12-25T00:00:00Z", "active": True}

        # the same product and place again: its end changes, in its place
        assert client.post(ADD, data={"csrf": csrf, "product_id": "p2",
                                      "for_product_id": "p1"}).status_code == 303
        assert stored(store, shop) == [("p1", None, None), ("p2", "p1", None)]

        removed = client.post(REMOVE, data={"csrf": csrf, "product_id": "p1",
                                            "for_product_id": ""})
        assert removed.status_code == 303
        assert stored(store, shop) == [("p2", "p1", None)]
        assert client.post(REMOVE, data={"csrf": csrf, "product_id": "p2",
                                         "for_product_id": "p9"}).status_code == 303
        assert stored(store, shop) == [("p2", "p1", None)]  # no such pin: nothing changes
        assert client.post(REMOVE, data={"csrf": csrf, "product_id": "p2",
                                         "for_product_id": "p1"}).status_code == 303
        assert stored(store, shop) == []


def test_an_ended_pin_is_listed_as_ended_until_removed(store: Store, http: httpx.Client,
                                                        shop: NewShop) -> None:
    ended = time.time() - 3600
    at = f"{datetime.fromtimestamp(ended, UTC):%Y-%m-%d %H:%M} (UTC)"
    store.run(lambda r: replace_pins(r, shop.shop.shop_id, [Pin("old", None, ended, ended)]))
    with httpx.Client(base_url=http.base_url, timeout=30) as client:
        csrf = sign_in(store, shop, client)
        assert listed(client) == [f"old · everywhere · until {at} · ended "
                                  "Remove the pin of old"]
        # adding another keeps it (it was valid when it was stored) ...
        assert client.post(ADD, data={"csrf": csrf, "product_id": "new"}).status_code == 303
        assert [p[0] for p in stored(store, shop)] == ["old", "new"]
        # ... until it is removed
        assert client.post(REMOVE, data={"csrf": csrf, "product_id": "old"}).status_code == 303
        assert [p[0] for p in stored(store, shop)] == ["new"]


def test_forms_without_the_sessions_csrf_token_are_refused(store: Store, http: httpx.Client,
                                                          shop: NewShop) -> None:
    store.run(lambda r: replace_pins(r, shop.shop.shop_id, [Pin("kept", None, None, 1.0)]))
    with httpx.Client(base_url=http.base_url, timeout=30) as client:
        csrf = sign_in(store, shop, client)
        for data in ({}, {"csrf": ""}, {"csrf": csrf[:-1] + ("x" if csrf[-1] != "x" else "y")}):
            add = client.post(ADD, data={**data, "product_id": "p1"})
            assert add.status_code == 403 and "did not come from your dashboard" in add.text
            remove = client.post(REMOVE, data={**data, "product_id": "kept"})
            assert remove.status_code == 403
        assert stored(store, shop) == [("kept", None, None)]
    with httpx.Client(base_url=http.base_url, timeout=30) as stranger:  # no session at all
        refused = stranger.post(ADD, data={"csrf": csrf, "product_id": "p1"})
        assert refused.status_code == 303 and "/admin/signin" in refused.headers["location"]
    assert stored(store, shop) == [("kept", None, None)]


def test_bad_input_is_refused_with_a_page_that_says_why(store: Store, http: httpx.Client,
                                                        shop: NewShop) -> None:
    full = [Pin(f"f{n}", None, None, 1.0) for n in range(MAX_PINS)]
    past = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    with httpx.Client(base_url=http.base_url, timeout=30) as client:
        csrf = sign_in(store, shop, client)
        store.run(lambda r: replace_pins(r, shop.shop.shop_id, [Pin("kept", None, None, 1.0)]))
        for fields, why in [
            ({"product_id": "p1", "until": past}, "in the future"),
            ({"product_id": "p1", "until": "2020-01-01"}, "in the future"),
            ({"product_id": "p1", "until": "31/12/2030"}, "ISO 8601"),
            ({"product_id": "p1", "until": "2031-02-30"}, "ISO 8601"),
            ({"product_id": "", "until": ""}, "product_id is missing"),
            ({"product_id": "x" * 200}, "printable characters"),
            ({"product_id": "p1", "for_product_id": "p1"}, "pinned to itself"),
        ]:
            refused = client.post(ADD, data={"csrf": csrf, **fields})
            assert refused.status_code == 400, fields
            assert "Not pinned:" in refused.text and why in refused.text, refused.text
            assert 'role="alert"' in refused.text
            assert stored(store, shop) == [("kept", None, None)]
        store.run(lambda r: replace_pins(r, shop.shop.shop_id, full))
        too_many = client.post(ADD, data={"csrf": csrf, "product_id": "one-more"})
        assert too_many.status_code == 400 and f"at most {MAX_PINS}" in too_many.text
        assert len(stored(store, shop)) == MAX_PINS


def test_a_session_sees_and_changes_only_its_own_shops_pins(
        store: Store, http: httpx.Client, make_shop) -> None:
    mine, theirs = make_shop(), make_shop()
    store.run(lambda r: replace_pins(r, theirs.shop.shop_id,
                                     [Pin("theirs-secret-pin", "theirs-anchor", None, 1.0)]))
    with httpx.Client(base_url=http.base_url, timeout=30) as client:
        csrf = sign_in(store, mine, client)
        page = client.get("/admin/recommendations").text
        assert "theirs-secret-pin" not in page and "theirs-anchor" not in page
        assert listed(client) == []
        client.post(REMOVE, data={"csrf": csrf, "product_id": "theirs-secret-pin",
                                  "for_product_id": "theirs-anchor"})
        client.post(ADD, data={"csrf": csrf, "product_id": "mine-pin"})
        assert stored(store, theirs) == [("theirs-secret-pin", "theirs-anchor", None)]
        assert stored(store, mine) == [("mine-pin", None, None)]
        for asked in ({"shop_id": theirs.shop.shop_id}, {"shop": theirs.shop.shop_id}):
            assert "theirs-secret-pin" not in client.get("/admin/recommendations",
                                                         params=asked).text


def test_the_preview_shows_pinned_products_first(store: Store, http: httpx.Client,
                                                 paired: NewShop) -> None:
    with httpx.Client(base_url=http.base_url, timeout=30) as client:
        csrf = sign_in(store, paired, client)
        before = client.get("/admin/recommendations",
                            params={"placement": "bundle", "product_id": "101"}).text
        assert re.findall(r"<small>\((\d+)\)</small>", before.split('id="preview-items"')[1])[0] \
            == "102"
        assert client.post(ADD, data={"csrf": csrf, "product_id": "107",
                                      "for_product_id": "101"}).status_code == 303
        page = client.get("/admin/recommendations",
                          params={"placement": "bundle", "product_id": "101"}).text
        table = page.split('id="preview-items"')[1].split("</table>")[0]
        assert re.findall(r"<small>\(([^)]+)\)</small>", table)[:2] == ["107", "102"]
        assert "<td>pinned</td>" in table
        widget = http.get("/widgets/v1/recommendations",
                          params={"key": paired.shop.widget_key, "placement": "bundle",
                                  "product_id": "101", "limit": "8"}).json()["items"]
        assert [item["product_id"] for item in widget] == \
            re.findall(r"<small>\(([^)]+)\)</small>", table)


class _Form(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.inputs: list[dict[str, str | None]] = []
        self.labels: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "input" and found.get("type") != "hidden":
            self.inputs.append(found)
        if tag == "label" and found.get("for"):
            self.labels.add(str(found["for"]))


def test_every_input_of_the_editor_has_a_label(store: Store, http: httpx.Client,
                                               shop: NewShop) -> None:
    store.run(lambda r: replace_pins(r, shop.shop.shop_id, [Pin("p1", None, None, 1.0)]))
    with httpx.Client(base_url=http.base_url, timeout=30) as client:
        sign_in(store, shop, client)
        form = _Form()
        form.feed(section(client.get("/admin/recommendations").text))
        assert {i.get("name") for i in form.inputs} == {"product_id", "for_product_id", "until"}
        assert all(i.get("id") in form.labels for i in form.inputs)
        assert next(i for i in form.inputs if i.get("name") == "until")["type"] == "date"
        assert "Remove<span class=\"visually-hidden\"> the pin of" in \
            client.get("/admin/recommendations").text
