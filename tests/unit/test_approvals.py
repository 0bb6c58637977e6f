"""approvals: one per waiting execution, never overwritten, decided once, never lost."""

from __future__ import annotations

import json
from typing import Any

import pytest
from stackrelay import approvals
from stackrelay.errors import (
    ApprovalAlreadyDecided,
    ApprovalExpired,
    ApprovalNotFound,
    InvalidInput,
)

TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAS3cr3tT0k3n"
EXECUTION = "aws-news-deploy-main-4711-abc123"


def store(
    table: Any,
    execution: str = EXECUTION,
    pipeline_id: str = "4711",
    app: str = "aws-news",
    **kw: Any,
) -> dict:
    return approvals.store(
        table,
        execution=execution,
        app=app,
        pipeline_id=pipeline_id,
        stage=kw.pop("stage", "prod"),
        token=kw.pop("token", TOKEN),
        timeout_seconds=kw.pop("timeout_seconds", 3600),
        details={
            "stack": "sr-aws-news-prod",
            "change_set": "stackrelay-4711-prod-abcd1234",
            "change_set_id": kw.pop("change_set_id", "arn:cs/1"),
            "digest": "d" * 64,
            "summary": {"counts": {"add": 1}, "rows": []},
            "headline": "1 to add",
            **kw,
        },
    )


def test_store_returns_public_view_without_token(table: Any, fake_clock: Any) -> None:
    view = store(table)

    assert "token" not in view and "pk" not in view and "sk" not in view
    assert (view["status"], view["execution"]) == ("pending", EXECUTION)
    assert view["expires_at"] == fake_clock.t + 3600
    assert TOKEN not in json.dumps(view, default=str)


def test_store_other_execution_same_pipeline_is_a_separate_approval(
    table: Any, fake_clock: Any
) -> None:
    # The forged-execution attack: same app, same pipeline id, other execution.
    store(table)
    store(table, execution="forged-execution", token="forged-token", change_set_id="arn:cs/2")

    assert approvals.token_of(approvals.get(table, EXECUTION, "prod")) == TOKEN
    assert approvals.token_of(approvals.get(table, "forged-execution", "prod")) == "forged-token"


def test_store_retry_same_change_set_refreshes_token(table: Any, fake_clock: Any) -> None:
    store(table)
    store(table, token="retried-token")

    assert approvals.token_of(approvals.get(table, EXECUTION, "prod")) == "retried-token"


def test_store_other_change_set_or_decided_never_overwrites(table: Any, fake_clock: Any) -> None:
    store(table)
    with pytest.raises(ApprovalAlreadyDecided, match="never overwritten"):
        store(table, token="other", change_set_id="arn:cs/other")

    item = approvals.get(table, EXECUTION, "prod")
    approvals.settle(table, item, "approved", by="carol")
    with pytest.raises(ApprovalAlreadyDecided):
        store(table, token="again")
    stored = approvals.get(table, EXECUTION, "prod")
    assert (stored["status"], stored["decided_by"]) == ("approved", "carol")
    assert "token" not in stored


def test_get_missing_raises_not_found(table: Any) -> None:
    with pytest.raises(ApprovalNotFound, match="No prod approval for execution nope"):
        approvals.get(table, "nope", "prod")


def test_find_by_pipeline_one_waiting(table: Any, fake_clock: Any) -> None:
    store(table)

    assert approvals.find(table, "aws-news", "4711", "prod")["execution"] == EXECUTION
    with pytest.raises(ApprovalNotFound):
        approvals.find(table, "other-app", "4711", "prod")


def test_find_by_pipeline_two_waiting_asks_for_execution(table: Any, fake_clock: Any) -> None:
    store(table)
    store(table, execution="second", change_set_id="arn:cs/2")

    with pytest.raises(InvalidInput, match="--execution"):
        approvals.find(table, "aws-news", "4711", "prod")


def test_claim_then_settle_removes_token_once(table: Any, fake_clock: Any) -> None:
    store(table)
    item = approvals.get(table, EXECUTION, "prod")

    claimed = approvals.claim(
        table, item, "approved", by="carol", digest="d" * 64, reason="ok", job_url="u"
    )
    assert claimed["status"] == approvals.DECIDING
    assert approvals.token_of(claimed) == TOKEN  # kept until Step Functions has the answer

    decided = approvals.settle(table, claimed, "approved", by="carol", reason="ok", job_url="u")
    assert decided["status"] == "approved"
    assert "token" not in approvals.get(table, EXECUTION, "prod")


def test_claim_same_decision_repeats_other_decision_refused(table: Any, fake_clock: Any) -> None:
    store(table)
    item = approvals.get(table, EXECUTION, "prod")
    approvals.claim(table, item, "approved", by="carol", digest="d" * 64, reason=None, job_url=None)

    again = approvals.claim(
        table, item, "approved", by="carol", digest="d" * 64, reason=None, job_url=None
    )
    assert approvals.token_of(again) == TOKEN
    with pytest.raises(ApprovalAlreadyDecided, match="being approved by carol"):
        approvals.claim(
            table, item, "rejected", by="dave", digest="d" * 64, reason=None, job_url=None
        )


def test_settle_twice_raises_already_decided(table: Any, fake_clock: Any) -> None:
    store(table)
    item = approvals.get(table, EXECUTION, "prod")
    approvals.settle(table, item, "rejected", by="eve")

    with pytest.raises(ApprovalAlreadyDecided, match="already rejected"):
        approvals.settle(table, item, "approved", by="carol")


