"""The admin's Recommendations page (plugin/admin/recommendations.py): the preview is what the
widget answers, excluded products are saved (CSRF required) and never shown, Retrain now
trains."""

from __future__ import annotations

import html
import re
from typing import Any

import httpx
import pytest

from plugin.admin import sessions
from plugin.admin.recommendations import MAX_EXCLUDED
from plugin.store.models import current_model_info
from plugin.store.shops import NewShop
from tests.browser import DESKTOP_UA, PageWatch, browser  # noqa: F401
from tests.conftest import Store
from tests.helpers import bundle_orders, eventually, send_orders, train
from tests.plugin.admin.conftest import link_for, sign_in


def preview_ids(client: httpx.Client, **params: str) -> list[str]:
    page = client.get("/admin/recommendations", params=params)
    assert page.status_code == 200
    table = page.text.split('id="preview-items"')[1].split("</table>")[0]
    return re.findall(r"<small>\(([^)]+)\)</small>", table)


def widget_ids(http: httpx.Client, shop: NewShop, **params: str) -> list[str]:
    answer = http.get("/widgets/v1/recommendations",
                      params={"key": shop.shop.widget_key, "limit": "8", **params})
    return [item["product_id"] for item in answer.json()["items"]]


def test_the_preview_is_what_the_widget_answers(store: Store, http: httpx.Client,
                                                paired: NewShop) -> None:
    with httpx.Client(base_url=http.base_url, timeout=30) as client:
        sign_in(store, paired, client)
        shown = preview_ids(client, placement="bundle", product_id="101")
        assert shown[0] == "102"
        assert shown == widget_ids(http, paired, placement="bundle", product_id="101")
        cart = preview_ids(client, placement="cart", product_ids="103,104")
        assert cart == widget_ids(http, paired, placement="cart", product_ids="103,104")
        model = http.get(f"/api/v1/shops/{paired.shop.shop_id}/model",
                         headers={"Authorization": f"Bearer {paired.api_key}"}).json()["model"]
        page = " ".join(html.unescape(client.get("/admin/recommendations", params={
            "placement": "bundle", "product_id": "101"}).text).split())
        answered = re.search(r'id="answered-by">([^<]+)<', page)
        assert answered is not None and answered[1] in model["strategy"].split("+")
        assert f"(the {answered[1]} part of the model's strategy, {model['strategy']})" in page
        unknown = " ".join(html.unescape(client.get("/admin/recommendations", params={
            "placement": "bundle", "product_id": "999"}).text).split())
        fallback = re.search(r'id="answered-by">([^<]+)<', unknown)
        assert fallback is not None and fallback[1] not in model["strategy"].split("+")
        assert f"(a fallback: the model, {model['strategy']}, knows" in unknown
        refused = client.get("/admin/recommendations", params={"placement": "bundle"})
        assert refused.status_code == 200 and "product_id" in refused.text \
            and 'role="alert"' in refused.text


def test_the_browsing_placements_preview_a_visitors_lists(store: Store, http: httpx.Client,
                                                          paired: NewShop) -> None:
    """recently_viewed and inspired_by_browsing are offered, and show what the widget answers
    for the visitor id asked about (without one: what is missing)."""
    sent = http.post(f"/api/v1/shops/{paired.shop.shop_id}/events",
                     headers={"Authorization": f"Bearer {paired.api_key}"},
                     json={"visitor_id": "v-owner", "events": [
                         {"type": "product_view", "product_id": p} for p in ("103", "101")]})
    assert sent.status_code == 200, sent.text
    with httpx.Client(base_url=http.base_url, timeout=30) as client:
        sign_in(store, paired, client)
        page = client.get("/admin/recommendations").text
        for name in ("recently_viewed", "inspired_by_browsing"):
            assert f'<option value="{name}" >{name}</option>' in page
        assert 'id="visitor_id" name="visitor_id"' in page
        recent = preview_ids(client, placement="recently_viewed", visitor_id="v-owner")
        assert recent == ["101", "103"]  # newest first
        assert recent == widget_ids(http, paired, placement="recently_viewed",
                                    visitor_id="v-owner")
        assert preview_ids(client, placement="recently_viewed", visitor_id="v-owner",
                           product_id="101") == ["103"]  # the page's own product left out
        inspired = preview_ids(client, placement="inspired_by_browsing", visitor_id="v-owner")
        assert inspired and not {"101", "103"} & set(inspired)
        assert inspired == widget_ids(http, paired, placement="inspired_by_browsing",
                                      visitor_id="v-owner")
        missing = client.get("/admin/recommendations", params={"placement": "recently_viewed"})
        assert 'role="alert"' in missing.text and "visitor_id is missing" in missing.text
        assert 'id="preview-items"' not in missing.text


