"""The field rules, one behaviour per test: what each keeps, and how a refusal names the field."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plugin.store.fields import (
    MAX_ID_CHARS,
    MAX_TEXT_CHARS,
    PayloadError,
    currency_code,
    display_text,
    epoch,
    http_url,
    id_string,
    is_text,
    money,
    quantity,
    timestamp,
)


@pytest.mark.parametrize(("value", "kept"), [(123, "123"), ("gid-9", "gid-9"),
                                             (2**63, str(2**63)), ("a b", "a b")])
def test_ids_are_printable_strings(value, kept) -> None:
    assert id_string(value, "id") == kept


@pytest.mark.parametrize("value", ["\ud800", "12\n34", "x" * (MAX_ID_CHARS + 1), "\x00",
                                   10**200, 1.5, True, [], {}])
def test_bad_ids_name_the_field(value) -> None:
    with pytest.raises(PayloadError, match=r"^line_items\[0\]\.product_id must be"):
        id_string(value, "line_items[0].product_id")


def test_a_missing_id_is_refused_only_when_required() -> None:
    assert id_string(None, "customer.id", required=False) is None
    with pytest.raises(PayloadError, match=r"customer\.id is missing"):
        id_string("", "customer.id")


@pytest.mark.parametrize(("value", "kept"), [("10.00", "10.00"), (10, "10"), (9.5, "9.5"),
                                             ("0", "0"), (" 3.10 ", "3.10"),
                                             (Decimal("1E+3"), "1E+3")])
def test_money_is_a_finite_decimal_string(value, kept) -> None:
    assert money(value, "price") == kept


@pytest.mark.parametrize("value", ["1e400", "NaN", "Infinity", "-5.00", "1e13", "ten", "",
                                   "9" * 41, None, True, [1]])
def test_bad_money_names_the_field(value) -> None:
    with pytest.raises(PayloadError, match=r"^total must"):
        money(value, "total")


def test_money_may_be_negative_where_the_field_allows() -> None:
    assert money("-5.00", "adjustment", negative=True) == "-5.00"


@pytest.mark.parametrize("value", [-1, 1_000_001, 1.0, True, "2"])
def test_bad_quantities_are_refused(value) -> None:
    with pytest.raises(PayloadError, match="quantity must be a whole number"):
        quantity(value, "quantity")


def test_display_text_is_capped_and_control_free() -> None:
    assert display_text(None, "title") == ""
    assert display_text(42, "title") == "42"
    assert display_text("Tea\x00\tCake\n", "title") == "Tea  Cake "
    assert len(display_text("x" * 5000, "title")) == MAX_TEXT_CHARS


@pytest.mark.parametrize("value", ["\ud800", {"a": 1}, ["x"], float("nan")])
def test_display_text_refuses_what_is_not_text(value) -> None:
    with pytest.raises(PayloadError, match=r"^name must be"):
        display_text(value, "name")


@pytest.mark.parametrize(("value", "kept"), [("EUR", "EUR"), ("eur", "EUR"), (None, "USD"),
                                             ("", "USD")])
def test_currency_is_an_iso_code(value, kept) -> None:
    assert currency_code(value, "currency", default="USD") == kept


@pytest.mark.parametrize("value", ["\ud800", "Euro", "EU", "E1R", 978])
def test_bad_currency_names_the_field(value) -> None:
    with pytest.raises(PayloadError, match="currency must be an ISO 4217 currency code"):
        currency_code(value, "currency")


@pytest.mark.parametrize(("value", "kept"), [
    ("https://cdn.example.com/a.jpg", "https://cdn.example.com/a.jpg"),
    ("http://shop.example/p?x=1#y", "http://shop.example/p?x=1#y"),
    ("//cdn.example.com/a.jpg", "https://cdn.example.com/a.jpg"),
    ("/products/mug", None),
    ("javascript:alert(1)", None), ("data:image/svg+xml,<svg onload=x>", None),
    ('https://shop.example/products/x"><script>', None), ("https://", None),
    (" https://a.example/", None), ("ftp://a.example/f", None), (5, None), ("", None),
])
def test_urls_are_http_or_dropped(value, kept) -> None:
    assert http_url(value) == kept


def test_a_storefront_path_is_joined_to_the_storefront() -> None:
    assert http_url("/products/mug", "https://shop.example/") == "https://shop.example/products/mug"
    assert http_url("/products/x\"><script>", "https://shop.example") is None


def test_times_stay_between_1970_and_2099() -> None:
    assert timestamp("2025-03-01T10:00:00Z", "created_at") == 1740823200.0
    for bad in ("9999-12-31T00:00:00Z", "1969-12-31T00:00:00Z", "tomorrow", "2" * 50):
        with pytest.raises(PayloadError, match="created_at must be"):
            timestamp(bad, "created_at")
    with pytest.raises(PayloadError):
        epoch(float("inf"), "at")


# The fast paths (plain amounts, printable text and ids, remembered timestamps) must give what
# the general rules give; the references below are those rules written out.
QUIET = settings(database=None, deadline=None)  # no example database left behind


@QUIET
@given(st.from_regex(r"\A[0-9]{1,14}(\.[0-9]{1,8})?\Z") | st.decimals(allow_nan=False,
                                                                      places=4).map(str))
def test_amount_strings_read_as_decimal_writes_them(raw: str) -> None:
    amount = Decimal(raw)
    if amount < 0 or abs(amount) > Decimal("1e12"):
        with pytest.raises(PayloadError):
            money(raw, "price")
    else:
        assert money(raw, "price") == str(amount)


@QUIET
@given(st.text(max_size=40) | st.integers(min_value=-(10**30), max_value=10**30))
def test_ids_and_text_read_as_the_rules_say(value: str | int) -> None:
    written = str(value)
    if value == "" or len(written) > MAX_ID_CHARS or not written.isprintable():
        with pytest.raises(PayloadError):
            id_string(value, "id")
    else:
        assert id_string(value, "id") == written
    if isinstance(value, str) and not is_text(value):
        with pytest.raises(PayloadError):
            display_text(value, "title")
    else:
        assert display_text(value, "title") == re.sub(r"[\x00-\x1f\x7f-\x9f]", " ", written)


@QUIET
@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2098, 1, 1),
                    timezones=st.sampled_from([UTC, timezone(timedelta(hours=-7)),
                                               timezone(timedelta(hours=5, minutes=30))])))
def test_a_timestamp_read_twice_is_the_same_instant(moment: datetime) -> None:
    written = moment.isoformat()
    assert timestamp(written, "created_at") == moment.timestamp()
    assert timestamp(written, "updated_at") == moment.timestamp()  # the remembered one
