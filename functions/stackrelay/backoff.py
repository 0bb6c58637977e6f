"""How long to wait before looking at a stack again.

Short at first (most updates finish in seconds), then a fixed share of the
time already spent (so the added detection latency stays a bounded share of
the operation), capped. If the same stack's previous operation took E
seconds, the schedule waits longer while the operation is far from E and
tightens again as it nears E.
"""

from __future__ import annotations

import math

from stackrelay.config import PollBounds


def next_delay(elapsed: float, bounds: PollBounds, expected: float | None = None) -> int:
    """Seconds to wait, a whole number (a Wait state's SecondsPath needs one)."""
    elapsed = max(elapsed, 0.0)
    if elapsed < bounds.fast_window:
        delay = float(bounds.minimum)
    else:
        delay = max(float(bounds.minimum), bounds.ratio * elapsed)
    if expected and elapsed < 0.8 * expected:
        # Far from the usual finish: half the remaining distance, at most the cap.
        delay = max(delay, (0.8 * expected - elapsed) / 2)
    return max(1, min(bounds.maximum, math.floor(delay)))
