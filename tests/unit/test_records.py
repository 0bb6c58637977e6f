"""records: deployment history and the LATEST item per stack, in DynamoDB (moto)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from stackrelay import records
from stackrelay.records import clean, plain


def record(**overrides: Any) -> dict[str, Any]:
    base = {
        "app": "aws-news",
        "stage": "staging",
        "account": "222222222222",
        "stack": "sr-aws-news-staging",
        "ref": "main",
        "commit": "abc1234",
        "pipeline_id": "4711",
        "outcome": "deployed",
        "url": None,
        "duration_seconds": 42.1234,
        "error": None,
    }
    return {**base, **overrides}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1.23456, Decimal("1.235")),
        ({"a": None, "b": 1.5, "c": [2.0, "x"]}, {"b": Decimal("1.5"), "c": [Decimal("2.0"), "x"]}),
        ("text", "text"),
        (7, 7),
        (True, True),
    ],
)
def test_clean_value_gives_dynamodb_safe_value(value: Any, expected: Any) -> None:
    assert clean(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("3"), 3),
        (Decimal("3.25"), 3.25),
        ({"a": [Decimal("1"), {"b": Decimal("0.5")}]}, {"a": [1, {"b": 0.5}]}),
        ("x", "x"),
    ],
)
def test_plain_decimal_gives_int_or_float(value: Any, expected: Any) -> None:
    result = plain(value)

    assert result == expected
    assert type(result) is type(expected)


def test_put_deployment_written_to_history_and_latest(table: Any, fake_clock: Any) -> None:
    records.put_deployment(table, record())

    [entry] = records.history(table, "aws-news")
    assert entry["outcome"] == "deployed"
    assert entry["kind"] == "deployment"
    assert entry["duration_seconds"] == 42.123
    assert "error" not in entry  # None values are not stored
    latest = records.latest_for_stack(table, "222222222222", "sr-aws-news-staging")
    assert latest is not None
    assert latest["commit"] == "abc1234"
    assert latest["deployed_at"] == fake_clock.t
    assert latest["duration_seconds"] == 42.123


def test_put_deployment_retried_record_rewrites_its_row(table: Any, fake_clock: Any) -> None:
    # Record Outcome crashed after writing, and Step Functions ran it again later.
    records.put_deployment(table, record(execution="exec-1", commit="first"))
    fake_clock.advance(90)
    records.put_deployment(table, record(execution="exec-1", commit="retried"))
    fake_clock.advance(90)
    records.put_deployment(table, record(execution="exec-1", outcome="failed"))
    records.put_deployment(table, record(execution="exec-2"))

    rows = records.history(table, "aws-news")
    assert sorted((r["execution"], r["outcome"]) for r in rows) == [
        ("exec-1", "deployed"),
        ("exec-1", "failed"),
        ("exec-2", "deployed"),
    ]
    [deployed] = [r for r in rows if r["execution"] == "exec-1" and r["outcome"] == "deployed"]
    assert deployed["commit"] == "retried" and deployed["finished_at"] == 1_800_000_000.0
    latest = records.latest_for_stack(table, "222222222222", "sr-aws-news-staging")
    assert latest is not None and latest["outcome"] == "deployed"  # exec-2, the last write


def test_history_newest_first_and_limited(table: Any, fake_clock: Any) -> None:
    for n in range(5):
        records.put_deployment(table, record(commit=f"c{n}", pipeline_id=str(4700 + n)))
        fake_clock.advance(61)

    newest = records.history(table, "aws-news", limit=3)

    assert [r["commit"] for r in newest] == ["c4", "c3", "c2"]
    assert [r["commit"] for r in records.history(table, "aws-news")] == [
        "c4",
        "c3",
        "c2",
        "c1",
        "c0",
    ]


def test_history_only_that_app(table: Any, fake_clock: Any) -> None:
    records.put_deployment(table, record())
    records.put_deployment(table, record(app="other", stack="sr-other-staging"))

    assert {r["app"] for r in records.history(table, "aws-news")} == {"aws-news"}
    assert records.history(table, "nobody") == []


def test_history_finished_at_orders_records(table: Any, fake_clock: Any) -> None:
    records.put_deployment(table, record(commit="late", finished_at=2_000_000_000.0))
    records.put_deployment(table, record(commit="early", finished_at=1_000_000_000.0))

    assert [r["commit"] for r in records.history(table, "aws-news")] == ["late", "early"]


def test_history_same_second_different_stages_both_kept(table: Any, fake_clock: Any) -> None:
    records.put_deployment(table, record(stage="staging"))
    records.put_deployment(
        table, record(stage="prod", account="333333333333", stack="sr-aws-news-prod")
    )

    assert {r["stage"] for r in records.history(table, "aws-news")} == {"staging", "prod"}


def test_latest_for_stack_keeps_only_last_deployment(table: Any, fake_clock: Any) -> None:
    records.put_deployment(table, record(commit="first"))
    fake_clock.advance(10)
    records.put_deployment(table, record(commit="second", outcome="failed"))

    latest = records.latest_for_stack(table, "222222222222", "sr-aws-news-staging")

    assert latest is not None
    assert (latest["commit"], latest["outcome"]) == ("second", "failed")


def test_latest_for_stack_unknown_stack_returns_none(table: Any) -> None:
    assert records.latest_for_stack(table, "222222222222", "nope") is None


def test_latest_for_stack_same_name_other_account_is_separate(table: Any, fake_clock: Any) -> None:
    records.put_deployment(table, record())

    assert records.latest_for_stack(table, "333333333333", "sr-aws-news-staging") is None
