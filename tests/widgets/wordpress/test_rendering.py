"""What the WordPress plugin prints on WooCommerce's pages, for the shortcode and the block,
rendered by PHP's CLI against the stubs: the right placement with the page's product, cart,
order and customer, one async embed script with the shop's key, everything escaped, and
nothing at all until the plugin is connected."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.widgets.wordpress.php import KEY, PLUGIN, URL, connected, run, script, widgets
from widgets.placements import PLACEMENTS

LEGACY_NAMES = {"product", "similar", "customer"}  # embed.js's first names, not offered
PRODUCT = {"id": 101, "name": "Linen shirt", "price": "24.50", "type": "simple"}
ORDERS = {"5001": {"customer_id": 7, "items": [[101], [102, 1021], [101]], "key": "wc_order_K1"},
          "5002": {"customer_id": 0, "items": [[103]], "key": "wc_order_K2"}}


def product_page(**state: Any) -> dict[str, Any]:
    return {"options": connected(), "is": {"product": True}, "product": PRODUCT,
            "post_type": "product", "post_id": 101, **state}


def test_the_plugin_hooks_into_woocommerces_pages() -> None:
    hooks = run("load", options=connected())["hooks"]
    assert hooks["woocommerce_after_single_product_summary"] == [
        ["shopreco_product_bundle", 5, 1], ["shopreco_product_also_bought", 18, 1]]
    assert hooks["woocommerce_after_cart_table"] == [["shopreco_cart", 10, 1]]
    assert hooks["woocommerce_thankyou"] == [["shopreco_thank_you", 10, 1]]  # gets the order id
    assert hooks["woocommerce_before_shop_loop"] == [["shopreco_shop_home", 5, 1]]
    assert hooks["script_loader_tag"] == [["shopreco_script_tag", 10, 2]]
    loaded = run("load", options=connected())
    assert loaded["shortcodes"] == ["shopreco"]
    assert loaded["blocks"] == ["shopreco/recommendations"]


def test_a_product_page_gets_the_bundle_and_the_carousel_and_one_script() -> None:
    page = run("hook", "woocommerce_after_single_product_summary",
               **product_page(user=7, currency="EUR", locale="de_DE"))
    assert widgets(page["html"]) == [
        {"shopreco": "bundle", "product-id": "101", "product-title": "Linen shirt",
         "product-price": "24.5", "limit": "4"},
        {"shopreco": "also_bought", "product-id": "101", "limit": "4"},
    ]
    tag = script(page["footer"])
    assert tag == {"data-key": KEY, "data-platform": "woocommerce", "data-customer-id": "7",
                   "data-locale": "de-DE", "data-currency": "EUR",
                   "src": f"{URL}/widgets/v1/embed.js", "id": "shopreco-embed-js",
                   "async": None, "data-wp-strategy": "async"}


def test_a_guest_on_a_variable_product_gets_no_customer_and_no_own_row() -> None:
    variable = {**PRODUCT, "type": "variable"}
    page = run("hook", "woocommerce_after_single_product_summary",
               **product_page(product=variable))
    assert widgets(page["html"])[0] == {"shopreco": "bundle", "product-id": "101", "limit": "4"}
    tag = script(page["footer"])
    assert "data-customer-id" not in tag and tag["data-key"] == KEY


@pytest.mark.parametrize(("price", "shown"), [("10", "10"), ("9.99", "9.99"), ("", None)])
def test_the_own_rows_price_is_a_plain_number(price: str, shown: str | None) -> None:
    page = run("hook", "woocommerce_after_single_product_summary",
               **product_page(product={**PRODUCT, "price": price}))
    assert widgets(page["html"])[0].get("product-price") == shown


def test_the_cart_page_names_the_carts_products_once_each() -> None:
    page = run("hook", "woocommerce_after_cart_table", options=connected(),
               cart=[[103], [104, 1041], [103]], user=7)
    assert widgets(page["html"]) == [{"shopreco": "cart", "product-ids": "103,104", "limit": "4"}]
    assert script(page["footer"])["data-customer-id"] == "7"


def test_the_thank_you_page_names_the_orders_products_and_customer() -> None:
    page = run("hook", "woocommerce_thankyou", "5001", options=connected(), orders=ORDERS)
    assert widgets(page["html"]) == [{"shopreco": "thank_you", "product-ids": "101,102",
                                      "customer-id": "7", "limit": "4"}]
    guest = run("hook", "woocommerce_thankyou", "5002", options=connected(), orders=ORDERS)
    assert widgets(guest["html"]) == [{"shopreco": "thank_you", "product-ids": "103",
                                       "limit": "4"}]
    unknown = run("hook", "woocommerce_thankyou", "9999", options=connected(), orders=ORDERS)
    assert unknown["html"] == "" and unknown["footer"] == ""


@pytest.mark.parametrize(("where", "shown"), [
    ({"shop": True}, True), ({"shop": True, "paged": True}, False),
    ({"shop": True, "search": True}, False), ({}, False),
])
def test_the_shop_page_gets_the_home_widget_on_its_first_page(where: dict[str, bool],
                                                              shown: bool) -> None:
    state: dict[str, Any] = {"options": connected(), "is": where}
    page = run("hook", "woocommerce_before_shop_loop", **state)
    assert widgets(page["html"]) == ([{"shopreco": "home", "limit": "4"}] if shown else [])
    assert ("embed.js" in page["footer"]) is shown


def test_a_page_turned_off_in_the_settings_gets_nothing() -> None:
    options = connected(spots=["cart"])
    product = run("hook", "woocommerce_after_single_product_summary",
                  **product_page(options=options))
    assert product["html"] == "" and product["footer"] == ""
    thanks = run("hook", "woocommerce_thankyou", "5001", options=options, orders=ORDERS)
    assert thanks["html"] == ""
    cart = run("hook", "woocommerce_after_cart_table", options=options, cart=[[103]])
    assert widgets(cart["html"])[0]["shopreco"] == "cart"


@pytest.mark.parametrize("options", [
    {}, connected(url=""), connected(key=""), {"shopreco_settings": "garbage"},
    {"shopreco_settings": {"url": ["x"], "widget_key": 5, "spots": "product"}},
])
def test_nothing_renders_until_the_url_and_the_key_are_set(options: dict[str, Any]) -> None:
    for command, args in [("hook", ["woocommerce_after_single_product_summary"]),
                          ("shortcode", ["[shopreco]"]), ("block", ["{}"])]:
        page = run(command, *args, **product_page(options=options))
        assert page["html"] == "" and page["footer"] == "", (command, page)


EVIL_KEY = 'wk_"><script>alert(1)</script>'
EVIL_URL = "https://reco.example.com/x\"'><script>alert(2)</script>"


def test_saved_values_and_product_text_are_escaped_where_they_are_printed() -> None:
    """Options written around the sanitize callback (another plugin, the database) still
    cannot break out of an attribute."""
    evil_product = {**PRODUCT, "name": 'Shirt "<img src=x onerror=alert(3)>'}
    page = run("hook", "woocommerce_after_single_product_summary",
               **product_page(options=connected(url=EVIL_URL, key=EVIL_KEY),
                              product=evil_product, locale='en"<x>'))
    printed = page["html"] + page["footer"]
    assert "<script>alert" not in printed and "<img" not in printed
    assert widgets(page["html"])[0]["product-title"] == evil_product["name"]
    tag = script(page["footer"])  # one script element: nothing broke out
    assert tag["data-key"] == EVIL_KEY and tag["data-locale"] == 'en"<x>'
    assert tag["src"] is not None and tag["src"].startswith("https://reco.example.com/x")
    assert not set('"<>') & set(tag["src"])  # esc_url drops them (and encodes ' as &#039;)


def test_a_script_url_that_is_not_http_is_dropped() -> None:
    page = run("hook", "woocommerce_after_cart_table", cart=[[1]],
               options=connected(url="javascript:alert(1)//"))
    assert "alert" not in page["footer"] and script(page["footer"])["src"] == ""


def test_the_shortcode_takes_its_attributes_escaped_and_clamped() -> None:
    heading = '<b>Also</b> "great"'
    page = run("shortcode", f'<p>[shopreco placement="also_bought" product="55" limit="30" '
                            f"heading='{heading}']</p>", options=connected())
    assert page["html"].startswith("<p><div ") and page["html"].endswith("></div></p>")
    assert widgets(page["html"]) == [{"shopreco": "also_bought", "product-id": "55",
                                      "limit": "12", "heading": heading}]
    assert "<b>" not in page["html"]
    assert "embed.js" in page["footer"]


@pytest.mark.parametrize(("shortcode", "expected"), [
    ("[shopreco]", {"shopreco": "trending", "limit": "4"}),
    ('[shopreco placement="HOME" limit="0"]', {"shopreco": "home", "limit": "4"}),
    ('[shopreco placement="cart"]', {"shopreco": "cart", "product-ids": "7,8", "limit": "4"}),
    ('[shopreco placement="cart" products="3, 4,x,4"]',
     {"shopreco": "cart", "product-ids": "3,4", "limit": "4"}),
    ('[shopreco placement="home" customer="99"]', {"shopreco": "home", "limit": "4"}),
    ('[shopreco placement="recently_viewed"]', {"shopreco": "recently_viewed", "limit": "4"}),
    ('[shopreco placement="bundle"]', None),  # no product on this page
    ('[shopreco placement="buy_again"]', None),  # a guest
    ('[shopreco placement="evil<script>"]', None),
    ('[shopreco placement="product"]', None),  # embed.js's old names are not offered
])
def test_the_shortcode_off_a_product_page(shortcode: str, expected: dict[str, str] | None) -> None:
    page = run("shortcode", shortcode, options=connected(), cart=[[7], [8]])
    assert widgets(page["html"]) == ([expected] if expected else [])
    assert "<script" not in page["html"]


def test_the_shortcode_on_a_product_page_takes_its_product() -> None:
    page = run("shortcode", '[shopreco placement="bundle"][shopreco placement="recently_viewed"]'
                            '[shopreco placement="also_bought" product="9"]', **product_page())
    assert [(w["shopreco"], w["product-id"]) for w in widgets(page["html"])] == [
        ("bundle", "101"), ("recently_viewed", "101"), ("also_bought", "9")]


def test_buy_again_is_the_signed_in_customers() -> None:
    page = run("shortcode", '[shopreco placement="buy_again"]', options=connected(), user=42)
    assert widgets(page["html"]) == [{"shopreco": "buy_again", "limit": "4"}]
    assert script(page["footer"])["data-customer-id"] == "42"


def test_thank_you_off_the_hook_needs_the_orders_key() -> None:
    """The block or shortcode on the order received page shows the order's products only to
    whoever holds the order's key (WooCommerce's own link)."""
    state: dict[str, Any] = {"options": connected(), "orders": ORDERS,
                             "is": {"order_received_page": True},
                             "query_vars": {"order-received": 5001}}
    mine = run("shortcode", '[shopreco placement="thank_you"]', get={"key": "wc_order_K1"},
               **state)
    assert widgets(mine["html"]) == [{"shopreco": "thank_you", "product-ids": "101,102",
                                      "customer-id": "7", "limit": "4"}]
    for key in ("wc_order_K2", "", "wc_order_K1x"):
        theirs = run("shortcode", '[shopreco placement="thank_you"]', get={"key": key}, **state)
        assert widgets(theirs["html"]) == [{"shopreco": "thank_you", "limit": "4"}]


def test_the_block_renders_like_the_shortcode() -> None:
    attributes = {"placement": "also_bought", "productId": "77", "limit": 6,
                  "heading": "You'll <3 these"}
    page = run("block", json.dumps(attributes), options=connected())
    assert widgets(page["html"]) == [{"shopreco": "also_bought", "product-id": "77",
                                      "limit": "6", "heading": "You'll <3 these"}]
    defaults = run("block", json.dumps({"placement": "nope", "limit": "many"}),
                   options=connected())
    assert widgets(defaults["html"]) == [{"shopreco": "trending", "limit": "4"}]


def test_every_current_placement_is_offered_and_renders() -> None:
    block = json.loads((PLUGIN / "blocks" / "recommendations" / "block.json").read_text())
    offered = block["attributes"]["placement"]["enum"]
    assert set(offered) == set(PLACEMENTS) - LEGACY_NAMES
    for placement in offered:
        page = run("block", json.dumps({"placement": placement}),
                   **product_page(user=7, cart=[[5]]))
        assert [w["shopreco"] for w in widgets(page["html"])] == [placement]
