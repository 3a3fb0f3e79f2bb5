"""The API reference: GET /api/v1/openapi.json describes every operation of the API with its
scope, every field documented with an example its own schema accepts; GET /api/docs shows it in
Chromium with no request to any other server."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx

from plugin.store.api_keys import SCOPES
from tests.browser import DESKTOP_UA, SCREENSHOTS, PageWatch, browser  # noqa: F401
from tests.openapi_check import reference, undocumented

API = "/api/v1/shops/{shop_id}"


def test_the_document_is_openapi_3_1_of_every_api_route(http: httpx.Client) -> None:
    doc = reference(http)
    assert doc["openapi"] == "3.1.0" and doc["info"]["title"] == "shopreco API"
    assert doc["servers"] == [{"url": "http://testserver"}]
    paths = set(doc["paths"])
    for route in ("/recommendations/products/{product_id}", "/recommendations/cart",
                  "/lifecycle/metrics", "/lifecycle/feed", "/pins", "/keys",
                  "/customers/{customer_id}", "/widgets/stats", "/model/train"):
        assert API + route in paths
    assert all(path.startswith(API) for path in paths)  # the e-mail links are not the API's
    operations = [op for item in doc["paths"].values() for op in item.values()]
    assert len(operations) >= 24
    ids = [op["operationId"] for op in operations]
    assert len(ids) == len(set(ids))
    for op in operations:
        [requirement] = op["security"]
        assert set(requirement["apiKey"]) <= set(SCOPES), op["operationId"]
        assert {"401", "403", "503"} <= set(op["responses"]), op["operationId"]
        problem = op["responses"]["401"]["content"]["application/problem+json"]["schema"]
        assert problem == {"$ref": "#/components/schemas/Problem"}
    assert http.get("/api/v1/openapi.json").content == http.get("/api/v1/openapi.json").content


def test_every_field_of_every_operation_is_documented_with_a_valid_example(
        http: httpx.Client) -> None:
    doc = reference(http)
    found = {route: undocumented(doc, route) for route in doc["paths"]}
    assert {route: errors for route, errors in found.items() if errors} == {}


def test_the_docs_page_shows_the_reference_with_nothing_from_elsewhere(
        http: httpx.Client, base_url: str, browser: Any) -> None:  # noqa: F811
    page_answer = http.get("/api/docs")
    assert page_answer.status_code == 200
    assert "default-src 'self'" in page_answer.headers["content-security-policy"]
    context = browser.new_context(user_agent=DESKTOP_UA, viewport={"width": 1200, "height": 900})
    requested: list[str] = []
    context.on("request", lambda request: requested.append(request.url))
    try:
        page = context.new_page()
        watch = PageWatch(page)
        page.goto(f"{base_url}/api/docs")
        page.wait_for_selector(".opblock", timeout=30_000)
        page.get_by_text("Products bought together with, or similar to, a product").first \
            .wait_for(timeout=10_000)
        assert page.locator(".opblock").count() >= 24  # one block per operation
        assert page.locator("text=OAS 3.1").count() >= 1
        SCREENSHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "api-docs.png"))
    finally:
        context.close()
    hosts = {urlsplit(url).netloc for url in requested if not url.startswith("data:")}
    assert hosts == {urlsplit(base_url).netloc}, requested
    assert watch.errors == [] and watch.failed_loads == []
