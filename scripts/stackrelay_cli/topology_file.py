"""A topology file (YAML or JSON) for the orchestrator's ``Topology`` parameter.

``stackrelay topology check FILE`` validates it with the core's one rule
(``stackrelay.topology``) and prints the compact JSON to pass as the parameter. The
CLI may read YAML; the Lambda code gets JSON only.
"""

from __future__ import annotations

from argparse import Namespace
from pathlib import Path

from stackrelay import topology
from stackrelay.errors import ConfigurationError
from stackrelay.topology import Topology

from stackrelay_cli.errors import EXIT_INVALID, CliError


def load(path: str | Path) -> Topology:
    """The topology in ``path``; every problem is a CliError naming the file."""
    import yaml

    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        message = f"{file}: cannot read the topology file ({exc.strerror})."
        raise CliError(message, EXIT_INVALID) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CliError(f"{file}: not valid YAML or JSON: {exc}", EXIT_INVALID) from None
    try:
        return topology.parse(data)
    except ConfigurationError as exc:
        raise CliError(f"{file}: {exc}", EXIT_INVALID) from None


def check(args: Namespace) -> int:
    """Validate FILE; print the ``Topology`` parameter value (and, with --json, the stages)."""
    from stackrelay_cli import render

    found = load(args.file)
    if args.json:
        render.emit_json({"parameter": found.dumps(), **found.to_dict()})
        return 0
    for stage in found.stages:
        extras = [
            "review stacks per branch" if stage.review else "release",
            *(["approval"] if stage.approval else []),
            *(["protected"] if stage.protected else []),
            *([f"{stage.concurrency} at a time"] if stage.concurrency else []),
            *([f"tolerates {stage.tolerate}"] if stage.tolerate else []),
        ]
        render.errors.print(
            f"{stage.name}: {stage.account} {', '.join(stage.regions)} ({', '.join(extras)})",
            soft_wrap=True,
            highlight=False,
        )
    render.errors.print(
        f"Pass as the orchestrator's Topology parameter, and DeployAccountIds="
        f"{','.join(found.accounts())}:",
        highlight=False,
    )
    print(found.dumps())
    return 0
