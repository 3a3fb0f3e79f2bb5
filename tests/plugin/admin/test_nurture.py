"""The nurture feed as CSV and the e-mail block preview in the dashboard
(plugin/admin/nurture.py): the API's own answers, for the signed-in shop only."""

from __future__ import annotations

import csv
import io
import re
from urllib.parse import urlsplit

import httpx

from plugin.store.shops import NewShop
from tests.conftest import Store
from tests.helpers import auth, train
from tests.plugin.admin.conftest import fill, sign_in

LINKS = ("url", "email_block_url")  # signed with an expiry: may differ by a second


def rows(text: str) -> list[dict[str, str]]:
    return [{k: v for k, v in row.items() if not k.endswith(LINKS)}
            for row in csv.DictReader(io.StringIO(text))]


def trained(store: Store, http: httpx.Client, shop: NewShop) -> NewShop:
    fill(store, shop, 60)
    assert train(http, shop).status_code == 200
    return shop


def test_the_feed_csv_is_the_apis_for_every_stage(store, http, base_url, make_shop) -> None:
    shop = trained(store, http, make_shop())
    with httpx.Client(base_url=base_url, timeout=60) as client:
        sign_in(store, shop, client)
        seen = 0
        for stage in ("new", "promising", "active", "loyal", "champions", "needs_attention",
                      "at_risk", "cant_lose", "hibernating", "lost"):
            ours = client.get("/admin/customers/feed.csv", params={"stage": stage})
            assert ours.status_code == 200 and ours.headers["content-type"].startswith("text/csv")
            assert ours.headers["cache-control"] == "no-store"
            api = http.get(f"/api/v1/shops/{shop.shop.shop_id}/lifecycle/feed",
                           params={"stage": stage, "format": "csv"}, headers=auth(shop))
            assert api.status_code == 200
            assert rows(ours.text) == rows(api.text)
            seen += len(rows(ours.text))
            if rows(ours.text):
                assert rows(ours.text)[0]["product_1_id"]  # picks, not only the customer
        assert seen == 7  # customers c0..c6, each in exactly one stage
        assert client.get("/admin/customers/feed.csv", params={"stage": "vip"}).status_code \
            == 404
    with httpx.Client(base_url=base_url, timeout=30) as stranger:
        assert stranger.get("/admin/customers/feed.csv", params={"stage": "new"},
                            follow_redirects=False).status_code == 303


def test_a_customers_email_block_preview_shows_the_signed_block(
        store, http, base_url, make_shop) -> None:
    shop = trained(store, http, make_shop())
    with httpx.Client(base_url=base_url, timeout=60) as client:
        sign_in(store, shop, client)
        listed = client.get("/admin/customers", params={"stage": "loyal"}).text + \
            "".join(client.get("/admin/customers", params={"stage": s}).text
                    for s in ("champions", "active", "at_risk", "new", "promising"))
        link = re.search(r'href="(/admin/customers/email\?customer_id=c\d)"', listed)
        assert link is not None
        page = client.get(link[1].replace("&amp;", "&"))
        assert page.status_code == 200
        url = re.search(r'id="block-url" readonly value="([^"]+)"', page.text)
        assert url is not None and 'sandbox=""' in page.text
        signed = urlsplit(url[1].replace("&amp;", "&"))  # on SHOPRECO_PUBLIC_URL; here: ours
        block = client.get(f"{signed.path}?{signed.query}")
        assert block.status_code == 200 and "Product" in block.text  # the picks' titles
        assert client.get("/admin/customers/email",
                          params={"customer_id": "nobody"}).status_code == 404
        assert client.get("/admin/customers/email",
                          params={"customer_id": ""}).status_code == 400


def test_another_shops_customer_has_no_preview_here(store, http, base_url, make_shop) -> None:
    mine, theirs = make_shop(), trained(store, http, make_shop())
    assert theirs.shop.shop_id != mine.shop.shop_id
    fill(store, mine, 5, first_order=500)
    with httpx.Client(base_url=base_url, timeout=60) as client:
        sign_in(store, mine, client)
        # `mine` has customers c0..c4, `theirs` c0..c6: c6 is only theirs
        assert client.get("/admin/customers/email",
                          params={"customer_id": "c4"}).status_code == 200
        answer = client.get("/admin/customers/email", params={"customer_id": "c6"})
        assert answer.status_code == 404
