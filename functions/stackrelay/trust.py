"""Trust levels: what a stage may do, decided by its trust, never by its name.

A stage of the topology is either ``review`` (per-branch review stacks, deployed for
feature refs, deletable by teardown and the reaper) or ``release`` (deployed only from
the protected default branch, in order, termination protected by default). Handlers
and the CLI ask :func:`is_review`; no product code compares a stage's name. The
levels themselves are the topology's (:mod:`stackrelay.topology`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stackrelay.topology import RELEASE, REVIEW, TRUST_LEVELS

__all__ = ["RELEASE", "REVIEW", "TRUST_LEVELS", "is_review", "of"]


def of(stage: Any) -> str:
    """The trust level of ``stage`` (a plan stage, its JSON, a record or an event detail)."""
    value = stage.get("trust") if isinstance(stage, Mapping) else getattr(stage, "trust", None)
    if value not in TRUST_LEVELS:
        raise ValueError(f"a stage's trust is one of {', '.join(TRUST_LEVELS)}, not {value!r}")
    return str(value)


def is_review(stage: Any) -> bool:
    """True for a stage (or its record) of per-branch review stacks."""
    return of(stage) == REVIEW
