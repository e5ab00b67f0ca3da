"""The machine-readable last line of every bench (notes/COMMON.md):

    RESULT {"bench": "<name>", "figures": [{"name", "value", "unit", "aim", "met"}], "command"}

``bench/run_all`` collects these lines and writes BENCHMARKS.md from them.
"""

from __future__ import annotations

import json
import math
import shlex
import sys
from typing import Any


def figure(
    name: str, value: float, unit: str, aim: str = "", met: bool | None = None
) -> dict[str, Any]:
    """One figure; ``met`` is None when the figure has no aim."""
    if isinstance(value, float) and not math.isfinite(value):
        value = None  # JSON has no NaN; the report shows it as "-"
    elif isinstance(value, float):
        value = round(value, 3)
    return {"name": name, "value": value, "unit": unit, "aim": aim, "met": met}


def command_line(script: str, argv: list[str] | None = None, env: list[str] = ()) -> str:
    """How this run was started: the environment variables that shaped it, the script and its
    arguments."""
    args = sys.argv[1:] if argv is None else argv
    return " ".join([*env, ".venv/bin/python", script, *map(shlex.quote, args)])


def emit(bench: str, figures: list[dict[str, Any]], command: str) -> None:
    """Print the RESULT line; call it last, after the human-readable report."""
    sys.stdout.flush()
    print(
        "RESULT " + json.dumps({"bench": bench, "figures": figures, "command": command}),
        flush=True,
    )
