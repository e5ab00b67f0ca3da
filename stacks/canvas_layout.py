"""A layered layout for the stack canvas, computed on the server (pure Python, no Django).

Nodes come with their layer (the orchestrator 0, the stack's top agent 1, its specialists
below, people last); the order inside a layer follows the barycentre of each node's parents
(a few sweeps, as in Sugiyama's method), so specialists sit under their supervisor. Edges are
routed by what they join:

- down to the next layer: a cubic curve from the source's bottom to the target's top, each
  target's incoming edges spread over its top edge; the label sits just above the target,
  where labels of neighbouring targets do not meet;
- down over several layers: along the left margin (clear of the nodes in between);
- up or sideways (an escalation back to a supervisor): a curve out of the right side of the
  source into the right side of the target, the label beside it.

Workflows are laid out after the graph, one row each: their steps left to right, each arrow
labelled with the step's condition.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field

CHAR_WIDTH = 7.0  # average width of a 12px sans-serif character
LINE_HEIGHT = 15
NODE_HEIGHT = 66
NODE_MIN_WIDTH = 150
NODE_GAP = 48
LAYER_GAP = 70  # plus the tallest label between two layers
MARGIN = 24
LANE = 190  # the left margin for long edges and their labels
LABEL_WRAP = 30
SIBLING_DIP = 34
STEP_WIDTH = 150
STEP_HEIGHT = 48
STEP_GAP = 200


def wrap(text: str, width: int = LABEL_WRAP) -> list[str]:
    return textwrap.wrap(text, width, break_long_words=True, break_on_hyphens=False) or [""]


def badge_width(text: str) -> float:
    """A badge's pill: its text at 11px bold, with padding."""
    return len(text) * 6.6 + 14


def text_width(lines: list[str], size: float = CHAR_WIDTH) -> float:
    return max((len(line) for line in lines), default=0) * size


@dataclass
class LNode:
    id: str
    layer: int
    lines: list[str]  # the text in the box, first line bold
    extra_height: int = 0  # badges
    min_width: float = 0.0  # what the badges need
    x: float = 0.0
    y: float = 0.0
    width: float = 0.0
    height: float = 0.0

    @property
    def cx(self) -> float:
        return self.x + self.width / 2


@dataclass
class LEdge:
    id: str
    source: str
    target: str
    label: list[str] = field(default_factory=list)
    parent: bool = False  # the edge orders the target under the source (hierarchy)
    path: str = ""
    label_x: float = 0.0
    label_y: float = 0.0  # top of the label block
    label_anchor: str = "middle"


@dataclass
class Layout:
    width: float
    height: float
    graph_height: float


