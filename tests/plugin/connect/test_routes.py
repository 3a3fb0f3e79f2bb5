"""plugin.connect.routes over real HTTP: the Connect a shop page, the signed progress link
and the owner's Connection page (each platform's own routes: test_<platform>.py and the
shared suite test_connectors.py)."""

from __future__ import annotations

import re
import time

import httpx

from plugin.connect import common, routes
from tests.conftest import LiveServer, Store, settings_for
from tests.helpers import order_payload, send_orders
from tests.plugin.admin.conftest import sign_in


def test_the_connect_page_offers_every_platform(http: httpx.Client) -> None:
    page = http.get("/connect")
    assert page.status_code == 200
    assert page.headers["x-frame-options"] == "DENY"
    for platform in ("shopify", "woocommerce", "bigcommerce", "ecwid", "custom"):
        assert f"id='connect-{platform}'" in page.text or f'id="connect-{platform}"' in page.text
    assert {c.platform for c in routes.CONNECTORS} == {"woocommerce", "bigcommerce", "ecwid"}
    assert "is not https" in page.text  # the test server's address is http


def test_an_https_address_needs_no_warning(store: Store) -> None:
    with LiveServer(settings_for(store, public_url="https://reco.example.com")) as url, \
            httpx.Client(base_url=url, timeout=30) as client:
        assert "is not https" not in client.get("/connect").text


def test_the_progress_link_answers_only_when_signed(store: Store, http: httpx.Client,
                                                    make_shop: object) -> None:
    shop = make_shop()  # type: ignore[operator]
    shop_id = shop.shop.shop_id
    store.run(lambda r: common.record(r, shop_id, stage="importing", orders=4, total=9,
                                      hooks=[{"id": "1", "topic": "order.created"}]))
    good = http.get(common.progress_link(shop_id))
    assert good.status_code == 200
    found = good.json()
    assert (found["shop_id"], found["stage"], found["orders"], found["total"]) == (
        shop_id, "importing", "4", "9")
    assert found["hooks"] == [{"id": "1", "topic": "order.created"}]
    assert found["last_delivery"] is None
    forged = re.sub(r"sig=[0-9a-f]+", "sig=" + "0" * 64, common.progress_link(shop_id))
    assert http.get(forged).status_code == 403
    assert http.get(f"{common.PROGRESS_PATH}?shop={shop_id}").status_code == 403


def test_the_connection_page_needs_a_session_and_shows_a_hand_made_shop(
        store: Store, make_shop: object, base_url: str) -> None:
    shop = make_shop()  # type: ignore[operator]
    with httpx.Client(base_url=base_url, timeout=30) as client:
        away = client.get("/admin/connection")
        assert away.status_code == 303 and "signin" in away.headers["location"]
        csrf = sign_in(store, shop, client)
        page = client.get("/admin/connection")
        assert page.status_code == 200
        assert "set up on its platform by hand" in page.text
        assert "none yet" in page.text and "not started" in page.text
        send_orders(client, shop, [order_payload(1, 2, [3, 4])])
        assert time.strftime("%Y-%m-%d", time.gmtime()) in client.get("/admin/connection").text
        refused = client.post("/admin/connection/disconnect", data={"csrf": csrf})
        assert refused.status_code == 409  # a Shopify or hand-made shop: not ours to remove
        assert client.post("/admin/connection/disconnect",
                           data={"csrf": "wrong"}).status_code == 403
