"""The WordPress plugin (widgets/wordpress/shopreco) under PHP's CLI: stubs/driver.php loads
minimal WordPress and WooCommerce stubs and the plugin, runs one command (a hook, the
shortcode, the block, an admin page, options.php, uninstall) and answers JSON."""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
import zipfile
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
PLUGIN = ROOT / "widgets" / "wordpress" / "shopreco"
STUBS = Path(__file__).resolve().parent / "stubs"
URL, KEY = "https://reco.example.com", "wk_Test-key_0123456789"
SETTINGS = "shopreco_settings"


def php() -> str:
    """PHP's CLI; its absence fails (CI installs Debian's php-cli)."""
    found = shutil.which("php")
    if found is None:
        pytest.fail("php is missing: `apt-get install php-cli` (the CI script does)")
    return found


def run(command: str, *args: str, plugin: Path = PLUGIN, **state: Any) -> dict[str, Any]:
    """driver.php's answer for `command` on a site in `state` (see the driver's comment);
    fails on any PHP error, warning or notice, and on output while the plugin loads."""
    done = subprocess.run([php(), str(STUBS / "driver.php"), command, *args],
                          input=json.dumps(state), capture_output=True, text=True, timeout=60,
                          env={**os.environ, "SHOPRECO_PLUGIN": str(plugin)})
    assert done.returncode == 0 and done.stderr == "", done.stdout + done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    assert result["boot"] == ""
    return result


def connected(url: str = URL, key: str = KEY, **settings: Any) -> dict[str, Any]:
    """The options of a site whose plugin is set up."""
    return {SETTINGS: {"url": url, "widget_key": key, **settings}}


def connection_code(url: str, widget_key: str) -> str:
    """The one-line code shopreco shows for the plugin's settings page: base64url (no padding)
    of the JSON {"url", "widget_key"} (the plugin's readme.txt documents it)."""
    payload = json.dumps({"url": url.rstrip("/"), "widget_key": widget_key},
                         separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def plugin_zip(folder: Path = PLUGIN) -> bytes:
    """The plugin as WordPress installs it from a zip: the folder `shopreco/` at its root
    (hidden files and __pycache__ left out, as plugin.connect.woocommerce serves it)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            parts = path.relative_to(folder).parts
            if path.is_file() and not any(p.startswith(".") or p == "__pycache__"
                                          for p in parts):
                archive.write(path, f"shopreco/{path.relative_to(folder).as_posix()}")
    return buffer.getvalue()


class _Elements(HTMLParser):
    def __init__(self, tag: str) -> None:
        super().__init__()
        self.tag = tag
        self.found: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == self.tag:
            self.found.append(dict(attrs))


def elements(html: str, tag: str) -> list[dict[str, str | None]]:
    """The attributes (unescaped, as a browser reads them) of each `tag` element in `html`."""
    parser = _Elements(tag)
    parser.feed(html)
    parser.close()
    return parser.found


def widgets(html: str) -> list[dict[str, str | None]]:
    """The widget placeholders in `html`, each as its data- attributes without the prefix."""
    return [{k.removeprefix("data-"): v for k, v in attrs.items() if k.startswith("data-")}
            for attrs in elements(html, "div") if "data-shopreco" in attrs]


def script(footer: str) -> dict[str, str | None]:
    """The embed script's tag in the footer, which holds it and the cart refresh only."""
    scripts = elements(footer, "script")
    assert footer.count("<script") == len(scripts) == 2, footer
    assert [s.get("id") for s in scripts] == ["shopreco-embed-js",
                                              "shopreco-woocommerce-js-after"], footer
    return scripts[0]
