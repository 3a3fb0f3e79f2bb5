"""Shop locale and widget origins: registration, the CLI, validation, older stored shops."""

from __future__ import annotations

import json
import uuid

import pytest

from plugin.store import keys
from plugin.store.shops import ShopError, allowed_origins, get_shop, parse_locale, parse_origin
from tests.plugin.store.test_attribution import shopreco


def new_id() -> str:
    return "o-" + uuid.uuid4().hex[:12]


def test_shops_add_takes_origins_and_locale(store) -> None:
    shop_id = new_id()
    added = shopreco(store, "shops", "add", shop_id, "--platform", "custom",
                     "--domain", f"{shop_id}.example.com", "--locale", "fr-fr",
                     "--origin", "https://www.Example.com/", "--origin", "http://localhost:3000")
    assert added.returncode == 0, added.stderr
    shop = store.run(lambda r: get_shop(r, shop_id))
    assert shop is not None and shop.locale == "fr-FR"
    assert shop.origins == ("https://www.example.com", "http://localhost:3000")
    listed = json.loads(shopreco(store, "shops", "list").stdout)
    assert next(s for s in listed if s["shop_id"] == shop_id)["locale"] == "fr-FR"


def test_shops_origins_adds_removes_and_prints(store) -> None:
    shop_id = new_id()
    assert shopreco(store, "shops", "add", shop_id, "--platform", "custom",
                    "--domain", f"{shop_id}.example.com").returncode == 0
    added = shopreco(store, "shops", "origins", shop_id, "--add", "https://a.example",
                     "--add", "https://b.example:8443")
    assert json.loads(added.stdout)["origins"] == ["https://a.example", "https://b.example:8443"]
    removed = json.loads(shopreco(store, "shops", "origins", shop_id, "--remove",
                                  "https://a.example").stdout)
    assert removed["origins"] == ["https://b.example:8443"]
    assert f"https://{shop_id}.example.com" in removed["allowed"]
    listed = json.loads(shopreco(store, "shops", "origins", shop_id).stdout)
    assert listed["origins"] == ["https://b.example:8443"]


@pytest.mark.parametrize("bad", ["https://shop.example/path", "shop.example", "ftp://shop.example",
                                 "https://", "https://shop.example:port"])
def test_bad_origin_is_refused_with_a_clear_error(store, bad) -> None:
    shop_id = new_id()
    result = shopreco(store, "shops", "add", shop_id, "--platform", "custom",
                      "--domain", f"{shop_id}.example.com", "--origin", bad)
    assert result.returncode == 1 and "scheme://host[:port]" in result.stderr
    assert store.run(lambda r: get_shop(r, shop_id)) is None


def test_origins_of_an_unknown_shop_fail(store) -> None:
    result = shopreco(store, "shops", "origins", "no-such-shop", "--add", "https://a.example")
    assert result.returncode == 1 and "no-such-shop" in result.stderr


def test_bad_locale_is_refused() -> None:
    with pytest.raises(ShopError, match="--locale"):
        parse_locale("english please")
    assert parse_locale("en-ie") == "en-IE" and parse_locale("zh-Hant-TW") == "zh-Hant-TW"


def test_origin_is_normalised() -> None:
    assert parse_origin(" HTTPS://Shop.Example:8443/ ") == "https://shop.example:8443"


def test_shop_stored_before_locale_and_origins_still_loads(store, make_shop) -> None:
    new = make_shop()
    shop_id = new.shop.shop_id
    store.run(lambda r: r.hdel(keys.shop_config(shop_id), "locale", "origins"))
    shop = store.run(lambda r: get_shop(r, shop_id))
    assert shop is not None and shop.locale == "en-US" and shop.origins == ()
    assert allowed_origins(shop) == {f"https://{new.shop.domain}"}
