"""The theme app extension under a real Liquid engine (python-liquid), with Shopify-shaped
objects and test shims for the few Shopify-only tags and filters the extension uses.

Shims (Shopify's Liquid has them, the standard engine does not):
- `{% schema %}...{% endschema %}` renders nothing; its JSON is kept on the node for the tests.
- `| t` looks a key up in the extension's locales/en.default.json (a missing key raises, where
  Shopify would print "translation missing").
- `| json` is json.dumps with `<`, `>` and `&` escaped, so a value cannot end a <script>.

Undefined values are falsy in conditions but raise when output, so a misspelled property in
a block fails the test instead of rendering empty."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from liquid import BoundTemplate, Environment, FalsyStrictUndefined, FileSystemLoader, Tag, ast
from liquid.context import RenderContext
from liquid.exceptions import LiquidSyntaxError
from liquid.stream import TokenStream
from liquid.token import TOKEN_EOF, TOKEN_TAG, Token

EXTENSION = Path(__file__).resolve().parents[3] / "plugin" / "shopify" / "extension"
BLOCKS = EXTENSION / "blocks"
APP_BLOCKS = ("bundle", "also-bought", "complete-your-order", "picked-for-you", "buy-again",
              "recently-viewed", "inspired-by-browsing")


class SchemaNode(ast.Node):
    """A block's `{% schema %}`: renders nothing, keeps its JSON text."""

    __slots__ = ("text",)

    def __init__(self, token: Token, text: str) -> None:
        super().__init__(token)
        self.text = text

    def render_to_output(self, context: RenderContext, buffer: Any) -> int:
        return 0


class SchemaTag(Tag):
    name = "schema"
    end = "endschema"

    def parse(self, stream: TokenStream) -> SchemaNode:
        token = stream.eat(TOKEN_TAG)
        text: list[str] = []
        while not (stream.current.kind == TOKEN_TAG and stream.current.value == self.end):
            if stream.current.kind == TOKEN_EOF:
                raise LiquidSyntaxError("schema tag was never closed", token=token)
            text.append(stream.current.value)
            next(stream)
        return SchemaNode(token, "".join(text))


def locale(name: str = "en.default.json") -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EXTENSION / "locales" / name).read_text())
    return loaded


def lookup(translations: dict[str, Any], key: str) -> Any:
    """The value at a dotted key ("labels.add"); KeyError names the missing key."""
    value: Any = translations
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            raise KeyError(f"translation missing: {key}")
        value = value[part]
    return value


def translate(key: str) -> str:
    """The `| t` filter: a storefront string of the extension's default locale."""
    value = lookup(locale(), key)
    if not isinstance(value, str):
        raise KeyError(f"{key} is not a string in en.default.json")
    return value


def to_json(value: Any) -> str:
    """The `| json` filter, safe inside a <script> element."""
    text = json.dumps(value)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(EXTENSION / "snippets", ext=".liquid"),
                      undefined=FalsyStrictUndefined)
    env.add_tag(SchemaTag)
    env.add_filter("t", translate)
    env.add_filter("json", to_json)
    return env


ENV = environment()


def template(block: str) -> BoundTemplate:
    return ENV.from_string((BLOCKS / f"{block}.liquid").read_text(), name=f"{block}.liquid")


def schema(block: str) -> dict[str, Any]:
    """The parsed JSON of a block's `{% schema %}` tag, as the engine found it."""
    found = [node for node in template(block).nodes if isinstance(node, SchemaNode)]
    assert len(found) == 1, f"{block}.liquid has {len(found)} schema tags, expected 1"
    parsed: dict[str, Any] = json.loads(found[0].text)
    return parsed


def settings_of(block: str, **merchant: Any) -> dict[str, Any]:
    """block.settings as Shopify passes them: each setting's default (None without one),
    replaced by what the merchant chose."""
    defaults = {s["id"]: s.get("default") for s in schema(block)["settings"] if "id" in s}
    return {**defaults, **merchant}


# ---- Shopify-shaped objects -------------------------------------------------------------


def product(product_id: int, title: str, price_cents: int, variant_id: int) -> dict[str, Any]:
    variant = {"id": variant_id, "price": price_cents, "title": "Default Title"}
    return {"id": product_id, "title": title, "price": price_cents, "variants": [variant],
            "selected_or_first_available_variant": variant}


def line_item(product_id: int | None, variant_id: int, quantity: int = 1) -> dict[str, Any]:
    return {"product_id": product_id, "variant_id": variant_id, "quantity": quantity}


def cart(*items: dict[str, Any], currency: str = "EUR") -> dict[str, Any]:
    count = sum(item["quantity"] for item in items)
    return {"items": list(items), "item_count": count, "currency": {"iso_code": currency}}


def app(widget_key: str | None, base_url: str | None) -> dict[str, Any]:
    """The app object with the app-data metafields the install flow writes (none if None)."""
    fields = {key: {"value": value, "type": "single_line_text_field"}
              for key, value in (("widget_key", widget_key), ("base_url", base_url))
              if value is not None}
    return {"metafields": {"shopreco": fields} if fields else {}}


def render(block: str, settings: dict[str, Any] | None = None, **objects: Any) -> str:
    """Render a block with Shopify's global objects (a signed-out shopper, an empty cart,
    the home page) replaced by `objects`."""
    context: dict[str, Any] = {
        "customer": None, "cart": cart(), "shop": {"currency": "EUR"},
        "request": {"page_type": "index", "locale": {"iso_code": "en"}},
        "app": app(None, None),
        "block": {"id": "b1", "settings": settings or settings_of(block)},
    }
    return template(block).render(**{**context, **objects})
