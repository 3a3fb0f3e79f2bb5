"""Bar charts as inline SVG (plugin/admin/charts.py): bars to scale, named ticks, a text
alternative, and every name escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from markupsafe import Markup

from plugin.admin.charts import BOTTOM, HEIGHT, WIDTH, bar_chart

SVG = "{http://www.w3.org/2000/svg}"


def parse(chart: str) -> ET.Element:
    return ET.fromstring(str(chart).replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1))


def bars(chart: str) -> list[dict[str, str]]:
    return [{**rect.attrib, "title": rect.findtext(f"{SVG}title") or ""}
            for rect in parse(chart).iter(f"{SVG}rect")]


def test_a_chart_is_markup_with_a_text_alternative() -> None:
    chart = bar_chart("Orders per month", ["2025-01", "2025-02"], [3.0, 5.0])
    assert isinstance(chart, Markup)  # a template inserts it as it is
    root = parse(chart)
    assert root.get("role") == "img" and root.get("aria-label") == "Orders per month"
    assert root.get("viewBox") == f"0 0 {WIDTH} {HEIGHT}"
    assert root.findtext(f"{SVG}title") == "Orders per month: 2025-01: 3, 2025-02: 5"
    assert [b["title"] for b in bars(chart)] == ["2025-01: 3", "2025-02: 5"]


def test_bars_are_to_scale_and_the_highest_fills_the_plot() -> None:
    chart = bar_chart("x", ["a", "b", "c", "d"], [10.0, 5.0, 0.0, 2.5])
    heights = [float(b["height"]) for b in bars(chart)]
    full = HEIGHT - BOTTOM - 8
    assert heights == pytest.approx([full, full / 2, 0.0, full / 4], abs=0.05)
    for bar, height in zip(bars(chart), heights, strict=True):  # standing on the axis
        assert float(bar["y"]) + height == pytest.approx(HEIGHT - BOTTOM, abs=0.1)
    xs = [float(b["x"]) for b in bars(chart)]
    assert xs == sorted(xs) and float(bars(chart)[-1]["x"]) < WIDTH


def test_all_zero_values_draw_flat_bars_not_an_error() -> None:
    chart = bar_chart("x", ["a", "b"], [0.0, 0.0])
    assert [float(b["height"]) for b in bars(chart)] == [0.0, 0.0]


def test_shown_text_replaces_the_numbers() -> None:
    chart = bar_chart("Revenue", ["jan", "feb"], [1234.5, 10.0], ["1,234.50", "10.00"])
    assert [b["title"] for b in bars(chart)] == ["jan: 1,234.50", "feb: 10.00"]
    assert "jan: 1,234.50, feb: 10.00" in parse(chart).findtext(f"{SVG}title")


@pytest.mark.parametrize(("count", "ticked"), [
    (1, ["m0"]), (2, ["m0", "m1"]), (3, ["m0", "m1", "m2"]), (12, ["m0", "m6", "m11"]),
])
def test_the_axis_names_the_first_middle_and_last_bar(count: int, ticked: list[str]) -> None:
    names = [f"m{i}" for i in range(count)]
    ticks = [t for t in parse(bar_chart("x", names, [1.0] * count)).iter(f"{SVG}text")]
    assert [t.text for t in ticks] == ticked
    assert ticks[0].get("text-anchor") == "start"
    if count > 1:
        assert ticks[-1].get("text-anchor") == "end"


def test_an_empty_chart_has_no_bars_and_no_ticks() -> None:
    root = parse(bar_chart("Nothing yet", [], []))
    assert list(root.iter(f"{SVG}rect")) == [] and list(root.iter(f"{SVG}text")) == []
    assert root.findtext(f"{SVG}title") == "Nothing yet: "


def test_names_and_label_are_escaped() -> None:
    evil = '<script>alert("x")</script>'
    chart = bar_chart(f'A "label" {evil}', [evil, "b&c"], [1.0, 2.0])
    assert "<script>" not in chart
    root = parse(chart)  # still well-formed
    assert root.get("aria-label") == f'A "label" {evil}'
    assert [b["title"] for b in bars(chart)] == [f"{evil}: 1", "b&c: 2"]
    assert [t.text for t in root.iter(f"{SVG}text")] == [evil, "b&c"]


def test_names_and_values_must_pair_up() -> None:
    with pytest.raises(ValueError):
        bar_chart("x", ["a", "b"], [1.0])
