"""The simulated clock.

Everything that would make a test wait on AWS (Wait states, Retry back-off,
callback timeouts, CloudFormation operations) reads and moves this clock
instead of sleeping. Concurrent executions share one timeline: a wait of N
seconds that starts at simulated time t only moves the clock to
``max(now, t + N)``, so two executions waiting side by side do not add their
waits together.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime


class SimClock:
    """A thread-safe, monotonic, manually advanced clock in epoch seconds."""

    def __init__(self, start: float | None = None) -> None:
        self._lock = threading.Lock()
        self._now = time.time() if start is None else start
        self._changed = threading.Condition(self._lock)

    def now(self) -> float:
        """Simulated epoch seconds."""
        with self._lock:
            return self._now

    def datetime(self) -> datetime:
        """Simulated now as an aware UTC datetime."""
        return datetime.fromtimestamp(self.now(), UTC)

    def advance(self, seconds: float) -> float:
        """Move the clock forward by ``seconds`` (negative values are refused)."""
        if seconds < 0:
            raise ValueError(f"the simulated clock only moves forward, got {seconds}")
        with self._lock:
            self._now += seconds
            self._changed.notify_all()
            return self._now

    def advance_to(self, instant: float) -> float:
        """Move the clock to ``instant`` unless it is already past it."""
        with self._lock:
            if instant > self._now:
                self._now = instant
                self._changed.notify_all()
            return self._now

    def reset(self, start: float | None = None) -> None:
        with self._lock:
            self._now = time.time() if start is None else start

    def wait_changed(self, timeout: float) -> None:
        """Block (real time, at most ``timeout``) until the clock moves."""
        with self._lock:
            self._changed.wait(timeout)


def to_datetime(epoch: float) -> datetime:
    """Naive UTC datetime, the form moto keeps its timestamps in."""
    return datetime.fromtimestamp(epoch, UTC).replace(tzinfo=None)
