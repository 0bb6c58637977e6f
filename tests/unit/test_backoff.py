"""backoff.next_delay: polling adds little detection latency and few transitions."""

from __future__ import annotations

import pytest
from stackrelay.backoff import next_delay
from stackrelay.config import PollBounds

BOUNDS = PollBounds()


def simulate(
    op_seconds: float, bounds: PollBounds = BOUNDS, expected: float | None = None
) -> tuple[float, int]:
    """Poll from t=0 until the operation is seen done: (added latency, polls)."""
    t = 0.0
    polls = 1  # the first check, right after the operation starts
    while t < op_seconds:
        t += next_delay(t, bounds, expected)
        polls += 1
    return t - op_seconds, polls


@pytest.mark.parametrize("op_seconds", [1, 2.5, 10, 30, 45, 59])
def test_next_delay_operation_under_a_minute_adds_at_most_3_seconds(op_seconds: float) -> None:
    latency, _ = simulate(op_seconds)

    assert latency <= 3


@pytest.mark.parametrize(
    "op_seconds", [60, 61, 90, 5 * 60, 7 * 60 + 13, 15 * 60, 60 * 60, 3 * 3600]
)
def test_next_delay_longer_operation_adds_at_most_ten_percent_and_30s(op_seconds: float) -> None:
    latency, _ = simulate(op_seconds)

    assert latency <= 0.1 * op_seconds
    assert latency <= 30


def test_next_delay_sixty_minute_operation_costs_at_most_540_transitions() -> None:
    _, polls = simulate(60 * 60)

    assert polls * 3 <= 540


@pytest.mark.parametrize("op_seconds", [30, 60, 300, 900, 3600])
def test_next_delay_every_op_length_latency_within_bounds(op_seconds: float) -> None:
    for extra in range(0, 120, 7):
        latency, _ = simulate(op_seconds + extra)
        assert latency <= max(3, min(30, 0.1 * (op_seconds + extra)))


@pytest.mark.parametrize("elapsed", [0, 0.5, 1, 30, 59.9])
def test_next_delay_fast_window_returns_minimum(elapsed: float) -> None:
    assert next_delay(elapsed, BOUNDS) == BOUNDS.minimum


@pytest.mark.parametrize(("elapsed", "expected"), [(60, 6), (100, 10), (250, 25), (299, 29)])
def test_next_delay_after_fast_window_ratio_of_elapsed(elapsed: float, expected: int) -> None:
    assert next_delay(elapsed, BOUNDS) == expected


@pytest.mark.parametrize("elapsed", [300, 1000, 10**6])
def test_next_delay_long_elapsed_capped_at_maximum(elapsed: float) -> None:
    assert next_delay(elapsed, BOUNDS) == BOUNDS.maximum


@pytest.mark.parametrize("elapsed", [-100, -0.1])
def test_next_delay_negative_elapsed_treated_as_zero(elapsed: float) -> None:
    assert next_delay(elapsed, BOUNDS) == BOUNDS.minimum


@pytest.mark.parametrize("elapsed", [0, 5, 60, 500, 10**9])
@pytest.mark.parametrize("expected", [None, 0, 10, 600, 10**6])
def test_next_delay_any_input_is_whole_seconds_between_1_and_max(
    elapsed: float, expected: float | None
) -> None:
    delay = next_delay(elapsed, BOUNDS, expected)

    assert isinstance(delay, int)
    assert 1 <= delay <= BOUNDS.maximum


def test_next_delay_far_from_expected_waits_longer() -> None:
    assert next_delay(10, BOUNDS, expected=600) > next_delay(10, BOUNDS)
    assert next_delay(10, BOUNDS, expected=600) == BOUNDS.maximum


def test_next_delay_near_expected_tightens_to_ratio() -> None:
    # 0.8 * 600 = 480: from there on the usual schedule applies.
    assert next_delay(480, BOUNDS, expected=600) == next_delay(480, BOUNDS)
    assert next_delay(470, BOUNDS, expected=600) == min(BOUNDS.maximum, 47)


def test_next_delay_with_expected_fewer_polls_same_latency_cap() -> None:
    latency_hint, polls_hint = simulate(600, expected=600)
    _, polls_plain = simulate(600)

    assert polls_hint <= polls_plain
    assert latency_hint <= 30


def test_next_delay_minimum_below_one_still_one_second() -> None:
    assert next_delay(0, PollBounds(minimum=0)) == 1
