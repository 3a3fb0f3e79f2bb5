"""The demo storefront: a small shop whose pages embed the widget in every placement.

Pages: home (trending, or personal with a buy-again shelf for a returning customer chosen with
`?customer=ID`, and "inspired by your browsing" below the products), product pages (bundle +
"customers also bought" carousel + "recently viewed": the other products this browser viewed,
whose product pages sent their views), the cart ("complete your order") and the thank-you page
(`/demo/thank-you?customer=ID&products=a,b`, "picked for you"). The three ways to embed are
all used: `data-shopreco` placeholders, the `<shopreco-recommendations>` element and the
`window.shopreco` command queue. The widget's
"shopreco:add-to-cart" event is handled by a few lines of page script that post to the demo
cart (`POST /demo/cart/items`), as a custom shop would."""

from __future__ import annotations

import json
import secrets
from collections import Counter
from collections.abc import Awaitable, Callable
from html import escape
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from plugin.demo.store import DemoProduct, DemoStore
from plugin.web.problems import problem

CART_COOKIE = "demo_cart"
CUSTOMER_COOKIE = "demo_customer"
SHOPPER_COOKIE = "demo_shopper"
PlaceOrder = Callable[[str, list[str]], Awaitable[None]]
MAX_CART_ITEMS = 50
RETURNING_SHOWN = 3

STYLE = """
:root { font-family: system-ui, sans-serif; color: #222; background: #faf8f5;
  --shopreco-accent: #52796f; --shopreco-radius: 10px; --shopreco-font: system-ui, sans-serif;
  --shopreco-border: #0000001a; }
body { margin: 0; }
header { background: #2f3e46; color: #fff; padding: 14px 28px; display: flex; gap: 24px;
  align-items: center; flex-wrap: wrap; }
header a { color: #fff; text-decoration: none; font-weight: 600; }
header .who { margin-left: auto; opacity: .85; font-size: .9em; }
main { max-width: 1080px; margin: 0 auto; padding: 24px; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(180px, 1fr)); gap: 16px; }
.card { background: #fff; border-radius: 8px; padding: 10px; box-shadow: 0 1px 3px #0002; }
.card a { color: inherit; text-decoration: none; }
.card img, .hero img { width: 100%; border-radius: 6px; }
.hero { display: grid; grid-template-columns: 360px 1fr; gap: 32px; margin-bottom: 32px; }
@media (max-width: 640px) { .hero { grid-template-columns: 1fr; gap: 16px; } }
.price { font-weight: 700; color: #52796f; }
.button, button.button { display: inline-block; background: #52796f; color: #fff; border: 0;
  padding: 10px 18px; border-radius: 6px; text-decoration: none; font: inherit; cursor: pointer; }
[data-shopreco], shopreco-recommendations { display: block; margin: 28px 0; }
/* the widget's height, reserved before the async script runs, so nothing jumps */
[data-shopreco], shopreco-recommendations, #picked { min-height: 275px; }
[data-shopreco=bundle] { min-height: 407px; }
[data-shopreco=cart], shopreco-recommendations[placement=buy_again] { min-height: 316px; }
[data-shopreco-state=failed], [data-shopreco-state=empty] { min-height: 0; }
.note { color: #555; font-size: .9em; }
#toast { position: fixed; bottom: 20px; right: 20px; background: #2f3e46; color: #fff;
  padding: 12px 18px; border-radius: 8px; }
"""

# The demo shop's cart integration: what a custom shop writes to handle the widget's
# add-to-cart event (Shopify and WooCommerce shops need none: the widget calls their cart).
CART_SCRIPT = """
document.addEventListener("shopreco:add-to-cart", function (event) {
  fetch("/demo/cart/items", {method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({items: event.detail.items})})
    .then(function (r) { return r.json(); })
    .then(function (cart) {
      if (location.pathname === "/demo/cart") return location.reload();
      document.getElementById("cart-count").textContent = cart.count;
      var toast = document.getElementById("toast");
      toast.textContent = "Added to your cart (" + cart.count + " items)";
      toast.hidden = false;
    });
});
"""


def price(product: DemoProduct) -> str:
    return f"€{product.price}"


def cart_ids(request: Request, known: dict[str, DemoProduct]) -> list[str]:
    return [i for i in request.cookies.get(CART_COOKIE, "").split(",") if i in known]


def shopper_of(request: Request) -> str:
    """A new visitor's own customer id (kept in a cookie from the first page on): widget
    events carry it, and the order placed at checkout is theirs, so clicks are attributed."""
    found = request.cookies.get(SHOPPER_COOKIE) or getattr(request.state, "shopper", None)
    if not found:  # the first page: one id for the whole request
        found = request.state.shopper = str(8_000_000_000 + secrets.randbelow(1_000_000_000))
    return str(found)


