"""clock: one replaceable time source for expiries, leases and timings."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from stackrelay import clock


@pytest.fixture
def restore_clock() -> Iterator[None]:
    yield
    clock.set_source(None)


def test_set_source_replaces_now(restore_clock: None) -> None:
    clock.set_source(lambda: 1234.5)

    assert clock.now() == 1234.5
    assert clock.utcnow() == datetime.fromtimestamp(1234.5, tz=UTC)


def test_set_source_none_restores_wall_clock(restore_clock: None) -> None:
    clock.set_source(lambda: 0.0)
    clock.set_source(None)

    assert clock.now() > 1_600_000_000


@pytest.mark.parametrize(
    ("ts", "expected"),
    [(0, "1970-01-01T00:00:00Z"), (1_800_000_000.9, "2027-01-15T08:00:00Z")],
)
def test_iso_timestamp_second_precision_utc(ts: float, expected: str) -> None:
    assert clock.iso(ts) == expected


def test_iso_no_argument_uses_source(restore_clock: None) -> None:
    clock.set_source(lambda: 86_400.0)

    assert clock.iso() == "1970-01-02T00:00:00Z"