def test_excluded_products_are_saved_and_never_shown(store: Store, http: httpx.Client,
                                                     paired: NewShop) -> None:
    with httpx.Client(base_url=http.base_url, timeout=30) as client:
        csrf = sign_in(store, paired, client)
        assert client.post("/admin/recommendations/excluded",
                           data={"product_ids": "102"}).status_code == 403  # no CSRF token
        too_long = client.post("/admin/recommendations/excluded",
                               data={"csrf": csrf, "product_ids": "x" * 500})
        assert too_long.status_code == 400
        saved = client.post("/admin/recommendations/excluded",
                            data={"csrf": csrf, "product_ids": "102\n\n 105 \n102"})
        assert saved.status_code == 303
        page = client.get(saved.headers["location"]).text
        assert "Saved." in page and re.search(r">102\n105</textarea>", page)
        eventually(lambda: _without(widget_ids(http, paired, placement="bundle",
                                               product_id="101"), "102"))
        assert "102" not in preview_ids(client, placement="bundle", product_id="101")


def _without(ids: list[str], product: str) -> None:
    assert ids and product not in ids, ids


def test_retrain_now_trains_a_new_version(store: Store, http: httpx.Client,
                                          paired: NewShop) -> None:
    with httpx.Client(base_url=http.base_url, timeout=30) as client:
        csrf = sign_in(store, paired, client)
        before = re.search(r'id="model-version">([^<]+)<',
                           client.get("/admin/recommendations").text)
        assert before is not None
        assert client.post("/admin/recommendations/retrain").status_code == 403
        started = client.post("/admin/recommendations/retrain", data={"csrf": csrf})
        assert started.status_code == 303 and "training=1" in started.headers["location"]

        def new_version() -> str:
            found = re.search(r'id="model-version">([^<]+)<',
                              client.get("/admin/recommendations").text)
            assert found is not None and found[1] != before[1]
            return found[1]

        eventually(new_version, timeout=60)


def test_without_a_model_the_preview_says_so(store: Store, http: httpx.Client,
                                              shop: NewShop) -> None:
    with httpx.Client(base_url=http.base_url, timeout=30) as client:
        sign_in(store, shop, client)
        page = client.get("/admin/recommendations").text
        assert 'id="preview-items"' not in page and "No model yet" in page  # nothing asked
        assert preview_ids(client, placement="trending") == []
        asked = client.get("/admin/recommendations", params={"placement": "trending"}).text
        assert "Nothing to show yet" in asked and 'option value="trending" selected' in asked
        unknown = client.get("/admin/recommendations", params={"placement": "sidebar"})
        assert unknown.status_code == 200 and 'role="alert"' in unknown.text
        assert 'id="preview-items"' not in unknown.text


def test_excluded_ids_may_be_comma_separated_and_are_bounded(store: Store, http: httpx.Client,
                                                            shop: NewShop) -> None:
    with httpx.Client(base_url=http.base_url, timeout=30) as client:
        csrf = sign_in(store, shop, client)
        saved = client.post("/admin/recommendations/excluded",
                            data={"csrf": csrf, "product_ids": "a, b,c\nd,,a"})
        assert saved.status_code == 303
        assert ">a\nb\nc\nd</textarea>" in client.get(saved.headers["location"]).text
        too_many = "\n".join(str(n) for n in range(MAX_EXCLUDED + 1))
        refused = client.post("/admin/recommendations/excluded",
                              data={"csrf": csrf, "product_ids": too_many})
        assert refused.status_code == 400 and f"at most {MAX_EXCLUDED}" in refused.text
        assert ">a\nb\nc\nd</textarea>" in client.get("/admin/recommendations").text
        cleared = client.post("/admin/recommendations/excluded",
                              data={"csrf": csrf, "product_ids": " \n "})
        assert cleared.status_code == 303
        assert "></textarea>" in client.get("/admin/recommendations").text


def test_retrain_now_shows_its_progress_and_then_the_new_version_in_chromium(
        store: Store, http: httpx.Client, paired: NewShop, browser: Any) -> None:  # noqa: F811
    context = browser.new_context(user_agent=DESKTOP_UA, viewport={"width": 390, "height": 900})
    try:
        page = context.new_page()
        watch = PageWatch(page)
        page.goto(store.run(lambda r: sessions.login_link(r, str(http.base_url),
                                                          paired.shop.shop_id)))
        page.click("#continue")
        page.goto(f"{http.base_url}/admin/recommendations")
        before = page.inner_text("#model-version")
        page.click("#retrain")
        page.wait_for_selector("#training-status")
        page.wait_for_function(  # the page reloads itself once the new version serves
            f"document.getElementById('model-version') && "
            f"document.getElementById('model-version').textContent !== {before!r} && "
            "!document.getElementById('training-status')", timeout=60_000)
        assert page.inner_text("#model-version") != before
        assert watch.errors == []
    finally:
        context.close()


