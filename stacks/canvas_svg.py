"""The stack canvas as SVG, drawn from the server-side layout (``stacks.canvas``).

One document serves the page (inline, nodes focusable) and the export (the same text, served
as ``image/svg+xml``); its look is in its own ``<style>`` element so an exported file looks the
same. Every text is escaped.
"""

from __future__ import annotations

import math

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from .canvas import Canvas, CanvasEdge, CanvasNode
from .canvas_layout import CHAR_WIDTH, LINE_HEIGHT, badge_width, text_width

STYLE = """
text { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; font-size: 12px;
  fill: #1d2b36; }
.node rect.box { stroke-width: 1.5; }
.node .title { font-weight: 600; font-size: 13px; }
.node .sub { fill: #44545f; }
.node .traffic { fill: #5b6b77; font-size: 11px; }
.node-orchestrator rect.box { fill: #264b5d; stroke: #142c38; }
.node-orchestrator text, .node-orchestrator .sub, .node-orchestrator .traffic { fill: #ffffff; }
.node-supervisor rect.box { fill: #e3eef7; stroke: #417690; }
.node-specialist rect.box { fill: #ffffff; stroke: #79aec8; }
.node-people rect.box { fill: #fff3e0; stroke: #c77700; }
.node:focus rect.box, .node:hover rect.box { stroke: #ff9f1c; stroke-width: 3; }
.node:focus { outline: none; }
.node { cursor: pointer; }
.edge path { fill: none; stroke-width: 1.6; }
.edge-entry path { stroke: #264b5d; }
.edge-handoff path { stroke: #417690; }
.edge-specialist path { stroke: #8aa4b4; stroke-dasharray: 5 4; }
.edge-escalation path { stroke: #b03a2e; }
.edge-fallback path { stroke: #c77700; stroke-dasharray: 6 3; }
.edge-risk path { stroke: #b03a2e; stroke-dasharray: 2 4; }
.label rect { fill: #ffffff; fill-opacity: 0.92; stroke: none; }
.label .traffic { fill: #0b6e4f; font-weight: 600; }
.edge-escalation .label text, .edge-risk .label text { fill: #8e2b22; }
.badge rect { rx: 8; }
.badge text { font-size: 11px; font-weight: 600; }
.badge-approval rect { fill: #e6f4ea; stroke: #2e7d32; }
.badge-approval text { fill: #1b5e20; }
.badge-warning rect { fill: #fff4cc; stroke: #b08900; }
.badge-warning text { fill: #6b5200; }
.workflow-title { font-weight: 600; font-size: 13px; }
.step rect { fill: #f6f8fa; stroke: #8aa4b4; }
.step-arrow { stroke: #5b6b77; fill: none; stroke-width: 1.4; }
.step .title { font-weight: 600; }
.step-condition { fill: #264b5d; font-family: ui-monospace, Menlo, Consolas, monospace;
  font-size: 11px; }
.legend text { font-size: 11px; fill: #44545f; }
"""

MARKERS = {
    "entry": "#264b5d",
    "handoff": "#417690",
    "specialist": "#8aa4b4",
    "escalation": "#b03a2e",
    "fallback": "#c77700",
    "risk": "#b03a2e",
    "step": "#5b6b77",
}


def _e(value: object) -> str:
    return escape(str(value))


def _text_lines(lines: list[str], x: float, y: float, anchor: str, css: list[str]) -> str:
    out = []
    for index, line in enumerate(lines):
        cls = f' class="{css[index]}"' if index < len(css) and css[index] else ""
        out.append(
            f'<text x="{x:.1f}" y="{y + index * LINE_HEIGHT + 11:.1f}" '
            f'text-anchor="{anchor}"{cls}>{_e(line)}</text>'
        )
    return "".join(out)


def _badge(kind: str, text: str, x: float, y: float, tooltip: str) -> tuple[str, float]:
    width = badge_width(text)
    return (
        f'<g class="badge badge-{kind}" data-badge="{kind}"><title>{_e(tooltip)}</title>'
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="16" rx="8"></rect>'
        f'<text x="{x + width / 2:.1f}" y="{y + 12:.1f}" text-anchor="middle">{_e(text)}</text>'
        "</g>"
    ), width


