"""reviews.list_reviews: live review stacks by trust, and records from before trust."""

from __future__ import annotations

from typing import Any

from stackrelay import records, reviews, trust

DAY = 86400


def latest(table: Any, stack: str, **fields: Any) -> None:
    records.put_deployment(
        table,
        {
            "app": "aws-news",
            "stage": "preview",
            "account": "111111111111",
            "stack": stack,
            "ref": f"feature/{stack}",
            "outcome": "deployed",
            **fields,
        },
    )


def test_list_reviews_by_trust_and_legacy_records_by_review_stage_name(
    table: Any, fake_clock: Any
) -> None:
    latest(table, "sr-aws-news-preview-a", trust=trust.REVIEW)
    latest(table, "sr-aws-news-preview-old")  # written before records carried a trust
    latest(table, "sr-aws-news-staging", stage="staging", trust="release")
    latest(table, "sr-aws-news-staging-old", stage="staging")  # old, not a review stage
    fake_clock.advance(8 * DAY)

    current = reviews.list_reviews(table, retention_days=7)
    upgraded = reviews.list_reviews(table, retention_days=7, legacy_stages=["preview"])
    stale = reviews.list_reviews(table, 7, stale_only=True, legacy_stages=["preview"])

    assert [r["stack"] for r in current] == ["sr-aws-news-preview-a"]
    assert sorted(r["stack"] for r in upgraded) == [
        "sr-aws-news-preview-a",
        "sr-aws-news-preview-old",
    ]
    assert sorted(r["stack"] for r in stale) == sorted(r["stack"] for r in upgraded)