def test_a_training_that_ends_before_the_page_renders_still_shows_as_done(
        store: Store, http: httpx.Client, paired: NewShop, browser: Any) -> None:  # noqa: F811
    """The page that follows "Retrain now" loads only after the new version serves (a quick
    training, a slow browser): it must still see the version change and show it, not wait
    for a change that already happened."""
    shop_id = paired.shop.shop_id

    def serving() -> str:
        model = store.run(lambda r: current_model_info(r, shop_id))
        assert model is not None
        return model.version

    context = browser.new_context(user_agent=DESKTOP_UA, viewport={"width": 390, "height": 900})
    try:
        page = context.new_page()
        watch = PageWatch(page)
        page.goto(store.run(lambda r: sessions.login_link(r, str(http.base_url), shop_id)))
        page.click("#continue")
        page.goto(f"{http.base_url}/admin/recommendations")
        before = page.inner_text("#model-version")
        assert before == serving()

        csrf = page.get_attribute("form[action='/admin/recommendations/retrain'] "
                                  "input[name=csrf]", "value")
        pressed = page.request.post(f"{http.base_url}/admin/recommendations/retrain",
                                    form={"csrf": csrf or ""}, max_redirects=0)
        assert pressed.status == 303
        eventually(lambda: serving() != before, timeout=60)  # trained before the page loads
        page.goto(f"{http.base_url}{pressed.headers['location']}")
        page.wait_for_function(
            f"document.getElementById('model-version') && "
            f"document.getElementById('model-version').textContent !== {before!r} && "
            "!document.getElementById('training-status')", timeout=60_000)
        assert page.inner_text("#model-version") == serving() != before
        assert watch.errors == []
    finally:
        context.close()


def test_the_model_status_is_the_signed_in_shops(store: Store, http: httpx.Client,
                                                 paired: NewShop) -> None:
    with httpx.Client(base_url=http.base_url, timeout=30) as client:
        assert client.get("/admin/recommendations/model.json",
                          follow_redirects=False).status_code == 303
        sign_in(store, paired, client)
        status = client.get("/admin/recommendations/model.json")
        page = client.get("/admin/recommendations").text
    shown = re.search(r'id="model-version">([^<]+)<', page)
    assert status.status_code == 200 and shown is not None
    assert status.json()["version"] == shown[1] and status.json()["trained_at"] > 0


@pytest.fixture
def validated(store: Store, http: httpx.Client, shop: NewShop) -> NewShop:
    """A shop whose history lets the per-shop choice validate candidates and baselines."""
    send_orders(http, shop, bundle_orders())
    assert train(http, shop).status_code == 200
    return shop


def test_the_model_shows_what_serves_each_task_and_every_candidates_score_in_chromium(
        store: Store, http: httpx.Client, validated: NewShop,
        browser: Any) -> None:  # noqa: F811
    choice = http.get(f"/api/v1/shops/{validated.shop.shop_id}/model", headers={
        "Authorization": f"Bearer {validated.api_key}"}).json()["model"]["choice"]
    assert choice["chosen_by"] == "time-split validation"
    context = browser.new_context(user_agent=DESKTOP_UA, viewport={"width": 390, "height": 900})
    try:
        page = context.new_page()
        watch = PageWatch(page)
        page.goto(link_for(store, validated, str(http.base_url)))
        page.click("#continue")
        page.goto(f"{http.base_url}/admin/recommendations")
        served = page.locator("#served-by tbody tr")
        assert served.count() == len(choice["tasks"])
        for n, (task, verdict) in enumerate(choice["tasks"].items()):
            cells = served.nth(n).locator("th, td").all_inner_texts()
            assert cells == [task, verdict["served_by"], verdict["why"]]
        tables = page.locator("#every-candidate table.candidates")
        assert not tables.first.is_visible()  # folded until asked for
        page.click("#every-candidate summary")
        assert tables.first.is_visible()
        for task, verdict in choice["tasks"].items():
            table = page.locator(f"#every-candidate table[data-task='{task}']")
            rows = table.locator("tbody tr")
            names = [rows.nth(n).locator("td").first.inner_text().replace(" (serves)", "")
                     for n in range(rows.count())]
            assert set(names) == set(choice["baselines"][task]) | {
                name for name, _ in choice["candidates"][task]}
            scores = [float(t) for t in table.locator("tbody td.num").all_inner_texts()]
            assert scores == sorted(scores, reverse=True)  # best first
            serving = table.locator("tr.serves td").first.inner_text()
            wanted = (verdict["served_by"] if verdict["served_by"] in choice["baselines"][task]
                      else verdict["candidate"])
            assert table.locator("tr.serves").count() == 1 and serving.startswith(wanted)
        assert watch.errors == []
    finally:
        context.close()
