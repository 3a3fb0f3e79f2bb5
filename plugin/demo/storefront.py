"""The demo storefront: a home page, product pages and a cart page that embed the widget."""

from __future__ import annotations

from html import escape

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from plugin.demo.store import DemoProduct, DemoStore

STYLE = """
:root { font-family: system-ui, sans-serif; color: #222; background: #faf8f5; }
body { margin: 0; }
header { background: #2f3e46; color: #fff; padding: 14px 28px; display: flex; gap: 24px;
  align-items: center; }
header a { color: #fff; text-decoration: none; font-weight: 600; }
main { max-width: 1080px; margin: 0 auto; padding: 24px; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(180px, 1fr)); gap: 16px; }
.card { background: #fff; border-radius: 8px; padding: 10px; box-shadow: 0 1px 3px #0002; }
.card a { color: inherit; text-decoration: none; }
.card img, .hero img { width: 100%; border-radius: 6px; }
.hero { display: grid; grid-template-columns: 360px 1fr; gap: 32px; margin-bottom: 32px; }
.price { font-weight: 700; color: #52796f; }
.button { display: inline-block; background: #52796f; color: #fff; padding: 10px 18px;
  border-radius: 6px; text-decoration: none; }
[data-shopreco] { min-height: 60px; margin: 28px 0; }
.shopreco-items { list-style: none; padding: 0; display: grid; gap: 14px;
  grid-template-columns: repeat(auto-fill, minmax(160px, 1fr)); }
.shopreco-item { background: #fff; border-radius: 8px; padding: 10px; box-shadow: 0 1px 3px #0002; }
.shopreco-link { color: inherit; text-decoration: none; display: grid; gap: 6px; }
.shopreco-image { width: 100%; border-radius: 6px; }
.shopreco-price { font-weight: 700; color: #52796f; }
"""


def page(store: DemoStore, title: str, body: str, widget_key: str, base: str) -> HTMLResponse:
    html = f"""<!doctype html>
<html lang="en-IE"><head><meta charset="utf-8"><title>{escape(title)} · Demo Store</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">
<style>{STYLE}</style>
<script async src="{escape(base)}/widgets/v1/embed.js" data-key="{escape(widget_key)}"></script>
</head><body>
<header><a href="/demo/">☕ Demo Store</a><a href="/demo/cart">Cart</a>
<span style="opacity:.7">shopreco demo · {len(store.products)} products ·
{len(store.orders)} orders replayed</span></header>
<main>{body}</main></body></html>"""
    return HTMLResponse(html)


def price(product: DemoProduct) -> str:
    return f"€{product.price}"


def card(product: DemoProduct) -> str:
    return (
        f'<div class="card"><a href="/demo/products/{escape(product.handle)}">'
        f'<img src="/demo/images/{escape(product.product_id)}.svg" alt="">'
        f"<div>{escape(product.title)}</div><div class=\"price\">{price(product)}</div></a></div>"
    )


def widget(placement: str, title: str, **attributes: str) -> str:
    extra = "".join(f' data-{name.replace("_", "-")}="{escape(value)}"'
                    for name, value in attributes.items())
    return (f'<div data-shopreco data-placement="{placement}" data-limit="4"'
            f' data-title="{escape(title)}"{extra}></div>')


def storefront_routes(store: DemoStore, widget_key: str, base: str) -> list[BaseRoute]:
    by_handle = {p.handle: p for p in store.products}
    by_id = {p.product_id: p for p in store.products}

    async def home(request: Request) -> Response:
        body = widget("trending", "Trending now") + '<h2>All products</h2><div class="grid">'
        body += "".join(card(p) for p in store.products) + "</div>"
        return page(store, "Home", body, widget_key, base)

    async def product(request: Request) -> Response:
        item = by_handle.get(request.path_params["handle"])
        if item is None:
            return HTMLResponse("<h1>No such product</h1>", status_code=404)
        body = (
            f'<div class="hero"><img src="/demo/images/{item.product_id}.svg" alt="">'
            f"<div><p>{escape(item.category)}</p><h1>{escape(item.title)}</h1>"
            f'<p class="price">{price(item)}</p>'
            f'<a class="button" href="/demo/cart/add/{item.product_id}">Add to cart</a>'
            "</div></div>"
            + widget("product", "Frequently bought together", product_id=item.product_id)
            + widget("similar", "Customers also liked", product_id=item.product_id)
        )
        return page(store, item.title, body, widget_key, base)

    async def cart(request: Request) -> Response:
        ids = [i for i in request.cookies.get("demo_cart", "").split(",") if i in by_id]
        lines = "".join(f"<li>{escape(by_id[i].title)} — {price(by_id[i])}</li>" for i in ids)
        body = "<h1>Your cart</h1>" + (f"<ul>{lines}</ul>" if ids else "<p>Your cart is empty.</p>")
        body += widget("cart", "Complete your order", product_ids=",".join(ids))
        return page(store, "Cart", body, widget_key, base)

    async def add_to_cart(request: Request) -> Response:
        product_id = request.path_params["product_id"]
        ids = [i for i in request.cookies.get("demo_cart", "").split(",") if i in by_id]
        if product_id in by_id and product_id not in ids:
            ids.append(product_id)
        response = RedirectResponse("/demo/cart", status_code=303)
        response.set_cookie("demo_cart", ",".join(ids), path="/demo", samesite="lax")
        return response

    async def image(request: Request) -> Response:
        item = by_id.get(request.path_params["product_id"])
        if item is None:
            return Response(status_code=404)
        return Response(item.image_svg, media_type="image/svg+xml",
                        headers={"Cache-Control": "public, max-age=86400"})

    return [
        Route("/demo/", home),
        Route("/demo/products/{handle}", product),
        Route("/demo/cart", cart),
        Route("/demo/cart/add/{product_id}", add_to_cart),
        Route("/demo/images/{product_id}.svg", image),
    ]