def customer_of(request: Request) -> str:
    """The shopper playing a customer: `?customer=ID` (empty to sign out), else the cookie."""
    if "customer" in request.query_params:
        return request.query_params["customer"].strip()
    return request.cookies.get(CUSTOMER_COOKIE, "")


def returning_customers(store: DemoStore, n: int) -> list[tuple[str, str]]:
    """The `n` customers with the most orders: (id, name)."""
    counts: Counter[str] = Counter()
    names: dict[str, str] = {}
    for order in store.orders:
        customer = order["customer"]
        if customer is not None and order["cancelled_at"] is None:
            cid = str(customer["id"])
            counts[cid] += 1
            names[cid] = f"{customer['first_name']} {customer['last_name']}"
    return [(cid, names[cid]) for cid, _ in counts.most_common(n)]


def attributes(**values: str) -> str:
    return "".join(f' {name.replace("_", "-")}="{escape(value)}"'
                   for name, value in values.items() if value)


def placeholder(placement: str, **data: str) -> str:
    """A `data-shopreco` placeholder (the script-tag way of embedding)."""
    extra = attributes(**{f"data_{k}": v for k, v in data.items()})
    return f'<div data-shopreco="{placement}" data-limit="4"{extra}></div>'


def element(placement: str, **values: str) -> str:
    """A `<shopreco-recommendations>` custom element (the other way of embedding)."""
    return f'<shopreco-recommendations placement="{placement}" limit="6"' \
           f"{attributes(**values)}></shopreco-recommendations>"


def card(product: DemoProduct) -> str:
    return (
        f'<div class="card"><a href="/demo/products/{escape(product.handle)}">'
        f'<img src="/demo/images/{escape(product.product_id)}.svg" alt="" width="160" '
        f'height="160"><div>{escape(product.title)}</div>'
        f'<div class="price">{price(product)}</div></a></div>'
    )


class Storefront:
    """The demo pages of one store, served by the plugin next to its API."""

    def __init__(self, store: DemoStore, widget_key: str, base: str,
                 place_order: PlaceOrder | None = None) -> None:
        self.place_order = place_order
        self.store = store
        self.widget_key = widget_key
        self.base = base
        self.by_handle = {p.handle: p for p in store.products}
        self.by_id = {p.product_id: p for p in store.products}
        self.returning = returning_customers(store, RETURNING_SHOWN)

    def page(self, request: Request, title: str, body: str, head: str = "") -> HTMLResponse:
        customer = customer_of(request)
        script = attributes(src=f"{self.base}/widgets/v1/embed.js", data_key=self.widget_key,
                            data_customer_id=customer or shopper_of(request))
        who = (f'Signed in as customer {escape(customer)} · <a href="?customer=">sign out</a>'
               if customer else "Browsing as a new visitor")
        html = f"""<!doctype html>
<html lang="en-IE"><head><meta charset="utf-8"><title>{escape(title)} · Demo Store</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">
<style>{STYLE}</style>
<script>window.shopreco = window.shopreco || [];</script>{head}
<script async{script}></script>
</head><body>
<header><a href="/demo/">☕ Demo Store</a>
<a href="/demo/cart">Cart (<span id="cart-count">{len(cart_ids(request, self.by_id))}</span>)</a>
<span class="who">{who}</span></header>
<main>{body}</main><div id="toast" role="status" hidden></div>
<script>{CART_SCRIPT}</script></body></html>"""
        response = HTMLResponse(html)
        if "customer" in request.query_params:
            response.set_cookie(CUSTOMER_COOKIE, customer, path="/demo", samesite="lax")
        if SHOPPER_COOKIE not in request.cookies:  # a new visitor: the id their order gets
            response.set_cookie(SHOPPER_COOKIE, shopper_of(request), path="/demo",
                                samesite="lax")
        return response

    async def home(self, request: Request) -> Response:
        customer = customer_of(request)
        people = " · ".join(f'<a href="/demo/?customer={escape(cid)}">{escape(name)}</a>'
                            for cid, name in self.returning)
        body = f'<p class="note">See it as a returning customer: {people}</p>'
        # personal for a signed-in customer (the script tag carries the id), else trending;
        # the fallback link stays if the script never runs
        body += ('<div data-shopreco="home" data-limit="6">'
                 '<p><a href="#all">Browse all products</a></p></div>')
        if customer:
            body += element("buy_again", customer_id=customer)
        body += '<h2 id="all">All products</h2><div class="grid">'
        body += "".join(card(p) for p in self.store.products) + "</div>"
        # what goes with the products this browser viewed (trending before any view)
        body += element("inspired_by_browsing")
        return self.page(request, "Home", body)

    async def product(self, request: Request) -> Response:
        item = self.by_handle.get(request.path_params["handle"])
        if item is None:
            return HTMLResponse("<h1>No such product</h1>", status_code=404)
        body = (
            f'<div class="hero"><img src="/demo/images/{item.product_id}.svg" alt="" '
            f'width="360" height="360"><div><p>{escape(item.category)}</p>'
            f'<h1>{escape(item.title)}</h1><p class="price">{price(item)}</p>'
            f'<a class="button" href="/demo/cart/add/{item.product_id}">Add to cart</a>'
            "</div></div>"
            + placeholder("bundle", product_id=item.product_id, product_title=item.title,
                          product_price=item.price)
            + element("also_bought", product_id=item.product_id)
            # last: empty (and hidden) until this browser has viewed another product
            + placeholder("recently_viewed", product_id=item.product_id)
        )
        return self.page(request, item.title, body)

    async def cart(self, request: Request) -> Response:
        ids = cart_ids(request, self.by_id)
        lines = "".join(f"<li>{escape(self.by_id[i].title)} — {price(self.by_id[i])}</li>"
                        for i in ids)
        body = "<h1>Your cart</h1>"
        if ids:
            body += (f"<ul>{lines}</ul><form method=post action=/demo/checkout>"
                     '<button class="button">Place order</button></form>')
        else:
            body += "<p>Your cart is empty.</p>"
        body += placeholder("cart", product_ids=",".join(ids))
        return self.page(request, "Cart", body)

    async def thank_you(self, request: Request) -> Response:
        ids = [i for i in request.query_params.get("products", "").split(",") if i in self.by_id]
        lines = "".join(f"<li>{escape(self.by_id[i].title)}</li>" for i in ids)
        options = {"placement": "thank_you", "productIds": ",".join(ids),
                   "customerId": customer_of(request) or shopper_of(request), "limit": "4"}
        options = {k: v for k, v in options.items() if v}
        # the command queue: pushed before the async script has loaded
        data = json.dumps(options).replace("<", "\\u003c")
        queued = f'<script>shopreco.push(["render", "#picked", {data}]);</script>'
        body = (f"<h1>Thank you for your order!</h1><ul>{lines}</ul>"
                '<div id="picked"></div>' + queued)
        return self.page(request, "Thank you", body)

    async def add_to_cart(self, request: Request) -> Response:
        ids = self.added(cart_ids(request, self.by_id), [request.path_params["product_id"]])
        response = RedirectResponse("/demo/cart", status_code=303)
        response.set_cookie(CART_COOKIE, ",".join(ids), path="/demo", samesite="lax")
        return response

    async def add_items(self, request: Request) -> Response:
        """POST {"items": [{"product_id": ...}, ...]}: the widget's add-to-cart event."""
        try:
            payload: Any = await request.json()
            wanted = [str(item["product_id"]) for item in payload["items"]]
        except (ValueError, KeyError, TypeError):
            return problem(400, 'send {"items": [{"product_id": "..."}]}')
        unknown = [p for p in wanted if p not in self.by_id]
        if unknown or not wanted:
            return problem(400, f"unknown or missing product ids: {unknown[:5]}")
        ids = self.added(cart_ids(request, self.by_id), wanted)
        response = JSONResponse({"count": len(ids), "product_ids": ids})
        response.set_cookie(CART_COOKIE, ",".join(ids), path="/demo", samesite="lax")
        return response

    def added(self, ids: list[str], wanted: list[str]) -> list[str]:
        for product_id in wanted:
            if product_id in self.by_id and product_id not in ids:
                ids.append(product_id)
        return ids[:MAX_CART_ITEMS]

    async def checkout(self, request: Request) -> Response:
        """Place the order: a signed orders/create webhook for the cart, as the chosen
        customer or the new visitor, so widget clicks before it are attributed to it."""
        ids = cart_ids(request, self.by_id)
        if ids and self.place_order is not None:
            await self.place_order(customer_of(request) or shopper_of(request), ids)
        target = f"/demo/thank-you?products={','.join(ids)}"
        response = RedirectResponse(target, status_code=303)
        response.delete_cookie(CART_COOKIE, path="/demo")
        return response

    async def image(self, request: Request) -> Response:
        item = self.by_id.get(request.path_params["product_id"])
        if item is None:
            return Response(status_code=404)
        return Response(item.image_svg, media_type="image/svg+xml",
                        headers={"Cache-Control": "public, max-age=86400"})


def storefront_routes(store: DemoStore, widget_key: str, base: str,
                      place_order: PlaceOrder | None = None) -> list[BaseRoute]:
    shop = Storefront(store, widget_key, base, place_order)
    return [
        Route("/demo/", shop.home),
        Route("/demo/products/{handle}", shop.product),
        Route("/demo/cart", shop.cart),
        Route("/demo/cart/add/{product_id}", shop.add_to_cart),
        Route("/demo/cart/items", shop.add_items, methods=["POST"]),
        Route("/demo/checkout", shop.checkout, methods=["POST"]),
        Route("/demo/thank-you", shop.thank_you),
        Route("/demo/images/{product_id}.svg", shop.image),
    ]