def _node(node: CanvasNode, interactive: bool) -> str:
    box = node.box
    described = f"{node.title} ({node.kind})"
    if node.subtitle:
        described += f": {node.subtitle}"
    action = "opens the orchestrator settings" if node.kind == "orchestrator" else "opens its rules"
    attrs = (
        f' tabindex="0" role="button" aria-haspopup="dialog" aria-controls="{node.panel}" '
        f'data-panel="{node.panel}" aria-label="{_e(described)}; {action}"'
        if interactive and node.kind != "people"
        else ""
    )
    parts = [
        f'<g class="node node-{node.kind}" id="node-{_e(node.id)}" '
        f'data-node="{_e(node.id)}"{attrs}>',
        f"<title>{_e(described)} — {_e(node.traffic.summary())} in the last 7 days</title>",
        f'<rect class="box" x="{box.x:.1f}" y="{box.y:.1f}" width="{box.width:.1f}" '
        f'height="{box.height:.1f}" rx="8"></rect>',
        _text_lines(
            [node.title, node.subtitle, node.traffic.summary()],
            box.cx,
            box.y + 8,
            "middle",
            ["title", "sub", "traffic"],
        ),
    ]
    x = box.x + 8
    for kind, text, tooltip in node.badges():
        svg, width = _badge(kind, text, x, box.y + box.height - 22, tooltip)
        parts.append(svg)
        x += width + 6
    parts.append("</g>")
    return "".join(parts)


def _edge(edge: CanvasEdge) -> str:
    box = edge.box
    weight = 1.6 + min(3.0, math.log1p(edge.traffic.total))
    lines = box.label
    last = len(lines) - 1
    css = ["traffic" if edge.traffic.total and i == last else "" for i in range(len(lines))]
    width = text_width(lines, CHAR_WIDTH) + 10
    height = len(lines) * LINE_HEIGHT + 4
    if box.label_anchor == "middle":
        left = box.label_x - width / 2
    elif box.label_anchor == "end":
        left = box.label_x - width + 5
    else:
        left = box.label_x - 5
    parts = [
        f'<g class="edge edge-{edge.kind}" id="edge-{edge.id}" data-kind="{edge.kind}" '
        f'data-source="{_e(edge.source)}" data-target="{_e(edge.target)}" '
        f'data-routed="{edge.traffic.routed}" data-escalated="{edge.traffic.escalated}">',
        f"<title>{_e(edge.title)} — {_e(edge.traffic.summary())} in the last 7 days</title>",
        f'<path d="{box.path}" stroke-width="{weight:.1f}" '
        f'marker-end="url(#arrow-{edge.kind})"></path>',
    ]
    if lines:
        parts.append(
            f'<g class="label"><rect x="{left:.1f}" y="{box.label_y - 2:.1f}" '
            f'width="{width:.1f}" height="{height:.1f}" rx="3"></rect>'
            + _text_lines(lines, box.label_x, box.label_y, box.label_anchor, css)
            + "</g>"
        )
    if edge.warnings:
        svg, _ = _badge(
            "warning",
            f"⚠ {len(edge.warnings)}",
            left + width - 8,
            box.label_y - 14,
            "\n".join(f"{w.path}: {w.message}" for w in edge.warnings),
        )
        parts.append(svg)
    parts.append("</g>")
    return "".join(parts)


def render_svg(canvas: Canvas, *, interactive: bool = True) -> SafeString:
    """The canvas as an ``<svg>`` document (``interactive``: nodes focusable, for the page)."""
    width, height = math.ceil(canvas.width), math.ceil(canvas.height)
    defs = "".join(
        f'<marker id="arrow-{kind}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        f'fill="{color}"></path></marker>'
        for kind, color in MARKERS.items()
    )
    title = f"Stack {canvas.root.name} ({canvas.root.slug})"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="stack-canvas" class="stack-canvas" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="group" '
        f'aria-label="{_e(title)}">',
        f"<title>{_e(title)}</title>",
        f"<style>{STYLE}</style>",
        f"<defs>{defs}</defs>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"></rect>',
        '<g class="edges">',
        *(_edge(e) for e in canvas.edges),
        "</g>",
        '<g class="nodes">',
        *(_node(n, interactive) for n in canvas.nodes),
        "</g>",
    ]
    for flow in canvas.workflows:
        parts.append(
            f'<g class="workflow" id="{flow.id}"><text class="workflow-title" x="24" '
            f'y="{flow.y:.1f}">{_e(flow.title)}</text>'
        )
        if flow.warnings:
            svg, _ = _badge(
                "warning",
                f"⚠ {len(flow.warnings)}",
                24 + len(flow.title) * 7.6 + 10,
                flow.y - 12,
                "\n".join(flow.warnings),
            )
            parts.append(svg)
        for path, _, _ in flow.arrows:
            parts.append(
                f'<path class="step-arrow" d="{path}" marker-end="url(#arrow-step)"></path>'
            )
        for index, step in enumerate(flow.steps):
            if index:
                _, lx, ly = flow.arrows[index - 1]
                top = ly - len(step.condition) * LINE_HEIGHT
                parts.append(
                    _text_lines(step.condition, lx, top, "middle", ["step-condition"] * 10)
                )
            parts.append(
                f'<g class="step" id="{step.id}"><rect x="{step.x:.1f}" y="{step.y:.1f}" '
                f'width="{step.width:.1f}" height="{step.height:.1f}" rx="6"></rect>'
                + _text_lines(step.lines, step.x + step.width / 2, step.y + 8, "middle", ["title"])
                + "</g>"
            )
        parts.append("</g>")
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped
