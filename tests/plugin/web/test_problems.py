"""RFC 9457 problem details (plugin/web/problems.py): every error answer is
`application/problem+json` with a title for its status and a detail saying what to do."""

from __future__ import annotations

import json

import httpx
import pytest

from plugin.web.problems import DEFAULT_KIND, KINDS, PROBLEM_MEDIA_TYPE, TITLES, problem


def body_of(status: int, detail: str, **extra: object) -> dict[str, object]:
    return json.loads(problem(status, detail, **extra).body)  # type: ignore[no-any-return]


@pytest.mark.parametrize("status", sorted(TITLES))
def test_a_problem_has_the_rfc_9457_members(status: int) -> None:
    answer = problem(status, "do this instead")
    assert answer.status_code == status
    assert answer.media_type == PROBLEM_MEDIA_TYPE == "application/problem+json"
    assert answer.headers["content-type"] == "application/problem+json"
    assert body_of(status, "do this instead") == {
        "type": f"/api/docs/problems#{DEFAULT_KIND[status]}", "title": TITLES[status],
        "status": status, "detail": "do this instead"}


def test_each_kind_has_a_stable_type_on_its_status() -> None:
    assert body_of(403, "x", kind="missing-scope")["type"] == "/api/docs/problems#missing-scope"
    assert body_of(401, "x")["type"] == "/api/docs/problems#missing-key"
    assert all(KINDS[kind][0] == status for status, kind in DEFAULT_KIND.items())
    with pytest.raises(ValueError, match="unknown kind"):
        problem(400, "x", kind="oops")


def test_the_problems_page_explains_every_kind(http: httpx.Client) -> None:
    page = http.get("/api/docs/problems")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for kind, (status, _) in KINDS.items():
        assert f'id="{kind}"' in page.text and f"<td>{status} " in page.text


def test_the_titles_are_the_http_reason_phrases() -> None:
    assert {status: TITLES[status] for status in (400, 404, 413, 422, 429)} == {
        400: "Bad Request", 404: "Not Found", 413: "Content Too Large",
        422: "Unprocessable Content", 429: "Too Many Requests"}


def test_a_status_without_a_title_is_an_error() -> None:
    assert body_of(418, "x")["title"] == "Error"
    assert body_of(500, "x")["title"] == "Error"


def test_extra_members_are_added() -> None:
    body = body_of(429, "slow down", retry_after=3, limits={"per_second": 20})
    assert body["retry_after"] == 3 and body["limits"] == {"per_second": 20}
    assert (body["status"], body["detail"]) == (429, "slow down")


def test_a_timeout_closes_the_connection_and_unavailable_says_when_to_retry() -> None:
    assert problem(408, "too slow").headers["connection"] == "close"
    assert problem(503, "busy").headers["retry-after"] == "5"
    plain = problem(400, "bad")
    assert "connection" not in plain.headers and "retry-after" not in plain.headers


def test_the_detail_keeps_any_text() -> None:
    detail = 'shop "ä<b>" has no order \ud7ff; send JSON: {"product_ids": [...]}'
    assert body_of(404, detail)["detail"] == detail


def test_the_api_answers_its_errors_as_problems(http: httpx.Client) -> None:
    answer = http.get("/api/v1/shops/no-such-shop/model")
    assert answer.status_code == 401
    assert answer.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert answer.json()["title"] == "Unauthorized" and answer.json()["status"] == 401
