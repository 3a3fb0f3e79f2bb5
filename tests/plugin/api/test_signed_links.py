"""Signed links for e-mail (plugin/api/signed_links.py) on the embedded Redis: the per-shop
secret, HMAC-SHA256 over exactly the named fields, expiry at a UTC midnight, and the refusals
(403 unsigned or changed, 410 expired)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from urllib.parse import parse_qsl, urlsplit

import pytest

from plugin.api.signed_links import (
    DAY,
    LinkRefused,
    block_fields,
    block_url,
    check_signed,
    click_fields,
    click_url,
    existing_link_secret,
    expiry,
    link_secret,
    signature,
)
from plugin.store import keys
from plugin.store.shops import NewShop
from tests.conftest import Store

NOW = 1_750_000_000  # 2025-06-15 15:06:40 UTC
LATER = str(NOW + 30 * DAY)


def test_signature_is_hmac_sha256_over_the_fields(store, shop) -> None:
    secret = store.run(lambda r: link_secret(r, shop.shop.shop_id))
    message = json.dumps(["click", "s", "c", "p", "9"], separators=(",", ":")).encode()
    digest = hmac.new(secret.reveal().encode(), message, hashlib.sha256).digest()
    assert signature(secret, ["click", "s", "c", "p", "9"]) == (
        base64.urlsafe_b64encode(digest).rstrip(b"=").decode())


def test_link_secret_is_made_once_per_shop(store, make_shop) -> None:
    first, second = make_shop(), make_shop()
    a1 = store.run(lambda r: link_secret(r, first.shop.shop_id))
    a2 = store.run(lambda r: link_secret(r, first.shop.shop_id))
    b = store.run(lambda r: link_secret(r, second.shop.shop_id))
    assert a1.reveal() == a2.reveal() != b.reveal()
    assert len(a1.reveal()) == 64 and "*" in repr(a1)


def test_the_fields_are_framed_so_they_cannot_run_together(store: Store, shop: NewShop) -> None:
    secret = store.run(lambda r: link_secret(r, shop.shop.shop_id))
    assert signature(secret, ["ab", "c"]) != signature(secret, ["a", "bc"])
    assert signature(secret, ["a,b"]) != signature(secret, ["a", "b"])
    assert len(signature(secret, ["x"])) == 43 and "=" not in signature(secret, ["x"])


def test_checking_a_link_never_makes_a_secret(store: Store, shop: NewShop) -> None:
    shop_id = shop.shop.shop_id
    assert store.run(lambda r: existing_link_secret(r, shop_id)) is None
    with pytest.raises(LinkRefused) as refused:
        store.run(lambda r: check_signed(r, shop_id, ["click", shop_id], LATER, "A" * 43,
                                         now=NOW))
    assert refused.value.status == 403
    assert store.run(lambda r: r.exists(keys.email_link_secret(shop_id))) == 0
    made = store.run(lambda r: link_secret(r, shop_id))
    assert store.run(lambda r: existing_link_secret(r, shop_id)).reveal() == made.reveal()


def test_expiry_is_rounded_up_to_a_utc_midnight() -> None:
    assert expiry(30, now=NOW) == 1_752_624_000  # 2025-07-16 00:00 UTC
    assert expiry(30, now=NOW) % DAY == 0 and 0 <= expiry(30, now=NOW) - (NOW + 30 * DAY) < DAY
    midnight = 20_254 * DAY
    assert expiry(1, now=midnight) == midnight + DAY  # a midnight stays where it is
    assert expiry(1, now=midnight + 1) == expiry(1, now=midnight + DAY - 1) == midnight + 2 * DAY


def signed_exp(store: Store, shop_id: str, fields: list[str], exp: str) -> str:
    secret = store.run(lambda r: link_secret(r, shop_id))
    return signature(secret, [*fields, exp])


def check(store: Store, shop_id: str, fields: list[str], exp: str | None,
          sig: str | None) -> None:
    store.run(lambda r: check_signed(r, shop_id, fields, exp, sig, now=NOW))


def test_a_signed_link_within_its_time_is_accepted(store: Store, shop: NewShop) -> None:
    shop_id = shop.shop.shop_id
    fields = click_fields(shop_id, "c1", "p1")
    check(store, shop_id, fields, LATER, signed_exp(store, shop_id, fields, LATER))
    check(store, shop_id, fields, str(NOW), signed_exp(store, shop_id, fields, str(NOW)))


@pytest.mark.parametrize(("exp", "sig", "status", "detail"), [
    (None, "sig", 403, "not signed"),
    (LATER, None, 403, "not signed"),
    (LATER, "", 403, "not signed"),
    (LATER, "A" * 43, 403, "does not match"),
    (LATER, "é" * 43, 403, "does not match"),  # not ASCII: refused, not an error
    (str(NOW - 1), "signed", 410, "expired"),
    ("soon", "signed", 410, "expired"),  # a signed expiry that is no number
])
def test_refusals_say_why(store: Store, shop: NewShop, exp: str | None, sig: str | None,
                          status: int, detail: str) -> None:
    shop_id = shop.shop.shop_id
    fields = click_fields(shop_id, "c1", "p1")
    if sig == "signed":
        sig = signed_exp(store, shop_id, fields, exp or "")
    with pytest.raises(LinkRefused, match=detail) as refused:
        check(store, shop_id, fields, exp, sig)
    assert refused.value.status == status
    secret = store.run(lambda r: link_secret(r, shop_id))
    assert secret.reveal() not in refused.value.detail


def test_any_changed_field_or_a_later_expiry_is_a_403(store: Store, make_shop) -> None:
    shop, other = make_shop(), make_shop()
    shop_id = shop.shop.shop_id
    fields = click_fields(shop_id, "c1", "p1")
    expired = str(NOW - DAY)
    sig = signed_exp(store, shop_id, fields, expired)
    for changed in (click_fields(shop_id, "c2", "p1"), click_fields(shop_id, "c1", "p2"),
                    block_fields(shop_id, "c1", 1, False, "p1")):
        with pytest.raises(LinkRefused) as refused:
            check(store, shop_id, changed, expired, sig)
        assert refused.value.status == 403
    with pytest.raises(LinkRefused) as refused:  # the signature is checked before the time
        check(store, shop_id, fields, LATER, sig)
    assert refused.value.status == 403
    store.run(lambda r: link_secret(r, other.shop.shop_id))
    with pytest.raises(LinkRefused) as refused:  # another shop's secret
        check(store, other.shop.shop_id, fields, expired, sig)
    assert refused.value.status == 403


def test_a_block_url_signs_what_it_carries(store: Store, shop: NewShop) -> None:
    shop_id = shop.shop.shop_id
    secret = store.run(lambda r: link_secret(r, shop_id))
    url = block_url("https://reco.example/", secret, shop_id, "c/1 ä", 6, True, "For you",
                    int(LATER))
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc) == ("https", "reco.example")
    assert parts.path == f"/email/v1/blocks/{shop_id}/c%2F1%20%C3%A4"
    query = dict(parse_qsl(parts.query))
    assert query == {"limit": "6", "exclude_purchased": "true", "heading": "For you",
                     "exp": LATER, "sig": query["sig"]}
    check(store, shop_id, block_fields(shop_id, "c/1 ä", 6, True, "For you"), query["exp"],
          query["sig"])
    plain = dict(parse_qsl(urlsplit(block_url("https://reco.example", secret, shop_id, "c1", 4,
                                              False, "", int(LATER))).query))
    assert "heading" not in plain and plain["exclude_purchased"] == "false"
    check(store, shop_id, block_fields(shop_id, "c1", 4, False, ""), plain["exp"], plain["sig"])


def test_a_click_url_signs_shop_customer_and_product(store: Store, shop: NewShop) -> None:
    shop_id = shop.shop.shop_id
    secret = store.run(lambda r: link_secret(r, shop_id))
    url = click_url("https://reco.example/", secret, shop_id, "a&b=c", "p 1+2", int(LATER))
    parts = urlsplit(url)
    assert url.startswith("https://reco.example/email/v1/click?")
    query = dict(parse_qsl(parts.query))
    assert (query["shop"], query["customer"], query["product"]) == (shop_id, "a&b=c", "p 1+2")
    check(store, shop_id, click_fields(shop_id, "a&b=c", "p 1+2"), query["exp"], query["sig"])
