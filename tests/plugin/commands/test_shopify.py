"""`shopreco shopify app-config` (plugin/commands/shopify.py): shopify.app.toml for the owner's
Shopify app, written where --output says, from the settings."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tests.plugin.commands.conftest import Cli

CLIENT_ID = "a61950a2cbd5f32876b0b55587ec7a27"


def test_writes_the_configuration_and_says_what_next(cli: Cli, tmp_path: Path) -> None:
    target = tmp_path / "app" / "shopify.app.toml"
    target.parent.mkdir()
    result = cli("shopify", "app-config", "--output", str(target), "--name", "My reco",
                 "--handle", "my-reco", SHOPRECO_SHOPIFY_CLIENT_ID=CLIENT_ID,
                 SHOPRECO_SHOPIFY_SCOPES="read_orders,read_all_orders")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"wrote {target}\n") and "shopify app deploy" in result.stdout
    config = tomllib.loads(target.read_text())
    assert (config["client_id"], config["name"], config["handle"]) == (
        CLIENT_ID, "My reco", "my-reco")
    assert config["application_url"].startswith("https://reco.example.com/")
    assert config["access_scopes"]["scopes"] == "read_orders,read_all_orders"


def test_writes_shopify_app_toml_here_by_default(cli: Cli, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli("shopify", "app-config", SHOPRECO_SHOPIFY_CLIENT_ID=CLIENT_ID)
    assert result.returncode == 0, result.stderr
    config = tomllib.loads((tmp_path / "shopify.app.toml").read_text())
    assert (config["name"], config["handle"]) == ("shopreco", "shopreco")


@pytest.mark.parametrize(("env", "named"), [
    ({}, "SHOPRECO_SHOPIFY_CLIENT_ID"),
    ({"SHOPRECO_SHOPIFY_CLIENT_ID": CLIENT_ID, "SHOPRECO_PUBLIC_URL": "http://127.0.0.1:8000"},
     "SHOPRECO_PUBLIC_URL"),
])
def test_a_missing_setting_is_named_and_nothing_written(cli: Cli, tmp_path: Path,
                                                        env: dict[str, str], named: str) -> None:
    target = tmp_path / "shopify.app.toml"
    result = cli("shopify", "app-config", "--output", str(target), **env)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.startswith("shopreco: ") and named in result.stderr
    assert not target.exists()
