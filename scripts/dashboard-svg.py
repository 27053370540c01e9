#!/usr/bin/env python3
"""Draws the layout of the CloudWatch dashboard in template.yaml as an SVG (docs/dashboard.svg).

Reads the Dashboard resource's body, so the picture has exactly the template's widgets, places
and series. scripts/check-sam.sh fails when the committed picture differs from a fresh one.
Usage: dashboard-svg.py TEMPLATE > docs/dashboard.svg  (with the Python that has cfn-lint)
"""

import json
import re
import sys
from html import escape

from cfnlint.decode import decode

COL = 40  # px per dashboard column (24 columns)
ROW = 28  # px per dashboard row
PAD = 6


def dashboard_body(path):
    template, errors = decode(path)
    if errors:
        sys.exit("\n".join(str(e) for e in errors))
    body = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    names = {"MetricsNamespace": "<namespace>", "WidgetAuthFunction": "<function>", "AWS::Region": "<region>"}
    body = re.sub(r"\$\{([^}]+)\}", lambda m: names[m.group(1)], body)
    return json.loads(body)


def series(metric):
    options = metric[-1] if isinstance(metric[-1], dict) else {}
    if "expression" in options:
        return "one line per error code and route (SEARCH)"
    name = metric[1]
    label = options.get("label", name)
    return f"{label}: {name}, {options.get('stat', '')}"


def main():
    body = dashboard_body(sys.argv[1])
    widgets = body["widgets"]
    width = 24 * COL
    height = max(w["y"] + w["height"] for w in widgets) * ROW
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width + 2 * PAD}" height="{height + 40}" '
        f'viewBox="0 0 {width + 2 * PAD} {height + 40}" font-family="Helvetica, Arial, sans-serif">',
        f'<rect width="100%" height="100%" fill="#f4f5f7"/>',
        f'<text x="{PAD}" y="22" font-size="15" font-weight="bold" fill="#16191f">'
        "rai-widget-auth dashboard (template.yaml, resource Dashboard)</text>",
    ]
    for w in widgets:
        x, y = PAD + w["x"] * COL, 34 + w["y"] * ROW
        wd, ht = w["width"] * COL - PAD, w["height"] * ROW - PAD
        p = w["properties"]
        out.append(f'<rect x="{x}" y="{y}" width="{wd}" height="{ht}" rx="4" fill="#ffffff" stroke="#aab7b8"/>')
        out.append(
            f'<text x="{x + 10}" y="{y + 20}" font-size="13" font-weight="bold" fill="#16191f">'
            f"{escape(p['title'])}</text>"
        )
        kind = "stacked" if p.get("stacked") else "lines"
        namespaces = {m[0] for m in p["metrics"] if isinstance(m[0], str)}
        source = "AWS/Lambda metrics" if namespaces == {"AWS/Lambda"} else "the function's metrics"
        axis = p.get("yAxis", {}).get("left", {}).get("label", "")
        out.append(
            f'<text x="{x + 10}" y="{y + 36}" font-size="10" fill="#545b64">'
            f"{escape(source)}; {escape(kind)}, {escape(axis)}, period {p['period']} s</text>"
        )
        for i, metric in enumerate(p["metrics"]):
            out.append(
                f'<text x="{x + 14}" y="{y + 56 + i * 14}" font-size="10.5" fill="#0972d3">'
                f"&#8226; {escape(series(metric))}</text>"
            )
    out.append("</svg>")
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
