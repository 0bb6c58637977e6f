"""approvals: a waiting approval holds its token, is decided once, and expires."""

from __future__ import annotations

import json
from typing import Any

import pytest
from stackrelay import approvals
from stackrelay.errors import ApprovalAlreadyDecided, ApprovalExpired, ApprovalNotFound

TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAS3cr3tT0k3n"


def store(table: Any, pipeline_id: str = "4711", app: str = "aws-news", **kw: Any) -> dict:
    return approvals.store(
        table,
        app=app,
        pipeline_id=pipeline_id,
        stage=kw.pop("stage", "prod"),
        token=kw.pop("token", TOKEN),
        timeout_seconds=kw.pop("timeout_seconds", 3600),
        details={
            "stack": "sr-aws-news-prod",
            "change_set": "stackrelay-4711-prod-abcd1234",
            "digest": "d" * 64,
            "summary": {"counts": {"add": 1}, "rows": []},
            "headline": "1 to add",
            **kw,
        },
    )


def test_store_returns_public_view_without_token(table: Any, fake_clock: Any) -> None:
    view = store(table)

    assert "token" not in view
    assert "pk" not in view and "sk" not in view
    assert view["status"] == "pending"
    assert view["requested_at"] == fake_clock.t
    assert view["expires_at"] == fake_clock.t + 3600
    assert view["digest"] == "d" * 64
    assert TOKEN not in json.dumps(view, default=str)


def test_get_stored_approval_has_token_and_details(table: Any, fake_clock: Any) -> None:
    store(table)

    item = approvals.get(table, "aws-news", "4711", "prod")

    assert approvals.token_of(item) == TOKEN
    assert item["summary"] == {"counts": {"add": 1}, "rows": []}
    assert item["expires_at"] == fake_clock.t + 3600


def test_get_missing_raises_not_found(table: Any) -> None:
    with pytest.raises(ApprovalNotFound, match="No approval for aws-news pipeline 1 \\(prod\\)"):
        approvals.get(table, "aws-news", "1", "prod")


def test_check_open_pending_in_time_passes(table: Any, fake_clock: Any) -> None:
    store(table)
    fake_clock.advance(3599)

    assert approvals.check_open(approvals.get(table, "aws-news", "4711", "prod")) is None


@pytest.mark.parametrize("after", [3600, 3601, 10**6])
def test_check_open_after_timeout_raises_expired(table: Any, fake_clock: Any, after: int) -> None:
    store(table)
    item = approvals.get(table, "aws-news", "4711", "prod")
    fake_clock.advance(after)

    with pytest.raises(ApprovalExpired, match="expired at"):
        approvals.check_open(item)


@pytest.mark.parametrize("status", ["approved", "rejected"])
def test_settle_pending_moves_to_status_and_drops_token(
    table: Any, fake_clock: Any, status: str
) -> None:
    store(table)
    item = approvals.get(table, "aws-news", "4711", "prod")
    fake_clock.advance(60)

    decided = approvals.settle(
        table, item, status, by="carol", reason="looks good", job_url="https://ci/job/1"
    )

    assert decided["status"] == status
    assert decided["decided_by"] == "carol"
    assert decided["decided_at"] == fake_clock.t
    assert "token" not in decided
    stored = approvals.get(table, "aws-news", "4711", "prod")
    assert stored["status"] == status
    assert stored["decided_by"] == "carol"
    assert stored["decision_reason"] == "looks good"
    assert stored["decision_job_url"] == "https://ci/job/1"
    assert "token" not in stored


def test_settle_without_optional_fields_stores_status_only(table: Any, fake_clock: Any) -> None:
    store(table)
    item = approvals.get(table, "aws-news", "4711", "prod")

    approvals.settle(table, item, "expired")

    stored = approvals.get(table, "aws-news", "4711", "prod")
    assert stored["status"] == "expired"
    assert "decided_by" not in stored
    assert "decision_reason" not in stored


def test_settle_twice_raises_already_decided(table: Any, fake_clock: Any) -> None:
    store(table)
    item = approvals.get(table, "aws-news", "4711", "prod")
    approvals.settle(table, item, "approved", by="carol")

    with pytest.raises(ApprovalAlreadyDecided, match="already approved"):
        approvals.settle(table, item, "rejected", by="dave")

    assert approvals.get(table, "aws-news", "4711", "prod")["decided_by"] == "carol"


def test_check_open_decided_raises_already_decided_naming_approver(
    table: Any, fake_clock: Any
) -> None:
    store(table)
    approvals.settle(table, approvals.get(table, "aws-news", "4711", "prod"), "rejected", by="eve")

    with pytest.raises(ApprovalAlreadyDecided, match="already rejected by eve"):
        assert approvals.check_open(approvals.get(table, "aws-news", "4711", "prod")) is None


def test_waiting_excludes_decided_and_expired_newest_first(table: Any, fake_clock: Any) -> None:
    store(table, "1", timeout_seconds=100)  # will have expired
    fake_clock.advance(10)
    store(table, "2")  # will be decided
    fake_clock.advance(10)
    store(table, "3")
    fake_clock.advance(10)
    store(table, "4", app="other-app")
    fake_clock.advance(10)
    store(table, "5")
    approvals.settle(table, approvals.get(table, "aws-news", "2", "prod"), "approved", by="x")
    fake_clock.advance(100)

    waiting = approvals.waiting(table)

    assert [(w["app"], w["pipeline_id"]) for w in waiting] == [
        ("aws-news", "5"),
        ("other-app", "4"),
        ("aws-news", "3"),
    ]
    assert all("token" not in w for w in waiting)
    assert [w["pipeline_id"] for w in approvals.waiting(table, "aws-news")] == ["5", "3"]


def test_waiting_ignores_other_kinds_of_items(table: Any, fake_clock: Any) -> None:
    table.put_item(Item={"pk": "LOCK#1#s", "sk": "LOCK", "kind": "lock", "status": "pending"})
    store(table)

    assert [w["pipeline_id"] for w in approvals.waiting(table)] == ["4711"]


class SmallPages:
    """The table, but every scan returns at most two items (as a 1 MB page would)."""

    def __init__(self, table: Any) -> None:
        self.table = table
        self.scans = 0

    def scan(self, **kwargs: Any) -> dict[str, Any]:
        self.scans += 1
        return self.table.scan(Limit=2, **kwargs)


def test_waiting_many_pages_reads_every_page(table: Any, fake_clock: Any) -> None:
    for n in range(7):
        store(table, str(n))
        fake_clock.advance(1)
    paged = SmallPages(table)

    waiting = approvals.waiting(paged)

    assert [w["pipeline_id"] for w in waiting] == ["6", "5", "4", "3", "2", "1", "0"]
    assert paged.scans >= 4


def test_public_any_item_never_contains_token() -> None:
    item = {"pk": "p", "sk": "s", "token": TOKEN, "app": "a", "status": "pending"}

    view = approvals.public(item)

    assert view == {"app": "a", "status": "pending"}
    assert item["token"] == TOKEN  # the input is not changed
