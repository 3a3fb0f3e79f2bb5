"""A local stand-in for a WooCommerce shop's REST API, built from the documented payloads.

`GET /wp-json/wc/v3/orders` answers like WooCommerce does: HTTP basic auth with the REST key
pair, `page` / `per_page` (at most 100), `modified_after` (+ `dates_are_gmt`), `orderby`
(id, date, modified) and `order`, with the `X-WP-Total` and `X-WP-TotalPages` headers. Every
request is logged so tests can see what was fetched.
"""

from __future__ import annotations

import base64
import copy
import json
import threading
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.helpers import SHARED_DATA

WOO_DATA = SHARED_DATA / "webhooks" / "woocommerce"
ORDERS_PATH = "/wp-json/wc/v3/orders"


def docs_payload(name: str) -> Any:
    """A JSON example of the WooCommerce REST API docs, e.g. "order_create_response"."""
    return json.loads((WOO_DATA / f"wc-v3_docs_{name}.json").read_text())


def docs_orders() -> list[dict[str, Any]]:
    """Every order of the docs examples (single responses and the list), file by file."""
    found = []
    for path in sorted(WOO_DATA.glob("wc-v3_docs_order*.json")):
        data = json.loads(path.read_text())
        found += data if isinstance(data, list) else [data]
    return found


def order_like(
    order_id: int, modified_gmt: str, created_gmt: str | None = None, status: str = "processing",
    customer_id: int = 0, product_ids: tuple[int, ...] | None = None,
) -> dict[str, Any]:
    """The docs' order 727 as another order: new id, times, status, customer and products."""
    order: dict[str, Any] = copy.deepcopy(docs_payload("order_retrieve_response"))
    order.update(id=order_id, number=str(order_id), status=status, customer_id=customer_id,
                 date_created_gmt=created_gmt or modified_gmt, date_modified_gmt=modified_gmt,
                 date_created=created_gmt or modified_gmt, date_modified=modified_gmt)
    for index, line in enumerate(order["line_items"]):
        line["id"] = order_id * 10 + index
        if product_ids is not None:
            line["product_id"] = product_ids[index % len(product_ids)]
    return order


@dataclass
class Fetch:
    """One request the fake shop answered."""

    params: dict[str, str]
    status: int
    order_ids: list[int] = field(default_factory=list)

    @property
    def page(self) -> int:
        return int(self.params.get("page", "1"))


class FakeWooCommerce:
    """The REST API of one WooCommerce shop on 127.0.0.1, for the duration of a `with`."""

    def __init__(self, orders: list[dict[str, Any]], consumer_key: str = "ck_x",
                 consumer_secret: str = "cs_y") -> None:
        self.orders = list(orders)
        self.credentials = f"{consumer_key}:{consumer_secret}"
        self.fetches: list[Fetch] = []
        self.fail_once: dict[int, int] = {}  # page -> HTTP status answered once for it
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/wp-json/wc/v3"

    def __enter__(self) -> FakeWooCommerce:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)

    def answer(self, path: str, authorization: str, params: dict[str, str]) -> tuple[
        int, dict[str, str], Any
    ]:
        """(status, headers, JSON body) for one GET, logged in `fetches`."""
        status, headers, body = self._answer(path, authorization, params)
        ids = [order["id"] for order in body] if isinstance(body, list) else []
        with self.lock:
            self.fetches.append(Fetch(params, status, ids))
        return status, headers, body

    def _answer(self, path: str, authorization: str, params: dict[str, str]) -> tuple[
        int, dict[str, str], Any
    ]:
        if path.rstrip("/") != ORDERS_PATH:
            return 404, {}, {"code": "rest_no_route", "message": "No route was found."}
        if authorization != "Basic " + base64.b64encode(self.credentials.encode()).decode():
            return 401, {}, {"code": "woocommerce_rest_cannot_view",
                             "message": "Sorry, you cannot list resources."}
        page, per_page = int(params.get("page", "1")), int(params.get("per_page", "10"))
        with self.lock:
            failure = self.fail_once.pop(page, None)
        if failure is not None:
            return failure, {}, {"code": "simulated", "message": f"page {page} failed"}
        if not 1 <= per_page <= 100:
            return 400, {}, {"code": "rest_invalid_param", "message": "per_page out of range"}
        matching = self._select(params)
        pages = -(-len(matching) // per_page)
        if page > max(pages, 1):
            return 400, {}, {"code": "woocommerce_rest_invalid_page_number",
                             "message": "The page number requested is larger than the number "
                                        "of pages available."}
        headers = {"X-WP-Total": str(len(matching)), "X-WP-TotalPages": str(pages)}
        return 200, headers, matching[(page - 1) * per_page:page * per_page]

    def _select(self, params: dict[str, str]) -> list[dict[str, Any]]:
        with self.lock:
            orders = [o for o in self.orders if o["status"] != "trash"]
        modified_field = ("date_modified_gmt" if params.get("dates_are_gmt") == "true"
                          else "date_modified")
        if "modified_after" in params:
            after = datetime.fromisoformat(params["modified_after"])
            orders = [o for o in orders if datetime.fromisoformat(o[modified_field]) > after]
        sort_field = {"id": "id", "date": "date_created_gmt",
                      "modified": "date_modified_gmt"}[params.get("orderby", "date")]
        orders.sort(key=lambda o: (o[sort_field], o["id"]),
                    reverse=params.get("order", "desc") == "desc")
        return orders

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        shop = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                params = {k: v[-1] for k, v in parse_qs(url.query).items()}
                status, headers, body = shop.answer(
                    url.path, self.headers.get("Authorization", ""), params
                )
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(raw)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: the fetches are logged in `shop.fetches`

        return Handler
