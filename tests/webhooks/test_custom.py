"""POST /webhooks/custom/{shop_id}: Standard Webhooks signatures over the published JSON
Schema, against the live app and the embedded Redis; and the doc that describes it."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from plugin.engine.training import purchases_of
from plugin.store import keys
from plugin.store.order import Order
from plugin.store.records import get_order
from plugin.store.shops import NewShop, add_shop
from tests.conftest import Store
from webhooks import custom
from webhooks.ingest import Ingestor
from webhooks.standard_webhooks import sign

PROBLEM = "application/problem+json"
DOC = Path(__file__).resolve().parents[2] / "docs" / "custom-platform.md"
SCHEMA_FILE = Path(custom.__file__).parent / "schemas" / custom.SCHEMA_FILE


def doc_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), re.S)


EXAMPLES = [json.loads(block) for block in doc_blocks("json")]


def example(kind: str) -> dict[str, Any]:
    return copy.deepcopy(next(e for e in EXAMPLES if e["type"] == kind))


@pytest.fixture
def custom_shop(store: Store) -> NewShop:
    shop_id = "c-" + uuid.uuid4().hex[:12]
    return store.run(lambda r: add_shop(r, shop_id, "custom", f"{shop_id}.example.com",
                                        "http://testserver"))


def secret_of(shop: NewShop) -> str:
    return shop.shop.webhook_secrets[0].reveal()


def signed(secret: str, body: bytes, msg_id: str | None = None,
           stamp: int | None = None) -> dict[str, str]:
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    stamp = int(time.time()) if stamp is None else stamp
    return {"Content-Type": "application/json", "webhook-id": msg_id,
            "webhook-timestamp": str(stamp), "webhook-signature": sign(secret, msg_id, stamp, body)}


def send(http: httpx.Client, shop: NewShop, event: Any, **kwargs: Any) -> httpx.Response:
    body = json.dumps(event).encode()
    return http.post(f"/webhooks/custom/{shop.shop.shop_id}", content=body,
                     headers=signed(secret_of(shop), body, **kwargs))


def drained_order(store: Store, shop: NewShop, order_id: str) -> Order | None:
    async def work(redis: Any) -> Order | None:
        await Ingestor(redis).drain(shop.shop.shop_id)
        return await get_order(redis, shop.shop.shop_id, order_id)

    return store.run(work)


def event_count(store: Store, shop: NewShop) -> int:
    return store.run(lambda r: r.xlen(keys.events(shop.shop.shop_id)))


def catalog_entry(store: Store, shop: NewShop, product_id: str) -> dict[str, Any]:
    async def work(redis: Any) -> Any:
        await Ingestor(redis).drain(shop.shop.shop_id)
        return await redis.hget(keys.products(shop.shop.shop_id), product_id)

    return json.loads(store.run(work))


# --- the happy path ----------------------------------------------------------------------


def test_signed_order_is_accepted(http, custom_shop) -> None:
    response = send(http, custom_shop, example("order.created"))
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "accepted"


def test_order_is_stored_as_the_internal_model(http, store, custom_shop) -> None:
    send(http, custom_shop, example("order.created"))
    order = drained_order(store, custom_shop, "10045")
    assert order is not None
    assert (order.customer_id, order.currency, order.total_price) == ("cust-881", "EUR", "54.80")
    assert order.created_at == 1740819600.0  # 2025-03-01T09:00:00Z
    assert [(li.product_id, li.variant_id, li.quantity, li.price, li.line_id)
            for li in order.lines] == [("tea-sencha", "tea-sencha-100g", 2, "12.90", "1"),
                                       ("teapot-kyusu", None, 1, "29.00", "2")]


def test_integer_ids_beyond_2_53_are_kept_exact_as_strings(http, store, custom_shop) -> None:
    big = 2**63 - 25
    event = example("order.created")
    event["data"].update(id=big, customer_id=big + 1)
    event["data"]["line_items"][0]["product_id"] = big + 2
    send(http, custom_shop, event)
    order = drained_order(store, custom_shop, str(big))
    assert order is not None
    assert (order.customer_id, order.lines[0].product_id) == (str(big + 1), str(big + 2))


def test_guest_order_has_no_customer(http, store, custom_shop) -> None:
    event = example("order.created")
    event["data"]["customer_id"] = None
    send(http, custom_shop, event)
    order = drained_order(store, custom_shop, "10045")
    assert order is not None and order.customer_id is None


def test_redelivery_with_the_same_webhook_id_is_stored_once(http, store, custom_shop) -> None:
    first = send(http, custom_shop, example("order.created"), msg_id="msg_same")
    again = send(http, custom_shop, example("order.created"), msg_id="msg_same")
    assert (first.json()["status"], again.json()["status"]) == ("accepted", "duplicate")
    assert event_count(store, custom_shop) == 1


def test_refunded_quantity_stops_counting(http, store, custom_shop) -> None:
    send(http, custom_shop, example("order.created"))
    send(http, custom_shop, example("order.updated"))
    order = drained_order(store, custom_shop, "10045")
    assert order is not None
    assert [(p.product_id, p.quantity) for p in purchases_of(order)] == \
        [("tea-sencha", 1), ("teapot-kyusu", 1)]


def test_larger_refunded_quantity_in_a_newer_version_replaces_the_older(
    http, store, custom_shop
) -> None:
    send(http, custom_shop, example("order.updated"))
    later = example("order.updated")
    later["data"]["updated_at"] = "2025-03-06T10:00:00+01:00"
    later["data"]["line_items"][0]["refunded_quantity"] = 2
    send(http, custom_shop, later)
    order = drained_order(store, custom_shop, "10045")
    assert order is not None
    assert [p.product_id for p in purchases_of(order)] == ["teapot-kyusu"]


def test_refunded_status_counts_for_nothing(http, store, custom_shop) -> None:
    event = example("order.created")
    event["data"]["status"] = "refunded"
    send(http, custom_shop, event)
    order = drained_order(store, custom_shop, "10045")
    assert order is not None and order.cancelled and purchases_of(order) == []


def test_order_cancelled_event_counts_for_nothing_even_if_marked_paid(
    http, store, custom_shop
) -> None:
    send(http, custom_shop, example("order.created"))
    cancelled = example("order.created")
    cancelled["type"] = "order.cancelled"
    cancelled["data"]["updated_at"] = "2025-03-02T10:00:00+01:00"
    send(http, custom_shop, cancelled)
    order = drained_order(store, custom_shop, "10045")
    assert order is not None and order.cancelled


def test_older_version_arriving_late_changes_nothing(http, store, custom_shop) -> None:
    send(http, custom_shop, example("order.updated"))
    send(http, custom_shop, example("order.created"))
    order = drained_order(store, custom_shop, "10045")
    assert order is not None and order.updated_at == 1741101600.0  # 2025-03-04T15:20:00Z


def test_product_upserted_fills_the_catalog(http, store, custom_shop) -> None:
    send(http, custom_shop, example("product.upserted"))
    assert catalog_entry(store, custom_shop, "tea-sencha") == {
        "product_id": "tea-sencha",
        "title": "Sencha 100 g",
        "sku": "TEA-SEN-100",
        "url": "https://shop.example.com/products/sencha",
        "image_url": "https://shop.example.com/images/sencha.jpg",
        "price": "12.90",
        "available": True,
    }


def test_product_deleted_is_never_available_again(http, store, custom_shop) -> None:
    send(http, custom_shop, example("product.upserted"))
    send(http, custom_shop, example("product.deleted"))
    entry = catalog_entry(store, custom_shop, "tea-sencha")
    assert (entry["available"], entry["deleted"]) == (False, True)


# --- refusals ------------------------------------------------------------------------------


def test_wrong_secret_is_401_and_stores_nothing(http, store, custom_shop) -> None:
    body = json.dumps(example("order.created")).encode()
    headers = signed("whsec_" + "QUJD" * 8, body)
    response = http.post(f"/webhooks/custom/{custom_shop.shop.shop_id}", content=body,
                         headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    assert secret_of(custom_shop) not in response.text
    assert event_count(store, custom_shop) == 0


def test_stale_timestamp_is_401(http, store, custom_shop) -> None:
    response = send(http, custom_shop, example("order.created"), stamp=int(time.time()) - 600)
    assert response.status_code == 401
    assert event_count(store, custom_shop) == 0


def test_unknown_shop_id_is_404(http, custom_shop) -> None:
    body = json.dumps(example("order.created")).encode()
    response = http.post("/webhooks/custom/no-such-shop", content=body,
                         headers=signed(secret_of(custom_shop), body))
    assert response.status_code == 404
    assert "no-such-shop" in response.json()["detail"]


def test_shop_of_another_platform_is_404(http, shop) -> None:
    body = json.dumps(example("order.created")).encode()
    response = http.post(f"/webhooks/custom/{shop.shop.shop_id}", content=body,
                         headers=signed(shop.shop.webhook_secrets[0].reveal(), body))
    assert response.status_code == 404


def test_url_without_shop_id_is_404_saying_where_to_post(http) -> None:
    response = http.post("/webhooks/custom", content=b"{}")
    assert response.status_code == 404
    assert "/webhooks/custom/{shop_id}" in response.json()["detail"]


def test_oversized_body_is_413(http, store, custom_shop) -> None:
    event = example("product.deleted")
    event["pad"] = "x" * store.settings.max_body_bytes
    assert send(http, custom_shop, event).status_code == 413
    assert event_count(store, custom_shop) == 0


def _without(path: tuple[Any, ...]) -> dict[str, Any]:
    event = example("order.created")
    *parents, last = path
    target: Any = event
    for step in parents:
        target = target[step]
    del target[last]
    return event


def _with(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    event = example("order.created")
    *parents, last = path
    target: Any = event
    for step in parents:
        target = target[step]
    target[last] = value
    return event


INVALID = [
    (_with(("type",), "order.shipped"), "type"),
    (_without(("data", "customer_id")), "'customer_id' is a required property"),
    (_with(("data", "status"), "pending"), "data.status"),
    (_with(("data", "total_price"), 54.8), "data.total_price"),
    (_with(("data", "created_at"), "2025-03-01 10:00:00"), "data.created_at"),
    (_with(("data", "currency"), "euro"), "data.currency"),
    (_with(("data", "line_items"), []), "data.line_items"),
    (_with(("data", "line_items", 0, "quantity"), 0), "data.line_items[0].quantity"),
    (_with(("data", "line_items", 1, "product_id"), True), "data.line_items[1].product_id"),
    (_with(("data", "line_items", 0, "refunded_quantity"), 3),
     "data.line_items[0].refunded_quantity"),
    ({**example("product.upserted"), "data": {"id": "p1", "title": 5}}, "data.title"),
    ({**example("product.upserted"), "data": {"id": "p1", "title": "P", "url": "javascript:x"}},
     "data.url"),
]


@pytest.mark.parametrize(("event", "named"), INVALID, ids=[n for _, n in INVALID])
def test_invalid_body_is_400_naming_the_field(http, store, custom_shop, event, named) -> None:
    response = send(http, custom_shop, event)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == PROBLEM
    assert named in response.json()["detail"]
    assert event_count(store, custom_shop) == 0


def test_body_that_is_not_an_object_is_400(http, store, custom_shop) -> None:
    response = send(http, custom_shop, ["order.created"])
    assert response.status_code == 400
    assert event_count(store, custom_shop) == 0


# --- the published schema and the doc ----------------------------------------------------


def test_schema_file_is_a_valid_draft_2020_12_schema() -> None:
    schema = json.loads(SCHEMA_FILE.read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_doc_shows_an_example_of_every_event_type() -> None:
    assert {e["type"] for e in EXAMPLES} == {"order.created", "order.updated",
                                            "order.cancelled", "product.upserted",
                                            "product.deleted"}


@pytest.mark.parametrize("event", EXAMPLES, ids=[e["type"] for e in EXAMPLES])
def test_doc_example_is_valid_against_the_schema_file(event) -> None:
    jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text())).validate(event)
    custom.parse_event(event)  # and passes the checks a schema cannot express


def test_python_example_of_the_doc_delivers_an_event(base_url, store, custom_shop) -> None:
    (code,) = doc_blocks("python")
    namespace: dict[str, Any] = {}
    exec(compile(code, str(DOC), "exec"), namespace)
    url = f"{base_url}/webhooks/custom/{custom_shop.shop.shop_id}"
    status = namespace["send_event"](url, secret_of(custom_shop), example("order.created"))
    assert status == 200
    assert drained_order(store, custom_shop, "10045") is not None


def test_python_example_reports_a_refusal(base_url, custom_shop) -> None:
    (code,) = doc_blocks("python")
    namespace: dict[str, Any] = {}
    exec(compile(code, str(DOC), "exec"), namespace)
    url = f"{base_url}/webhooks/custom/{custom_shop.shop.shop_id}"
    assert namespace["send_event"](url, "whsec_" + "QUJD" * 8, example("order.created")) == 401


def test_openssl_and_curl_example_of_the_doc_delivers_an_event(base_url, store,
                                                               custom_shop) -> None:
    (script,) = doc_blocks("sh")[1:]  # the first sh block registers the shop
    url = f"{base_url}/webhooks/custom/{custom_shop.shop.shop_id}"
    script = re.sub(r"^URL=.*$", f"URL={url}", script, count=1, flags=re.M)
    script = re.sub(r"^SECRET=.*$", f"SECRET={secret_of(custom_shop)}", script, count=1,
                    flags=re.M)
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True,
                            text=True, timeout=30, env={"PATH": os.environ["PATH"]})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "accepted"
    entry = catalog_entry(store, custom_shop, "sku-1")
    assert entry["deleted"] is True
