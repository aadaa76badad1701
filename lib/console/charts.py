"""Charts drawn on the server as inline SVG: no chart library, nothing loaded by the page.

One kind is enough for the overview: a horizontal bar per product, split by outcome, each part labelled with
its count (so the numbers can be read, and tested, without reading pixels).
"""

from __future__ import annotations

from html import escape

from markupsafe import Markup

COLOURS = {"succeeded": "#2e7d32", "failed": "#c62828", "no outcome": "#9e9e9e"}
WIDTH, BAR, GAP, LABEL = 520, 22, 10, 48


def stacked_bars(title: str, table: dict[str, dict[str, int]]) -> Markup:
    """``table``: {product: {outcome: count}}; one bar per product, the parts in ``COLOURS``' order."""
    biggest = max([sum(parts.values()) for parts in table.values()] + [1])
    scale = (WIDTH - LABEL - 60) / biggest
    height = len(table) * (BAR + GAP) + 30
    out = [f'<svg class="chart" role="img" aria-label="{escape(title)}" width="{WIDTH}" height="{height}" '
           f'viewBox="0 0 {WIDTH} {height}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>']
    for row, (product, parts) in enumerate(table.items()):
        y = row * (BAR + GAP)
        out.append(f'<g class="bar" data-product="{escape(product)}" data-total="{sum(parts.values())}">'
                   f'<text x="0" y="{y + BAR - 6}" class="axis">{escape(product)}</text>')
        x = float(LABEL)
        for name, colour in COLOURS.items():
            amount = parts.get(name, 0)
            if not amount:
                continue
            width = max(amount * scale, 1.0)
            out.append(f'<rect x="{x:.1f}" y="{y}" width="{width:.1f}" height="{BAR}" fill="{colour}" '
                       f'data-outcome="{escape(name)}" data-count="{amount}"><title>{escape(product)} '
                       f'{escape(name)}: {amount}</title></rect>')
            if width >= 18:
                out.append(f'<text x="{x + 4:.1f}" y="{y + BAR - 6}" class="count">{amount}</text>')
            x += width
        out.append(f'<text x="{x + 6:.1f}" y="{y + BAR - 6}" class="axis total">{sum(parts.values())}</text></g>')
    legend_y = len(table) * (BAR + GAP) + 16
    x = LABEL
    for name, colour in COLOURS.items():
        out.append(f'<rect x="{x}" y="{legend_y - 10}" width="10" height="10" fill="{colour}"/>'
                   f'<text x="{x + 14}" y="{legend_y}" class="axis">{escape(name)}</text>')
        x += 110
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 (every value above is escaped or a number)
