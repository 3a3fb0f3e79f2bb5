"""The theme app extension: its configuration and block schemas are what Shopify accepts,
and each block, rendered by a real Liquid engine with Shopify-shaped objects, writes the
placeholders README.md documents, with every value escaped."""

from __future__ import annotations

import json
import re
import tomllib
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from tests.plugin.shopify.theme import (
    APP_BLOCKS,
    BLOCKS,
    EXTENSION,
    app,
    cart,
    line_item,
    locale,
    lookup,
    product,
    render,
    schema,
    settings_of,
)

EMBED_JS = Path(__file__).resolve().parents[3] / "widgets" / "static" / "embed.js"
SCHEMA_KEYS = {"name", "target", "settings", "enabled_on", "disabled_on", "javascript",
               "stylesheet", "class", "tag", "default", "available_if"}
SETTING_TYPES = {"text", "range", "paragraph", "header"}
PAGE_TYPES = {"index", "product", "cart", "collection", "search", "page", "customers/order",
              "customers/account", "article", "blog", "404"}
XSS = 'Mug <script>alert("x")</script> & \'quotes\''


class Tags(HTMLParser):
    """Every start tag of a fragment with its (unescaped) attributes."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))


def placeholders(html: str) -> list[dict[str, str | None]]:
    return [attrs for tag, attrs in Tags(html).found if tag == "div" and "data-shopreco" in attrs]


def placeholder(html: str) -> dict[str, str | None]:
    found = placeholders(html)
    assert len(found) == 1, html
    return found[0]


def schema_text(key: str) -> str:
    value = lookup(locale("en.default.schema.json"), key.removeprefix("t:"))
    assert isinstance(value, str), key
    return value


def translation_keys(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if value.startswith("t:") else []
    if isinstance(value, dict):
        return [k for v in value.values() for k in translation_keys(v)]
    if isinstance(value, list):
        return [k for v in value for k in translation_keys(v)]
    return []


# ---- configuration and schemas ----------------------------------------------------------


def test_the_extension_toml_declares_a_theme_extension() -> None:
    config = tomllib.loads((EXTENSION / "shopify.extension.toml").read_text())
    assert config == {"name": "shopreco widgets", "type": "theme"}


def test_every_block_file_is_known_to_the_tests() -> None:
    assert sorted(p.stem for p in BLOCKS.glob("*.liquid")) == sorted(("embed", *APP_BLOCKS))


def test_the_embed_is_an_app_embed_on_the_body() -> None:
    embed = schema("embed")
    assert embed["target"] == "body" and set(embed) <= SCHEMA_KEYS


@pytest.mark.parametrize("block", APP_BLOCKS)
def test_app_block_schema(block: str) -> None:
    found = schema(block)
    assert set(found) <= SCHEMA_KEYS, f"Shopify refuses unknown keys: {set(found) - SCHEMA_KEYS}"
    assert found["target"] == "section"
    assert 0 < len(schema_text(found["name"])) <= 25  # Shopify's limit for a block name
    assert set(found.get("enabled_on", {}).get("templates", [])) <= PAGE_TYPES
    settings = {s["id"]: s for s in found["settings"]}
    assert set(settings) == {"heading", "product_count"}
    assert all(s["type"] in SETTING_TYPES for s in found["settings"])
    heading, count = settings["heading"], settings["product_count"]
    assert heading["type"] == "text" and "default" not in heading  # empty: the widget's own
    assert (count["type"], count["min"], count["max"], count["step"], count["default"]) == (
        "range", 1, 12, 1, 4)


@pytest.mark.parametrize("block", ("embed", *APP_BLOCKS))
def test_range_settings_are_valid_for_the_theme_editor(block: str) -> None:
    for setting in (s for s in schema(block)["settings"] if s["type"] == "range"):
        low, high, step, default = (setting[k] for k in ("min", "max", "step", "default"))
        assert low < high and (high - low) / step <= 100  # at most 101 steps
        assert low <= default <= high and (default - low) % step == 0


@pytest.mark.parametrize("block", ("embed", *APP_BLOCKS))
def test_every_translation_key_of_a_schema_exists(block: str) -> None:
    keys = translation_keys(schema(block))
    assert keys and all(schema_text(key) for key in keys)


def test_the_locales_are_flat_string_trees() -> None:
    for path in (EXTENSION / "locales").glob("*.json"):
        assert translation_keys(json.loads(path.read_text())) == [], path.name


def test_the_embed_translates_every_label_the_widget_has() -> None:
    html = render("embed", app=app("wk_1", "https://reco.example.com"))
    config = re.search(r'push\(\["config", (\{.*?\})\]\);', html, re.S)
    assert config is not None, html
    labels = json.loads(config.group(1))["labels"]
    script = EMBED_JS.read_text()
    defaults = re.search(r"const L = \{(.*?)\};", script, re.S)
    assert defaults is not None
    keys = set(re.findall(r'(?:^|,)\s*(\w+): "', defaults.group(1), re.M))
    assert set(labels) == keys - {"similar"}  # the legacy placement has no block
    assert labels["bundle"] == "Frequently bought together"


# ---- the app embed -----------------------------------------------------------------------


def embed_script(html: str) -> dict[str, str | None]:
    scripts = [attrs for tag, attrs in Tags(html).found if tag == "script" and "src" in attrs]
    assert len(scripts) == 1, html
    return scripts[0]


def test_the_embed_loads_embed_js_from_our_server_with_the_widget_key() -> None:
    html = render("embed", app=app("wk_abc", "https://reco.example.com"),
                  request={"page_type": "product", "locale": {"iso_code": "de-CH"}},
                  cart=cart(currency="CHF"))
    script = embed_script(html)
    assert script["src"] == "https://reco.example.com/widgets/v1/embed.js"
    assert script["async"] is None and "async" in script
    assert (script["data-key"], script["data-platform"]) == ("wk_abc", "shopify")
    assert (script["data-locale"], script["data-currency"]) == ("de-CH", "CHF")
    assert "data-customer-id" not in script  # signed out


def test_the_embed_passes_the_signed_in_customer() -> None:
    html = render("embed", app=app("wk_abc", "https://reco.example.com"),
                  customer={"id": 7390212456789})
    assert embed_script(html)["data-customer-id"] == "7390212456789"


def test_the_embed_escapes_the_metafields() -> None:
    html = render("embed", app=app('wk"><script>x()</script>', 'https://r.example"onload="x()'))
    script = embed_script(html)
    assert script["data-key"] == 'wk"><script>x()</script>'
    assert script["src"] == 'https://r.example"onload="x()/widgets/v1/embed.js'
    assert "onload" not in script and "<script>x()" not in html


@pytest.mark.parametrize(("key", "base"), [
    (None, None), ("wk_1", None), (None, "https://reco.example.com"),
    ("", "https://reco.example.com"), ("wk_1", "  "),
])
def test_without_both_metafields_the_embed_renders_nothing(key, base) -> None:
    assert render("embed", app=app(key, base)).strip() == ""


def test_on_a_product_page_the_embed_sends_the_products_view() -> None:
    """For the browsing blocks on any page: the view is sent even where no block names the
    product (an id as a string: ids pass 2^53)."""
    shopify = {"app": app("wk_1", "https://reco.example.com"),
               "product": product(9007199254740993, XSS, 100, 1)}
    html = render("embed", **shopify)
    assert 'window.shopreco.push(["view", "9007199254740993"]);' in html
    assert html.index('"view"') < html.index("embed.js")  # queued before the script runs
    assert '"view"' not in render("embed", app=shopify["app"])  # not on other pages


# ---- the app blocks ----------------------------------------------------------------------


SHIRT = product(632910392, XSS, 1999, 808950810)


def test_bundle_carries_the_products_own_row() -> None:
    found = placeholder(render("bundle", product=SHIRT, request={"page_type": "product"}))
    assert found == {"data-shopreco": "bundle", "data-product-id": "632910392",
                     "data-product-title": XSS, "data-product-price": "19.99",
                     "data-variant-id": "808950810", "data-limit": "4"}


def test_bundle_uses_the_selected_variant() -> None:
    shirt = product(1, "Shirt", 1000, 11)
    shirt["selected_or_first_available_variant"] = {"id": 12, "price": 123400}
    found = placeholder(render("bundle", product=shirt))
    assert (found["data-variant-id"], found["data-product-price"]) == ("12", "1234.0")


def test_product_text_is_escaped_in_the_markup() -> None:
    html = render("bundle", product=SHIRT)
    assert "<script>" not in html and "&lt;script&gt;" in html and "&quot;x&quot;" in html


def test_also_bought_names_the_product() -> None:
    found = placeholder(render("also-bought", product=SHIRT))
    assert found == {"data-shopreco": "also_bought", "data-product-id": "632910392",
                     "data-limit": "4"}


@pytest.mark.parametrize("block", ["bundle", "also-bought"])
def test_product_blocks_render_nothing_without_a_product(block: str) -> None:
    assert placeholders(render(block)) == []


def test_cart_block_lists_each_product_in_the_cart_once() -> None:
    items = cart(line_item(3, 31, quantity=2), line_item(4, 41), line_item(3, 32),
                 line_item(None, 51))  # a line whose product was deleted
    found = placeholder(render("complete-your-order", cart=items))
    assert found == {"data-shopreco": "cart", "data-product-ids": "3,4", "data-limit": "4"}


def test_cart_block_renders_nothing_for_an_empty_cart() -> None:
    assert placeholders(render("complete-your-order")) == []


def test_picked_for_you_is_trending_or_home_for_a_visitor() -> None:
    found = placeholder(render("picked-for-you"))
    assert found == {"data-shopreco": "home", "data-limit": "4"}


def test_picked_for_you_is_personal_for_a_signed_in_customer() -> None:
    found = placeholder(render("picked-for-you", customer={"id": 42}))
    assert found == {"data-shopreco": "home", "data-customer-id": "42", "data-limit": "4"}


def test_picked_for_you_follows_the_order_on_the_order_page() -> None:
    order = {"id": 450789469, "line_items": [line_item(5, 51), line_item(6, 61),
                                             line_item(5, 52)]}
    found = placeholder(render("picked-for-you", order=order, customer={"id": 42},
                               request={"page_type": "customers/order"}))
    assert found == {"data-shopreco": "thank_you", "data-product-ids": "5,6",
                     "data-customer-id": "42", "data-limit": "4"}


def test_buy_again_is_only_for_a_signed_in_customer() -> None:
    assert placeholders(render("buy-again")) == []
    found = placeholder(render("buy-again", customer={"id": 42}))
    assert found == {"data-shopreco": "buy_again", "data-customer-id": "42", "data-limit": "4"}


@pytest.mark.parametrize(("block", "placement"), [("recently-viewed", "recently_viewed"),
                                                  ("inspired-by-browsing", "inspired_by_browsing")])
def test_browsing_blocks_show_for_anyone_and_name_the_page_product(block: str,
                                                                    placement: str) -> None:
    """No customer needed (the script sends its own visitor id); on a product page the
    product (left out of recently viewed, the newest view for inspired by browsing)."""
    assert placeholder(render(block)) == {"data-shopreco": placement, "data-limit": "4"}
    on_product = placeholder(render(block, product=SHIRT, customer={"id": 42},
                                    request={"page_type": "product"}))
    assert on_product == {"data-shopreco": placement, "data-product-id": "632910392",
                          "data-limit": "4"}


def test_browsing_blocks_are_offered_where_the_readme_says() -> None:
    assert "enabled_on" not in schema("recently-viewed")  # any page
    assert schema("inspired-by-browsing")["enabled_on"] == {"templates": ["index", "product"]}
    readme = (EXTENSION / "README.md").read_text()
    assert "`blocks/recently-viewed.liquid`" in readme
    assert "`blocks/inspired-by-browsing.liquid`" in readme


@pytest.mark.parametrize("block", APP_BLOCKS)
def test_the_merchants_heading_and_count_reach_the_placeholder(block: str) -> None:
    settings = settings_of(block, heading=f"  {XSS} ", product_count=9)
    html = render(block, settings=settings, product=SHIRT, customer={"id": 1},
                  cart=cart(line_item(1, 2)))
    found = placeholder(html)
    assert (found["data-heading"], found["data-limit"]) == (XSS, "9")
    assert "<script>" not in html


@pytest.mark.parametrize("heading", [None, "", "   "])
def test_an_empty_heading_leaves_the_widgets_own(heading: str | None) -> None:
    html = render("also-bought", settings=settings_of("also-bought", heading=heading),
                  product=SHIRT)
    assert "data-heading" not in placeholder(html)


def test_the_extensions_liquid_stays_far_below_shopifys_size_limit() -> None:
    size = sum(p.stat().st_size for p in EXTENSION.rglob("*.liquid"))
    assert size < 100_000 / 4  # Shopify allows 100 KB of Liquid per extension