def test_check_open_expired_and_decided(table: Any, fake_clock: Any) -> None:
    store(table)
    item = approvals.get(table, EXECUTION, "prod")
    assert approvals.check_open(item) is None

    fake_clock.advance(3600)
    with pytest.raises(ApprovalExpired):
        approvals.check_open(item)

    approvals.settle(table, item, "expired")
    with pytest.raises(ApprovalAlreadyDecided, match="already expired"):
        approvals.check_open(approvals.get(table, EXECUTION, "prod"))


def test_waiting_lists_open_without_tokens(table: Any, fake_clock: Any) -> None:
    store(table)
    store(table, execution="other", app="other-app", change_set_id="x")
    approvals.settle(table, approvals.get(table, "other", "prod"), "approved", by="x")

    rows = approvals.waiting(table)

    assert [r["execution"] for r in rows] == [EXECUTION]
    assert TOKEN not in json.dumps(rows, default=str)
    assert approvals.waiting(table, "other-app") == []


# -- the decision (approvals.check_decision), decided in the core ---------------------


class Caller:
    def __init__(self, protected: bool = True, ref_type: str = "branch") -> None:
        self.ref_protected, self.ref_type = protected, ref_type

    def describe(self) -> str:
        return "bob in job 9"


def test_check_decision_open_approval_right_digest_may_decide(table: Any, fake_clock: Any) -> None:
    item = approvals.get(table, store(table)["execution"], "prod")
    approvals.check_decision(item, Caller(), "approve", "d" * 64)  # no error
    approvals.check_decision(item, Caller(), "reject", None)  # a rejection needs no digest


@pytest.mark.parametrize(
    ("caller", "action", "digest", "error"),
    [
        (Caller(protected=False), "approve", "d" * 64, "ApproverNotAllowed"),
        (Caller(ref_type="tag"), "reject", None, "ApproverNotAllowed"),
        (Caller(), "approve", None, "InvalidInput"),
        (Caller(), "approve", "e" * 64, "SummaryMismatch"),
        (Caller(), "reject", "e" * 64, "SummaryMismatch"),
    ],
)
def test_check_decision_planted_refusals_raise_their_domain_error(
    table: Any, fake_clock: Any, caller: Caller, action: str, digest: str | None, error: str
) -> None:
    item = approvals.get(table, store(table)["execution"], "prod")
    with pytest.raises(Exception) as refused:
        approvals.check_decision(item, caller, action, digest)
    assert type(refused.value).__name__ == error


def test_check_decision_expired_or_decided_is_refused(table: Any, fake_clock: Any) -> None:
    item = approvals.get(table, store(table)["execution"], "prod")
    fake_clock.advance(3601)
    with pytest.raises(ApprovalExpired):
        approvals.check_decision(item, Caller(), "approve", "d" * 64)
    decided = {**item, "status": "approved", "decided_by": "carol"}
    with pytest.raises(ApprovalAlreadyDecided, match="carol"):
        approvals.check_decision(decided, Caller(), "approve", "d" * 64)


def test_needs_stale_check_only_before_the_first_answer(table: Any, fake_clock: Any) -> None:
    item = approvals.get(table, store(table)["execution"], "prod")
    assert approvals.needs_stale_check(item)
    assert not approvals.needs_stale_check({**item, "status": approvals.DECIDING})


# -- which approval, without naming a stage --------------------------------------------


def test_find_without_stage_finds_the_one_waiting_stage(table: Any, fake_clock: Any) -> None:
    store(table, stage="qa")
    assert approvals.find(table, "aws-news", "4711")["stage"] == "qa"
    assert approvals.of_execution(table, EXECUTION)["stage"] == "qa"


def test_find_without_stage_two_waiting_stages_asks_for_one(table: Any, fake_clock: Any) -> None:
    store(table, stage="qa")
    store(table, stage="prod")
    with pytest.raises(InvalidInput, match="--stage"):
        approvals.find(table, "aws-news", "4711")
    with pytest.raises(InvalidInput, match="--stage"):
        approvals.of_execution(table, EXECUTION)
    assert approvals.of_execution(table, EXECUTION, "qa")["stage"] == "qa"


def test_of_execution_none_waiting_is_not_found(table: Any, fake_clock: Any) -> None:
    with pytest.raises(ApprovalNotFound):
        approvals.of_execution(table, "other-execution")


def test_find_stage_of_a_wave_returns_its_regions_one_by_one(table: Any, fake_clock: Any) -> None:
    # prod in two regions: each region waits with its own change set, keyed by target.
    store(table, stage="prod.us-east-1", wave="prod", token="t-east")
    store(table, stage="prod.eu-west-1", wave="prod", token="t-west")

    first = approvals.find(table, "aws-news", "4711", "prod")
    assert first["stage"] == "prod.eu-west-1"
    assert approvals.find(table, "aws-news", "4711")["stage"] == "prod.eu-west-1"
    assert approvals.find(table, "aws-news", "4711", "prod.us-east-1")["stage"] == (
        "prod.us-east-1"
    )
    assert approvals.of_execution(table, EXECUTION, "prod")["stage"] == "prod.eu-west-1"


def test_find_two_stages_waiting_still_asks_which(table: Any, fake_clock: Any) -> None:
    store(table, stage="prod.us-east-1", wave="prod")
    store(table, stage="canary", wave="canary")

    with pytest.raises(InvalidInput, match="--stage"):
        approvals.find(table, "aws-news", "4711")
