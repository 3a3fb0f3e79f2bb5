"""Product artwork and handles (plugin.demo.artwork): Shopify-style slugs, and a small, well-formed
SVG tile per product in its category's colours naming it in at most two short lines."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from plugin.demo.artwork import SVG_MAX_BYTES, render_product_svg, slugify
from plugin.demo.catalog import COFFEE, TEA, catalog_entries

SVG_NS = "{http://www.w3.org/2000/svg}"


def lines_of(svg: str) -> list[str]:
    return [element.text or "" for element in ET.fromstring(svg).iter(f"{SVG_NS}text")]


def test_svg_escapes_ampersand_and_angle_brackets_in_titles() -> None:
    svg = render_product_svg('Salt & <Pepper> "Mill"', "Kitchen")
    root = ET.fromstring(svg)
    text = " ".join(element.text or "" for element in root.iter(f"{SVG_NS}text"))
    assert "Salt & <Pepper>" in text
    assert root.get("aria-label") == 'Salt & <Pepper> "Mill"'


@pytest.mark.parametrize(("title", "handle"), [
    ("Salt & Pepper Mill Set (Beech)", "salt-pepper-mill-set-beech"),
    ("Damascus Chef's Knife 20 cm", "damascus-chef-s-knife-20-cm"),
    ("Café Crème — Édition 1/2", "cafe-creme-edition-1-2"),
    ("  Whetstone 1000/6000  ", "whetstone-1000-6000"),
    ("客 — !!", ""),
])
def test_a_handle_is_lowercase_ascii_words_joined_by_dashes(title: str, handle: str) -> None:
    assert slugify(title) == handle


def test_every_catalog_title_is_a_small_well_formed_tile_of_two_short_lines_at_most() -> None:
    for spec, title in catalog_entries():
        svg = render_product_svg(title, spec.category)
        assert len(svg.encode()) <= SVG_MAX_BYTES, title
        root = ET.fromstring(svg)
        assert (root.get("width"), root.get("height"), root.get("aria-label")) == (
            "400", "400", title)
        lines = lines_of(svg)
        assert 1 <= len(lines) <= 2 and all(0 < len(line) <= 20 for line in lines), (title, lines)


def test_the_name_keeps_its_noun_and_puts_a_variant_or_size_on_line_two() -> None:
    assert lines_of(render_product_svg("Linen Bath Towel (Natural)", "Bath")) == [
        "Linen Bath Towel", "Natural"]
    assert lines_of(render_product_svg("Salt & Pepper Mill Set (Beech)", "Kitchen")) == [
        "Pepper Mill Set", "Beech"]  # the longest tail that fits, not starting at "&"
    assert lines_of(render_product_svg("Titanium Camping Mug 450 ml", "Outdoor")) == [
        "Titanium Camping Mug", "450 ml"]
    assert lines_of(render_product_svg("Brass Bookmark", "Stationery")) == ["Brass Bookmark"]
    for _spec, title in catalog_entries():  # the noun ends the name, before a size or variant
        name = re.sub(r"\s*\(.*?\)", "", title)
        name = re.sub(r"\s+\d[\d.,/]*\s*(g|kg|ml|l|cm|lm|pcs)\b", "", name)
        assert name.split()[-1] in " ".join(lines_of(render_product_svg(title, COFFEE))), title


def test_each_category_has_its_own_colours_and_an_unknown_one_a_neutral_tile() -> None:
    backgrounds = {}
    for category in {spec.category for spec, _title in catalog_entries()}:
        root = ET.fromstring(render_product_svg("A Mug", category))
        backgrounds[category] = root.find(f"{SVG_NS}rect").get("fill")  # type: ignore[union-attr]
    assert len(set(backgrounds.values())) == len(backgrounds) == 7
    assert backgrounds[COFFEE] == "#6F4E37" and backgrounds[TEA] == "#5B7F4A"
    unknown = ET.fromstring(render_product_svg("A Mug", "Garage"))
    assert unknown.find(f"{SVG_NS}rect").get("fill") == "#555555"  # type: ignore[union-attr]
    assert 'stroke="#F5E6D3"' in render_product_svg("A Mug", COFFEE)  # the shape's {fg} filled in


def test_a_very_long_title_is_cut_to_fit() -> None:
    title = "Extraordinarily " * 20 + "Mug"
    svg = render_product_svg(title, TEA)
    assert len(svg.encode()) <= SVG_MAX_BYTES
    assert ET.fromstring(svg).get("aria-label") == title[:80]
    assert lines_of(svg) == ["Extraordinarily", "Extraordinarily Mug"]  # the front goes first
