"""Charts as inline SVG, drawn by the server: no script, no request outside the plugin, and
readable without JavaScript (each bar has a <title>, the chart a text alternative and the
numbers are in a table beside it). A chart library (Chart.js, ECharts) would be a JavaScript
bundle to ship and keep current for a handful of bar charts."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

WIDTH, HEIGHT, BOTTOM = 640, 180, 22


def bar_chart(label: str, names: Sequence[str], values: Sequence[float],
              shown: Sequence[str] | None = None) -> Markup:
    """Bars of `values` named by `names` (x axis: first, middle and last name); `shown` is
    each value as text (default: the number)."""
    shown = shown or [f"{v:g}" for v in values]
    top = max([*values, 0.0]) or 1.0
    step = WIDTH / max(1, len(values))
    bars = []
    for i, (name, value, text) in enumerate(zip(names, values, shown, strict=True)):
        height = (HEIGHT - BOTTOM - 8) * value / top
        x, y = i * step + step * 0.15, HEIGHT - BOTTOM - height
        bars.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{step * 0.7:.1f}" '
                    f'height="{height:.1f}" class="bar"><title>{escape(name)}: '
                    f"{escape(text)}</title></rect>")
    ticks = []
    for i in sorted({0, len(names) // 2, len(names) - 1} if names else set()):
        anchor = "start" if i == 0 else "end" if i == len(names) - 1 else "middle"
        x = i * step + (0 if anchor == "start" else step if anchor == "end" else step / 2)
        ticks.append(f'<text x="{x:.1f}" y="{HEIGHT - 6}" text-anchor="{anchor}" '
                     f'class="tick">{escape(names[i])}</text>')
    summary = ", ".join(f"{n}: {t}" for n, t in zip(names, shown, strict=True))
    return Markup(
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" class="chart" '
        f'aria-label="{escape(label)}"><title>{escape(label)}: {escape(summary)}</title>'
        f'<line x1="0" x2="{WIDTH}" y1="{HEIGHT - BOTTOM}" y2="{HEIGHT - BOTTOM}" '
        f'class="axis"/>{"".join(bars)}{"".join(ticks)}</svg>')