def layout(nodes: list[LNode], edges: list[LEdge]) -> Layout:
    """Place ``nodes`` and route ``edges`` (in place); returns the drawing's size."""
    by_id = {n.id: n for n in nodes}
    for node in nodes:
        node.width = max(NODE_MIN_WIDTH, text_width(node.lines) + 28, node.min_width)
        node.height = NODE_HEIGHT + node.extra_height
    layers: dict[int, list[LNode]] = {}
    for node in nodes:
        layers.setdefault(node.layer, []).append(node)
    order = sorted(layers)
    parents: dict[str, list[str]] = {}
    for edge in edges:
        if edge.parent and edge.source in by_id and edge.target in by_id:
            parents.setdefault(edge.target, []).append(edge.source)

    # order inside layers: barycentre of the parents' positions, a few sweeps down
    for _ in range(3):
        for index in order[1:]:
            _place_row(layers[index])  # provisional x for the barycentres below
            position = (
                {n.id: i for i, n in enumerate(layers[index - 1])} if index - 1 in layers else {}
            )
            keyed = []
            for i, node in enumerate(layers[index]):
                ps = [position[p] for p in parents.get(node.id, []) if p in position]
                keyed.append((sum(ps) / len(ps) if ps else i, i, node))
            layers[index] = [node for _, _, node in sorted(keyed, key=lambda k: (k[0], k[1]))]

    # vertical: each gap as tall as the labels that sit in it
    label_height: dict[int, float] = {}
    below: dict[int, float] = {}  # room under a layer for edges between its own nodes
    for edge in edges:
        source, target = by_id.get(edge.source), by_id.get(edge.target)
        if source and target and target.layer == source.layer + 1:
            lines = len(edge.label)
            label_height[target.layer] = max(label_height.get(target.layer, 0), lines * LINE_HEIGHT)
        elif source and target and target.layer == source.layer:
            room = SIBLING_DIP + len(edge.label) * LINE_HEIGHT
            below[source.layer] = max(below.get(source.layer, 0), room)
    for layer, room in below.items():
        label_height[layer + 1] = label_height.get(layer + 1, 0) + room
    y = MARGIN
    row_widths = []
    for index in order:
        y += label_height.get(index, 0) + (LAYER_GAP if index != order[0] else 0)
        row = layers[index]
        _place_row(row)
        for node in row:
            node.y = y
        y += max(n.height for n in row)
        row_widths.append(row[-1].x + row[-1].width)
    width = max(row_widths, default=0)
    # centre each row on the widest, right of the left lane
    for index in order:
        row = layers[index]
        shift = LANE + MARGIN + (width - (row[-1].x + row[-1].width)) / 2
        for node in row:
            node.x += shift
    graph_height = y + MARGIN
    total_width = LANE + MARGIN + width + MARGIN + LANE / 2

    incoming: dict[str, list[LEdge]] = {}
    for edge in edges:
        incoming.setdefault(edge.target, []).append(edge)
    for target_id, into in incoming.items():
        target = by_id.get(target_id)
        if target is None:
            continue
        downward = [
            e for e in into if by_id.get(e.source) and by_id[e.source].layer == target.layer - 1
        ]
        downward.sort(key=lambda e: by_id[e.source].cx)
        for slot, edge in enumerate(downward):
            _route_down(edge, by_id[edge.source], target, slot, len(downward))
    side = 0
    for edge in edges:
        source, target = by_id.get(edge.source), by_id.get(edge.target)
        if source is None or target is None or edge.path:
            continue
        if target.layer > source.layer + 1:
            _route_long(edge, source, target, side)
            side += 1
        elif target.layer == source.layer:
            _route_sibling(edge, source, target)
        else:
            _route_up(edge, source, target)
    return Layout(width=total_width, height=graph_height, graph_height=graph_height)


def _place_row(row: list[LNode]) -> None:
    x = 0.0
    for node in row:
        node.x = x
        x += node.width + NODE_GAP


def _route_down(edge: LEdge, source: LNode, target: LNode, slot: int, slots: int) -> None:
    x1, y1 = source.cx, source.y + source.height
    x2 = target.x + target.width * (slot + 1) / (slots + 1)
    y2 = target.y
    middle = (y1 + y2) / 2
    edge.path = f"M{x1:.1f},{y1:.1f} C{x1:.1f},{middle:.1f} {x2:.1f},{middle:.1f} {x2:.1f},{y2:.1f}"
    lines = len(edge.label)
    if slots == 1:
        edge.label_x, edge.label_y = x2, y2 - 6 - lines * LINE_HEIGHT
    else:  # several into one target: spread along the curve, by slot
        t = 0.35 + 0.4 * slot / max(slots - 1, 1)
        edge.label_x = _bezier(x1, x1, x2, x2, t)
        edge.label_y = _bezier(y1, middle, middle, y2, t) - lines * LINE_HEIGHT / 2


