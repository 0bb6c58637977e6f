"""The one clock product code reads.

On AWS it is the wall clock. The local engine replaces the source with its
simulated clock, so timings, expiries and lock leases follow simulated time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

_source: Callable[[], float] = time.time


def now() -> float:
    """Seconds since the epoch."""
    return _source()


def utcnow() -> datetime:
    return datetime.fromtimestamp(_source(), tz=UTC)


def iso(ts: float | None = None) -> str:
    """An ISO-8601 UTC timestamp with second precision (``2026-11-28T15:18:18Z``)."""
    moment = datetime.fromtimestamp(now() if ts is None else ts, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def set_source(source: Callable[[], float] | None) -> None:
    """Use ``source`` as the clock (``None`` restores the wall clock)."""
    global _source
    _source = source or time.time
