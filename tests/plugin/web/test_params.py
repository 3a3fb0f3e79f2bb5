"""Request parameter parsing: each refusal is a BadRequest naming the parameter and the range."""

from __future__ import annotations

import pytest

from plugin.web.params import (
    BadRequest,
    page_cursor,
    parse_bool,
    parse_id,
    parse_int,
    parse_limit,
    parse_page_cursor,
)


@pytest.mark.parametrize(("raw", "expected"), [(None, 10), ("1", 1), ("100", 100), (7, 7)])
def test_limit_is_1_to_100_default_10(raw, expected) -> None:
    assert parse_limit(raw) == expected


@pytest.mark.parametrize("raw", ["0", "101", "-1", "ten", "", True, 2.5j])
def test_a_bad_limit_names_the_range(raw) -> None:
    with pytest.raises(BadRequest, match="limit must be an integer from 1 to 100"):
        parse_limit(raw)


@pytest.mark.parametrize(("raw", "expected"), [(None, False), ("true", True), ("1", True),
                                               ("FALSE", False), ("0", False)])
def test_bool_reads_true_and_false(raw, expected) -> None:
    assert parse_bool("wait", raw) is expected


def test_a_bad_bool_names_the_parameter() -> None:
    with pytest.raises(BadRequest, match="wait must be true or false, got 'yes'"):
        parse_bool("wait", "yes")


@pytest.mark.parametrize(("raw", "expected"), [("abc", "abc"), (123, "123")])
def test_ids_are_strings(raw, expected) -> None:
    assert parse_id("product_id", raw) == expected


@pytest.mark.parametrize("raw", [None, "", True, 1.5, ["1"]])
def test_a_bad_id_names_the_field(raw) -> None:
    with pytest.raises(BadRequest, match="product_id must be a non-empty string id"):
        parse_id("product_id", raw)


def test_int_has_a_default_and_a_range() -> None:
    assert parse_int("days", None, 30, 1, 90) == 30
    assert parse_int("days", "90", 30, 1, 90) == 90
    with pytest.raises(BadRequest, match="days must be an integer from 1 to 90, got '91'"):
        parse_int("days", "91", 30, 1, 90)
    with pytest.raises(BadRequest, match="days must be an integer from 1 to 90"):
        parse_int("days", "x", 30, 1, 90)


@pytest.mark.parametrize("after", ["7", "p0001", "ünïcode", "a/b+c=d"])
def test_a_page_cursor_gives_back_what_it_encoded(after: str) -> None:
    cursor = page_cursor(after)
    assert "=" not in cursor and parse_page_cursor(cursor) == after
    assert parse_page_cursor(None) is None


@pytest.mark.parametrize("raw", ["", "!!!", "not-one", "gA", "_w"])
def test_anything_else_is_not_a_cursor(raw: str) -> None:
    with pytest.raises(BadRequest, match="pass next_cursor unchanged"):
        parse_page_cursor(raw)
