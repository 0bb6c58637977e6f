"""stackrelay.delivery: the four delivery metrics, as recorded and over a period."""

from __future__ import annotations

from typing import Any

import pytest
from stackrelay import delivery
from stackrelay.errors import InvalidInput

T0 = 1_800_000_000.0
HOUR = 3600.0


def rec(
    outcome: str, at: float, *, stage: str = "prod", error: str | None = None, **more: Any
) -> dict[str, Any]:
    base = {"app": "news", "stage": stage, "outcome": outcome, "finished_at": at, "error": error}
    return base | more


def test_lead_time_runs_from_the_commit_timestamp_to_deployed() -> None:
    record = rec("deployed", T0, commit_timestamp="2027-01-15T08:00:00+00:00")
    committed = delivery.commit_time(record)
    assert committed is not None
    assert delivery.lead_time(record) == pytest.approx(T0 - committed)
    assert delivery.lead_time(rec("deployed", T0)) is None  # no commit time: not measured
    assert delivery.lead_time(rec("failed", T0, commit_timestamp="2027-01-15T08:00:00")) is None
    assert delivery.commit_time({"commit_timestamp": "not a time"}) is None


@pytest.mark.parametrize(
    ("outcome", "error", "counts"),
    [
        ("failed", "StackRollback", True),
        ("failed", "ChangeSetFailed", True),
        ("failed", "States.Timeout", True),
        ("failed", "DeploymentRejected", False),
        ("failed", "ApprovalExpired", False),
        ("failed", "ChangeSetStale", False),
        ("failed", "StackBusy", False),
        ("deployed", None, False),
        ("no_changes", None, False),
    ],
)
def test_what_counts_as_a_change_failure(outcome: str, error: str | None, counts: bool) -> None:
    assert delivery.is_change_failure(rec(outcome, T0, error=error)) is counts


def test_point_metrics_follow_a_failure_and_its_restore() -> None:
    failure = rec("failed", T0, error="StackRollback")
    assert delivery.point_metrics(failure, None) == [("ChangeFailures", 1, "Count")]
    latest = {"failing_since": delivery.failing_since(None, failure)}
    assert latest["failing_since"] == T0
    # a second failure keeps the first one's start; a rejection changes nothing
    again = rec("failed", T0 + HOUR, error="StackRollback")
    assert delivery.failing_since(latest, again) == T0
    rejected = rec("failed", T0 + HOUR, error="DeploymentRejected")
    assert delivery.failing_since(latest, rejected) == T0
    fixed = rec("deployed", T0 + 2 * HOUR, commit_timestamp="2027-01-15T08:00:00Z")
    found = dict((n, v) for n, v, _ in delivery.point_metrics(fixed, latest))
    assert found["Deployments"] == 1
    assert found["TimeToRestoreSeconds"] == 2 * HOUR
    assert "LeadTimeSeconds" in found
    assert delivery.failing_since(latest, fixed) is None


def test_summarize_per_app_and_stage() -> None:
    ts = "2027-01-15T07:00:00+00:00"
    start = delivery.commit_time({"commit_timestamp": ts})
    assert start is not None
    records = [
        rec("deployed", start + HOUR, stage="staging", commit_timestamp=ts),
        rec("deployed", start + 2 * HOUR, commit_timestamp=ts),
        rec("failed", start + 3 * HOUR, error="StackRollback"),
        rec("failed", start + 4 * HOUR, error="DeploymentRejected"),
        rec("deployed", start + 5 * HOUR, commit_timestamp=ts),
        rec("no_changes", start + 6 * HOUR),
        rec("deployed", start - 40 * 86400),  # before the period
    ]
    rows = delivery.summarize(records, since=start, now=start + 86400)
    by_stage = {r["stage"]: r for r in rows}
    prod = by_stage["prod"]
    assert prod["deployments"] == 2
    assert prod["deployments_per_day"] == 2.0
    assert prod["change_failures"] == 1
    assert prod["change_failure_rate"] == pytest.approx(1 / 3, abs=1e-4)
    assert prod["lead_time_median_seconds"] == pytest.approx(3.5 * HOUR)
    assert prod["time_to_restore_median_seconds"] == pytest.approx(2 * HOUR)
    assert prod["failing_since"] is None
    assert by_stage["staging"]["change_failure_rate"] == 0.0
    assert by_stage["staging"]["lead_time_mean_seconds"] == pytest.approx(HOUR)


def test_summarize_counts_a_record_stamped_a_hair_after_now() -> None:
    # records keep milliseconds, rounded: a record may read 0.0005 s after "now"
    rows = delivery.summarize([rec("failed", T0 + 0.0005, error="StackRollback")], T0 - 1, T0)
    assert rows[0]["change_failures"] == 1


def test_summarize_shows_a_stage_still_failing() -> None:
    rows = delivery.summarize([rec("failed", T0, error="StackRollback")], T0 - 10, T0 + 10)
    assert rows[0]["failing_since"] == T0
    assert rows[0]["restores"] == 0
    assert rows[0]["change_failure_rate"] == 1.0
    assert delivery.summarize([], T0, T0 + 1) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30d", T0 - 30 * 86400), ("12h", T0 - 12 * HOUR), ("2w", T0 - 14 * 86400)],
)
def test_parse_since_periods(text: str, expected: float) -> None:
    assert delivery.parse_since(text, T0) == expected


def test_parse_since_dates_and_errors() -> None:
    assert delivery.parse_since("2027-01-01", T0) == delivery.commit_time(
        {"commit_timestamp": "2027-01-01T00:00:00+00:00"}
    )
    for bad in ("yesterday", "30x", "", "2099-01-01"):
        with pytest.raises(InvalidInput, match="--since"):
            delivery.parse_since(bad, T0)


def test_human_duration() -> None:
    assert delivery.human_duration(None) == "-"
    assert delivery.human_duration(65) == "1m 5s"
    assert delivery.human_duration(2 * HOUR + 300) == "2h 5m"
    assert delivery.human_duration(3 * 86400 + 4 * HOUR) == "3d 4h"