def _route_long(edge: LEdge, source: LNode, target: LNode, side: int) -> None:
    lane_x = MARGIN + LANE - 20 - 14 * (side % 4)
    x1, y1 = source.x, source.y + source.height / 2
    x2, y2 = target.x, target.y + target.height / 2
    edge.path = (
        f"M{x1:.1f},{y1:.1f} C{lane_x:.1f},{y1:.1f} {lane_x:.1f},{y1:.1f} {lane_x:.1f},"
        f"{y1 + 40:.1f} L{lane_x:.1f},{y2 - 40:.1f} C{lane_x:.1f},{y2:.1f} {lane_x:.1f},"
        f"{y2:.1f} {x2:.1f},{y2:.1f}"
    )
    edge.label_x = lane_x - 8
    edge.label_y = (y1 + y2) / 2 - len(edge.label) * LINE_HEIGHT / 2 + 40 * (side % 3)
    edge.label_anchor = "end"


def _route_sibling(edge: LEdge, source: LNode, target: LNode) -> None:
    """Between two nodes of one layer: a dip under them, the label under the dip."""
    toward = 1 if target.cx > source.cx else -1
    x1 = source.cx + toward * source.width / 4
    x2 = target.cx - toward * target.width / 4
    y1, y2 = source.y + source.height, target.y + target.height
    dip = max(y1, y2) + SIBLING_DIP
    edge.path = f"M{x1:.1f},{y1:.1f} C{x1:.1f},{dip:.1f} {x2:.1f},{dip:.1f} {x2:.1f},{y2:.1f}"
    edge.label_x = (x1 + x2) / 2
    edge.label_y = dip - 8


def _route_up(edge: LEdge, source: LNode, target: LNode) -> None:
    x1, y1 = source.x + source.width, source.y + source.height / 2
    x2, y2 = target.x + target.width, target.y + target.height / 2
    bulge = max(x1, x2) + 60 + 8 * abs(source.layer - target.layer)
    edge.path = f"M{x1:.1f},{y1:.1f} C{bulge:.1f},{y1:.1f} {bulge:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"
    edge.label_x = bulge - 10
    edge.label_y = (y1 + y2) / 2 - len(edge.label) * LINE_HEIGHT / 2
    edge.label_anchor = "start"


def _bezier(a: float, b: float, c: float, d: float, t: float) -> float:
    u = 1 - t
    return u**3 * a + 3 * u * u * t * b + 3 * u * t * t * c + t**3 * d


@dataclass
class LStep:
    id: str
    lines: list[str]
    condition: list[str]  # the label of the arrow into it
    x: float = 0.0
    y: float = 0.0
    width: float = STEP_WIDTH
    height: float = STEP_HEIGHT


@dataclass
class LWorkflow:
    id: str
    title: str
    steps: list[LStep]
    y: float = 0.0  # the title's baseline
    arrows: list[tuple[str, float, float]] = field(default_factory=list)  # path, label x, y
    warnings: list[str] = field(default_factory=list)  # what the lint found, as text


def layout_workflows(workflows: list[LWorkflow], *, top: float, left: float) -> tuple[float, float]:
    """Rows of steps under the graph from ``top``; returns (width, bottom)."""
    y = top
    width = 0.0
    for workflow in workflows:
        y += 28
        workflow.y = y
        label_lines = max((len(s.condition) for s in workflow.steps), default=1)
        row_top = y + 14 + label_lines * LINE_HEIGHT
        x = left
        for index, step in enumerate(workflow.steps):
            step.width = max(STEP_WIDTH, text_width(step.lines) + 24)
            step.x, step.y = x, row_top
            if index:
                previous = workflow.steps[index - 1]
                x1 = previous.x + previous.width
                ym = row_top + STEP_HEIGHT / 2
                workflow.arrows.append(
                    (f"M{x1:.1f},{ym:.1f} L{x - 4:.1f},{ym:.1f}", (x1 + x) / 2, row_top - 4)
                )
            x += step.width + STEP_GAP
        width = max(width, x - STEP_GAP)
        y = row_top + STEP_HEIGHT + 10
    return width + MARGIN, y + MARGIN
