"""The WordPress plugin as files: every PHP file passes `php -l` and does nothing when opened
directly, the zip WordPress installs holds the folder `shopreco/` with every plugin file and
no test file, it renders once unzipped, and the plugin header, readme.txt and block.json
agree."""

from __future__ import annotations

import io
import json
import re
import subprocess
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from tests.widgets.wordpress.php import PLUGIN, STUBS, connected, php, plugin_zip, run, widgets

FILES = [
    "blocks/recommendations/block.json", "blocks/recommendations/index.asset.php",
    "blocks/recommendations/index.js", "includes/placements.php", "includes/render.php",
    "includes/settings.php", "readme.txt", "shopreco.php", "uninstall.php",
]


def test_every_php_file_passes_php_lint() -> None:
    files = sorted(PLUGIN.rglob("*.php")) + sorted(STUBS.rglob("*.php"))
    assert len(files) == 8
    for path in files:
        done = subprocess.run([php(), "-l", str(path)], capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0 and "No syntax errors detected" in done.stdout, (
            path, done.stdout + done.stderr)


def test_no_plugin_file_does_anything_when_opened_directly() -> None:
    """Each starts with `defined( 'ABSPATH' ) || exit;` (uninstall.php: WP_UNINSTALL_PLUGIN):
    run on its own (no WordPress: calling one of its functions would be fatal) it ends
    at once, silently."""
    for path in sorted(PLUGIN.rglob("*.php")):
        done = subprocess.run([php(), "-d", "display_errors=stderr", str(path)],
                              capture_output=True, text=True, timeout=60, cwd=path.parent)
        assert (done.returncode, done.stdout, done.stderr) == (0, "", ""), path
        guard = ("WP_UNINSTALL_PLUGIN" if path.name == "uninstall.php" else "ABSPATH")
        assert f"defined( '{guard}' ) || exit;" in path.read_text(), path


def test_the_zip_holds_the_plugin_folder_and_no_test_file() -> None:
    with zipfile.ZipFile(io.BytesIO(plugin_zip())) as archive:
        names = sorted(archive.namelist())
        assert names == [f"shopreco/{name}" for name in FILES]
        for name in names:
            assert archive.read(name) == (PLUGIN / name.removeprefix("shopreco/")).read_bytes()
    assert not [n for n in names if re.search(r"test|stub|driver|\.py$", n)]


def test_the_unzipped_plugin_renders() -> None:
    state: dict[str, Any] = {"options": connected(), "cart": [[3]]}
    expected = run("hook", "woocommerce_after_cart_table", **state)
    with tempfile.TemporaryDirectory() as folder:
        with zipfile.ZipFile(io.BytesIO(plugin_zip())) as archive:
            archive.extractall(folder)
        unzipped = run("hook", "woocommerce_after_cart_table", plugin=Path(folder, "shopreco"),
                       **state)
    assert unzipped["html"] == expected["html"] and unzipped["footer"] == expected["footer"]
    assert widgets(unzipped["html"]) == [{"shopreco": "cart", "product-ids": "3", "limit": "4"}]


def header(text: str, pattern: str) -> dict[str, str]:
    return {m[1].strip(): m[2].strip() for m in re.finditer(pattern, text, re.MULTILINE)}


def test_the_plugin_header_readme_and_block_agree() -> None:
    main = (PLUGIN / "shopreco.php").read_text()
    plugin = header(main[:8192], r"^ \* ([A-Za-z ]+):\s+(.+)$")  # WordPress reads 8 KB
    readme_text = (PLUGIN / "readme.txt").read_text()
    head, _, body = readme_text.partition("\n\n")
    readme = header(head, r"^([A-Za-z ]+):\s+(.+)$")
    block = json.loads((PLUGIN / "blocks" / "recommendations" / "block.json").read_text())

    assert plugin["Plugin Name"] == "shopreco recommendations"
    assert plugin["Text Domain"] == "shopreco"
    assert readme_text.startswith(f"=== {plugin['Plugin Name']} ===\n")
    assert readme["Stable tag"] == plugin["Version"] == block["version"]
    assert f"define( 'SHOPRECO_VERSION', '{plugin['Version']}' );" in main
    for field in ("Requires at least", "Requires PHP", "License", "License URI"):
        assert readme[field] == plugin[field], field
    assert len(readme["Tags"].split(",")) <= 5  # the plugin directory reads five
    short = body.split("\n\n")[0]
    assert "\n" not in short and len(short) <= 150
    assert re.findall(r"^== (.+) ==$", readme_text, re.MULTILINE) == [
        "Description", "Installation", "Frequently Asked Questions", "Changelog"]
    assert f"= {plugin['Version']} =" in readme_text
    assert block["textdomain"] == plugin["Text Domain"]


def test_readme_documents_the_connection_code() -> None:
    readme = (PLUGIN / "readme.txt").read_text()
    assert '`{"url": "https://reco.example.com", "widget_key": "wk_..."}`' in readme
    assert "options-general.php?page=shopreco&shopreco_code=CODE" in readme
