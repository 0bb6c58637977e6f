"""How the CLI shows things: rich tables for people, JSON for machines."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table

from stackrelay_cli.progress import Progress


def _console(stderr: bool = False) -> Console:
    """Rich output; in a CI log (no terminal) wide enough that URLs and tables do not wrap."""
    console = Console(stderr=stderr, highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = 200
    return console


console = _console()
errors = _console(stderr=True)

_STATE_STYLE = {"queued": "dim", "running": "cyan", "succeeded": "green", "failed": "red"}


# Where --json output goes; ``None`` is sys.stdout. ``stackrelay local`` points it at
# the real stdout while in-process Lambda logs are sent to stderr.
json_out: TextIO | None = None


def emit_json(data: Any) -> None:
    out = json_out or sys.stdout
    out.write(json.dumps(data, indent=2, default=str) + "\n")
    out.flush()


def progress_json(progress: Progress) -> dict[str, Any]:
    return {
        "status": progress.status,
        "app": progress.app,
        "kind": progress.kind,
        "error": progress.error,
        "cause": progress.cause,
        "stages": [asdict(s) for s in progress.stages],
    }


def stage_table(progress: Progress, title: str | None = None) -> Table:
    table = Table(title=title, title_justify="left", expand=False)
    for column in ("stage", "account", "stack", "step", "change"):
        table.add_column(column)
    for s in progress.stages:
        style = _STATE_STYLE.get(s.state, "")
        step = s.step
        if s.state == "failed" and s.reason:
            step = f"{s.error}: {s.reason}"
        elif s.state == "succeeded" and s.url:
            step = f"{s.outcome}  {s.url}"
        name = s.target or s.stage
        table.add_row(name, s.account, s.stack, f"[{style}]{step}[/]", s.headline or "")
    return table


def key_values(rows: dict[str, Any]) -> Table:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows.items():
        table.add_row(key, "" if value is None else str(value))
    return table


def records_table(
    rows: list[dict[str, Any]], columns: list[str], title: str | None = None
) -> Table:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    return table
