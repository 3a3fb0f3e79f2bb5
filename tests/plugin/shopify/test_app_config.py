"""The Shopify app's configuration (plugin/shopify/app_config.py): `shopreco shopify app-config`
writes a shopify.app.toml Shopify's CLI can deploy, from the settings it needs."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from plugin.config import ConfigError, Settings
from plugin.shopify.app_config import COMPLIANCE_TOPICS, TOPICS, app_toml
from tests.conftest import Store, shopreco
from webhooks import shopify, shopify_privacy

ENV = {"SHOPRECO_SHOPIFY_CLIENT_ID": "a61950a2cbd5f32876b0b55587ec7a27",
       "SHOPRECO_PUBLIC_URL": "https://reco.example.com"}


def test_the_command_writes_the_apps_configuration(store: Store, tmp_path: Path) -> None:
    target = tmp_path / "shopify.app.toml"
    result = shopreco(store, "shopify", "app-config", "--output", str(target), **ENV)
    assert result.returncode == 0, result.stderr
    assert "shopify app deploy" in result.stdout
    config = tomllib.loads(target.read_text())
    assert config["client_id"] == ENV["SHOPRECO_SHOPIFY_CLIENT_ID"]
    assert config["embedded"] is True
    assert config["application_url"] == "https://reco.example.com/shopify/app"
    assert config["access_scopes"]["scopes"] == "read_orders,read_products,read_customers"
    assert config["auth"]["redirect_urls"] == ["https://reco.example.com/shopify/callback"]
    assert config["webhooks"]["api_version"] == shopify.API_VERSION
    regular, compliance = config["webhooks"]["subscriptions"]
    assert {regular["uri"], compliance["uri"]} == {"https://reco.example.com/webhooks/shopify"}
    acted_on = {*shopify.ORDER_TOPICS, *shopify.PRODUCT_TOPICS, shopify.PRODUCT_DELETE,
                shopify.REFUND_CREATE, shopify.APP_UNINSTALLED}
    assert set(regular["topics"]) == acted_on and "compliance_topics" not in regular
    assert set(compliance["compliance_topics"]) == shopify_privacy.SHOPIFY_TOPICS
    assert set(COMPLIANCE_TOPICS) == shopify_privacy.SHOPIFY_TOPICS and "topics" not in compliance
    assert "read_all_orders" in target.read_text()  # the note on older orders


def test_without_a_client_id_it_says_which_setting(store: Store, tmp_path: Path) -> None:
    target = tmp_path / "shopify.app.toml"
    result = shopreco(store, "shopify", "app-config", "--output", str(target),
                      SHOPRECO_PUBLIC_URL="https://reco.example.com")
    assert result.returncode == 1 and "SHOPRECO_SHOPIFY_CLIENT_ID" in result.stderr
    assert not target.exists()


def test_the_configuration_from_settings() -> None:
    settings = Settings(public_url="https://reco.example.com/", shopify_client_id="cid",
                        shopify_scopes="read_orders,read_all_orders")
    config = tomllib.loads(app_toml(settings, name="My reco", handle="my-reco"))
    assert (config["client_id"], config["name"], config["handle"]) == ("cid", "My reco",
                                                                       "my-reco")
    assert config["application_url"] == "https://reco.example.com/shopify/app"  # no "//"
    assert config["access_scopes"] == {"scopes": "read_orders,read_all_orders",
                                       "use_legacy_install_flow": False}
    assert config["auth"]["redirect_urls"] == ["https://reco.example.com/shopify/callback"]
    regular, compliance = config["webhooks"]["subscriptions"]
    assert regular["topics"] == list(TOPICS) and len(set(TOPICS)) == len(TOPICS)
    assert compliance["compliance_topics"] == list(COMPLIANCE_TOPICS)
    assert {regular["uri"], compliance["uri"]} == {"https://reco.example.com/webhooks/shopify"}
    assert config["pos"] == {"embedded": False} and config["embedded"] is True


def test_without_a_client_id_no_configuration_is_written() -> None:
    with pytest.raises(ConfigError, match="SHOPRECO_SHOPIFY_CLIENT_ID"):
        app_toml(Settings(public_url="https://reco.example.com"))


def test_shopify_needs_an_https_public_url() -> None:
    settings = Settings(public_url="http://127.0.0.1:8000", shopify_client_id="x")
    with pytest.raises(ConfigError, match="https"):
        app_toml(settings)


def test_values_are_escaped_for_toml() -> None:
    text = app_toml(Settings(public_url="https://r.example", shopify_client_id='a"b\\c'),
                    name='My "reco"')
    config = tomllib.loads(text)
    assert (config["client_id"], config["name"]) == ('a"b\\c', 'My "reco"')


@pytest.mark.parametrize(("name", "value"), [
    ("SHOPRECO_SHOPIFY_SCOPES", "read orders"),
    ("SHOPRECO_SHOPIFY_SCOPES", ","),
    ("SHOPRECO_SHOPIFY_BASE_URL", "https://example.com"),
    ("SHOPRECO_SHOPIFY_BASE_URL", "ftp://{shop}"),
])
def test_bad_shopify_settings_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


def test_shopify_settings_are_read() -> None:
    settings = Settings.from_env({
        "SHOPRECO_SHOPIFY_CLIENT_ID": " id ", "SHOPRECO_SHOPIFY_CLIENT_SECRET": "shh",
        "SHOPRECO_SHOPIFY_SCOPES": "read_orders, read_products,read_all_orders",
        "SHOPRECO_SHOPIFY_BASE_URL": "http://127.0.0.1:9999/{shop}/"})
    assert settings.shopify_client_id == "id"
    assert settings.shopify_client_secret.reveal() == "shh"
    assert "shh" not in repr(settings)
    assert settings.shopify_scopes == "read_orders,read_products,read_all_orders"
    assert settings.shopify_base_url == "http://127.0.0.1:9999/{shop}"
