"""The chart's many small marks (a point per change, a bar per hour) as markup, in Python.

A long rollout has hundreds of points and bars with eight attributes each; escaping
every number through the template cost more than the page's reads
(bench/dashboard_render.py). Numbers formatted here cannot carry markup, so only
the text fields go through `escape`.
"""

from __future__ import annotations

from markupsafe import Markup, escape

from webhook.dashboard.chart import Bar, Line, Marker


def point(line: Line, mark: Marker) -> Markup:
    hollow = bool(mark.targets)
    env = escape(line.environment)
    color = escape(line.color)
    return Markup(
        f'<circle class="point" cx="{mark.x}" cy="{mark.y}" r="{5 if hollow else 3}" '
        f'fill="{"#fff" if hollow else color}" stroke="{color}" stroke-width="2" '
        f'data-env="{env}" data-at="{escape(mark.at)}" data-percent="{mark.percent}" '
        f'data-targets="{mark.targets}"><title>{escape(mark.title)}</title></circle>'
    )


def bar(mark: Bar) -> Markup:
    return Markup(
        f'<rect class="bar" x="{mark.x}" y="{mark.y}" width="{mark.width}" '
        f'height="{mark.height}" fill="#8c6bb1" data-hour="{escape(mark.hour)}" '
        f'data-events="{mark.events}"><title>{escape(mark.title)}</title></rect>'
    )
