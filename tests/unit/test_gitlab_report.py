"""gitlab_report: StackRelay events -> what GitLab shows, against a GitLab on localhost.

The reporter runs with the real python-gitlab client against tests/gitlab_fake.py,
which answers GitLab's documented API paths and enforces GitLab's rules (status
transitions, 255-character limits, the pipeline must match the commit).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import gitlab
import pytest
from gitlab_fake import GITLAB_TOKEN, FakeGitLab
from stackrelay import gitlab_report
from stackrelay.gitlab_report import Deployment, MemoryLedger, Note, Reporter, RetryPolicy, Status

EVENTS = Path(__file__).resolve().parent.parent / "events" / "stackrelay"
SHA = "2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b"
FEATURE_SHA = "1f2e3d4c5b6a7980a1b2c3d4e5f60718293a4b5c"
PIPELINE = 4711
CONSOLE = "https://us-east-1.console.aws.amazon.com/states/home?region=us-east-1#/v2/executions/details/arn:aws:states:us-east-1:123456789012:execution:stackrelay-deploy:aws-news-deploy-main-4711-ab12"


def base() -> dict[str, Any]:
    return json.loads((EVENTS / "stage_deployed.json").read_text())["detail"]


def event(detail_type: str, **over: Any) -> tuple[str, dict[str, Any]]:
    detail = copy.deepcopy(base())
    if detail_type == "Approval Requested":
        detail = json.loads((EVENTS / "approval_requested.json").read_text())["detail"]
    detail.update(over)
    return detail_type, detail


def review(detail_type: str, **over: Any) -> tuple[str, dict[str, Any]]:
    return event(
        detail_type,
        **{
            "stage": "review",
            "trust": "review",
            "environment": "review",
            "ref": "feature/Login_Page",
            "commit": FEATURE_SHA,
            "pipeline_id": "4700",
            "account": "111111111111",
            "stack": "sr-aws-news-review-feature-login-page-0a1b2c3d",
            "headline": "3 to add, 0 to modify, 0 to remove",
            **over,
        },
    )


@pytest.fixture
def gl(fake_gitlab: FakeGitLab) -> FakeGitLab:
    fake_gitlab.pipelines = {PIPELINE: SHA, 4700: FEATURE_SHA}
    return fake_gitlab


def make_reporter(fake: FakeGitLab, **kwargs: Any) -> tuple[Reporter, list[float]]:
    slept: list[float] = []
    client = gitlab.Gitlab(fake.url, private_token=GITLAB_TOKEN, timeout=kwargs.pop("timeout", 5))
    reporter = Reporter(
        client,
        kwargs.pop("ledger", None) or MemoryLedger(),
        sleep=slept.append,
        secret=GITLAB_TOKEN,
        **kwargs,
    )
    return reporter, slept


def report_all(reporter: Reporter, *events: tuple[str, dict[str, Any]]) -> list[Any]:
    return [reporter.report(gitlab_report.plan(t, d)) for t, d in events]


# -- the rule (pure) ------------------------------------------------------------------


def test_plan_stage_started_running_status_and_running_deployment() -> None:
    planned = gitlab_report.plan(*event("Stage Started", stage="staging"))
    assert planned.target is not None
    assert (planned.target.commit, planned.target.pipeline_id) == (SHA, PIPELINE)
    assert planned.actions == (
        Status(
            "stackrelay/staging",
            "running",
            "Deploying sr-aws-news-staging in 222222222222/us-east-1",
            CONSOLE,
        ),
        Deployment("staging", "running"),
    )


@pytest.mark.parametrize(
    ("stage", "trust", "declared", "ref", "environment"),
    [
        ("review", "review", "review", "feature/Login_Page", "review/feature-login-page"),
        ("review", "review", "review", "-x-" + "a" * 80, "review/x-" + "a" * 60),
        ("dev", "review", None, "feature/a", "dev/feature-a"),
        ("staging", "release", "staging", "main", "staging"),
        ("prod", "release", "production", "main", "production"),
        ("qa", "release", None, "main", "qa"),
    ],
)
def test_environment_name_matches_ci_template(
    stage: str, trust: str, declared: str | None, ref: str, environment: str
) -> None:
    detail = {"stage": stage, "trust": trust, "environment": declared, "ref": ref}
    assert gitlab_report.environment_name(detail) == environment


def test_plan_multi_region_stage_names_status_and_environment_per_region() -> None:
    _, detail = event("Stage Deployed", stage="prod", environment="production", region="eu-west-1")
    detail["regions"] = ["us-east-1", "eu-west-1"]
    status, deployment = gitlab_report.plan("Stage Deployed", detail).actions
    assert isinstance(status, Status) and isinstance(deployment, Deployment)
    assert status.name == "stackrelay/prod/eu-west-1"
    assert deployment.environment == "production/eu-west-1"


def test_plan_long_reason_and_url_fit_gitlab_limits() -> None:
    long_console = "https://console.example.com/" + "x" * 300
    planned = gitlab_report.plan(
        *event("Stage Failed", reason="Resource failed: " + "y" * 400, console_url=long_console)
    )
    status = planned.actions[0]
    assert isinstance(status, Status)
    assert len(status.description) == 255 and status.description.endswith("\u2026")
    # The execution link is too long for GitLab: the stack's console link is used instead.
    assert status.target_url == base()["stack_console_url"]


def test_plan_failure_description_carries_reason_and_fix() -> None:
    status = gitlab_report.plan(
        *event(
            "Stage Failed",
            reason="Api: CREATE_FAILED (Invalid stage name)",
            fix="stackrelay recover --app aws-news --stage staging",
        )
    ).actions[0]
    assert isinstance(status, Status)
    assert status.state == "failed"
    assert status.description == (
        "Api: CREATE_FAILED (Invalid stage name) Fix: stackrelay recover --app aws-news "
        "--stage staging"
    )


@pytest.mark.parametrize(
    ("over", "why"),
    [({"commit": None}, "no commit"), ({"project": None, "project_id": None}, "no GitLab project")],
)
def test_plan_event_without_commit_or_project_reports_nothing(
    over: dict[str, Any], why: str
) -> None:
    planned = gitlab_report.plan(*event("Stage Deployed", **over))
    assert planned.actions == () and why in (planned.skipped or "")


def test_plan_teardown_execution_reports_its_own_status_and_no_deployment() -> None:
    arn = "arn:aws:states:us-east-1:123456789012:execution:stackrelay-teardown:aws-news-td-1"
    started = gitlab_report.plan(*review("Stage Started", execution_arn=arn))
    done = gitlab_report.plan(*review("Review Torn Down", execution_arn=arn, action="teardown"))
    assert [type(a) for a in started.actions + done.actions] == [Status, Status]
    assert [(a.name, a.state) for a in started.actions + done.actions if isinstance(a, Status)] == [
        ("stackrelay/review/teardown", "running"),
        ("stackrelay/review/teardown", "success"),
    ]


def test_approval_note_has_headline_flags_table_digest_and_approve_link() -> None:
    _, detail = event("Approval Requested")
    body = gitlab_report.approval_note(detail)
    summary = detail["summary"]
    assert summary["headline"] in body
    assert "**replaces** resources" in body and "changes **IAM**" in body
    assert "deletes" not in body  # the sample deletes nothing
    assert summary["table"] in body
    assert summary["digest"] in body
    assert f"]({detail['approve_job_url']})" in body


def test_approval_note_without_risky_changes_says_so() -> None:
    _, detail = event("Approval Requested")
    detail["summary"].update(replacement=False, deletion=False, iam=False)
    assert "No replacements, deletions or IAM changes." in gitlab_report.approval_note(detail)


# -- against GitLab -------------------------------------------------------------------


def test_review_deploy_posts_running_then_success_and_sets_environment_url(
    gl: FakeGitLab,
) -> None:
    reporter, _ = make_reporter(gl)
    app_url = "https://abc123.execute-api.us-east-1.amazonaws.com/Prod/"
    outcomes = report_all(
        reporter, review("Stage Started"), review("Stage Deployed", app_url=app_url)
    )
    assert all(not o.failed for o in outcomes), outcomes
    assert gl.paths() == [
        f"POST /api/v4/projects/42/statuses/{FEATURE_SHA}",
        "POST /api/v4/projects/42/deployments",
        f"POST /api/v4/projects/42/statuses/{FEATURE_SHA}",
        "PUT /api/v4/projects/42/deployments/1000",
        "PUT /api/v4/projects/42/environments/100",
    ]
    posted = gl.status_log
    assert [(s["name"], s["state"]) for s in posted] == [
        ("stackrelay/review", "running"),
        ("stackrelay/review", "success"),
    ]
    assert {s["pipeline_id"] for s in posted} == {4700}
    assert {s["ref"] for s in posted} == {"feature/Login_Page"}
    assert {s["target_url"] for s in posted} == {CONSOLE}
    assert posted[1]["description"].startswith("Deployed sr-aws-news-review-feature-login-page")
    (deployment,) = gl.deployments.values()
    assert (deployment["status"], deployment["sha"], deployment["ref"]) == (
        "success",
        FEATURE_SHA,
        "feature/Login_Page",
    )
    assert gl.environments[100] == {
        "id": 100,
        "name": "review/feature-login-page",
        "external_url": app_url,
    }
    assert all(c.headers.get("private-token") == GITLAB_TOKEN for c in gl.calls)


def test_release_with_approval_reports_each_stage_and_puts_summary_on_the_merge_request(
    gl: FakeGitLab,
) -> None:
    gl.merge_requests[SHA] = [
        {"iid": 7, "state": "opened", "target_branch": "develop"},
        {"iid": 12, "state": "merged", "target_branch": "main"},
    ]
    reporter, _ = make_reporter(gl)
    staging_url = "https://staging.example.com/"
    prod_url = "https://prod.example.com/"
    prod = {
        "stage": "prod",
        "environment": "production",
        "account": "333333333333",
        "stack": "sr-aws-news-prod",
    }
    outcomes = report_all(
        reporter,
        event("Release Started"),
        event("Stage Started", stage="staging"),
        event("Stage Deployed", stage="staging", app_url=staging_url),
        event("Stage Started", **prod),
        event("Approval Requested"),
        event("Approval Decided", **prod, decision="approved", approver="bob"),
        event("Stage Deployed", **prod, app_url=prod_url),
    )
    assert all(not o.failed for o in outcomes), outcomes
    assert gl.status_states("stackrelay/staging") == ["running", "success"]
    assert gl.status_states("stackrelay/prod") == ["running", "success"]
    assert gl.status_states("stackrelay/prod/approval") == ["pending", "success"]
    approval = [s for s in gl.status_log if s["name"] == "stackrelay/prod/approval"]
    approve_job = "https://gitlab.example.com/group/aws-news/-/jobs/9001"
    assert approval[0]["target_url"] == approve_job
    assert approval[0]["description"].startswith("Waiting for approval: 2 to add, 1 to modify")
    assert approval[1]["description"] == "Approved by bob"
    # The summary goes to the MR that merged the commit into main, before the click.
    (note,) = gl.notes
    assert note["on"] == "!12"
    assert "**replaces** resources" in note["body"] and approve_job in note["body"]
    assert "| modify | Function | AWS::Lambda::Function | True |" in note["body"]
    assert {e["name"]: e["external_url"] for e in gl.environments.values()} == {
        "staging": staging_url,
        "production": prod_url,
    }
    assert sorted(d["status"] for d in gl.deployments.values()) == ["success", "success"]


def test_approval_without_merge_request_comments_on_the_commit(gl: FakeGitLab) -> None:
    reporter, _ = make_reporter(gl)
    (outcome,) = report_all(reporter, event("Approval Requested"))
    assert not outcome.failed
    (note,) = gl.notes
    assert note["on"] == SHA and "waits for your approval" in note["body"]
    assert f"POST /api/v4/projects/42/repository/commits/{SHA}/comments" in gl.paths()


def test_rejected_approval_cancels_stage_and_deployment(gl: FakeGitLab) -> None:
    reporter, _ = make_reporter(gl)
    prod = {
        "stage": "prod",
        "environment": "production",
        "account": "333333333333",
        "stack": "sr-aws-news-prod",
    }
    report_all(
        reporter,
        event("Stage Started", **prod),
        event("Approval Requested"),
        event("Approval Decided", **prod, decision="rejected", approver="carol", reason="not now"),
        event("Stage Failed", **prod, reason="Rejected by carol: not now"),
    )
    assert gl.status_states("stackrelay/prod") == ["running", "canceled"]
    assert gl.status_states("stackrelay/prod/approval") == ["pending", "failed"]
    assert [d["status"] for d in gl.deployments.values()] == ["canceled"]


def test_failed_stage_posts_failed_with_reason_and_fails_the_deployment(gl: FakeGitLab) -> None:
    reporter, _ = make_reporter(gl)
    reason = "HelloFunction: CREATE_FAILED (Resource handler returned message: bad role)"
    report_all(
        reporter,
        event("Stage Started", stage="staging"),
        event("Stage Failed", stage="staging", reason=reason, fix=None, app_url=None),
    )
    assert gl.status_states("stackrelay/staging") == ["running", "failed"]
    assert gl.status_log[-1]["description"] == reason
    assert [d["status"] for d in gl.deployments.values()] == ["failed"]
    assert all(e["external_url"] is None for e in gl.environments.values())


def test_events_out_of_order_or_twice_never_reopen_a_finished_stage(gl: FakeGitLab) -> None:
    reporter, _ = make_reporter(gl)
    outcomes = report_all(
        reporter,
        event("Stage Deployed", stage="staging", app_url="https://s.example.com/"),
        event("Stage Started", stage="staging"),  # delivered late
        event("Stage Deployed", stage="staging", app_url="https://s.example.com/"),  # twice
    )
    assert all(not o.failed for o in outcomes), outcomes
    assert gl.status_states("stackrelay/staging") == ["success"]
    assert [d["status"] for d in gl.deployments.values()] == ["success"]
    assert len(outcomes[1].skipped) == 2 and len(outcomes[2].skipped) == 2


def test_gitlab_500_is_retried_with_bounded_backoff_then_reported_as_failed(
    gl: FakeGitLab,
) -> None:
    gl.fail("500")
    reporter, slept = make_reporter(gl, policy=RetryPolicy(attempts=3))
    outcome = reporter.report(gitlab_report.plan(*event("Stage Deployed", stage="staging")))
    # Three tries of the first call; the rest are not tried against a GitLab known down.
    assert len(gl.calls) == 3
    assert len(slept) == 2 and all(0 < s <= RetryPolicy().max_delay for s in slept)
    assert outcome.retries == 2 and not outcome.done
    assert len(outcome.failed) == 2
    assert "HTTP 500" in outcome.failed[0] and "after 3 attempts" in outcome.failed[0]
    assert "GitLab is unavailable" in outcome.failed[1]


def test_gitlab_recovering_within_the_retries_reports_everything(gl: FakeGitLab) -> None:
    gl.fail("500", times=2)
    reporter, slept = make_reporter(gl)
    outcome = reporter.report(gitlab_report.plan(*event("Stage Started", stage="staging")))
    assert not outcome.failed and outcome.retries == 2 and len(slept) == 2
    assert gl.status_states("stackrelay/staging") == ["running"]
    assert [d["status"] for d in gl.deployments.values()] == ["running"]


def test_gitlab_timing_out_fails_the_report_after_bounded_tries(gl: FakeGitLab) -> None:
    gl.fail("timeout", seconds=1.0)
    reporter, _ = make_reporter(gl, timeout=0.2, policy=RetryPolicy(attempts=2))
    outcome = reporter.report(gitlab_report.plan(*event("Stage Deployed", stage="staging")))
    assert len(gl.calls) == 2
    assert "Timeout" in outcome.failed[0]
    assert not outcome.done


@pytest.mark.parametrize("code", [400, 401, 404])
def test_gitlab_client_errors_are_not_retried(gl: FakeGitLab, code: int) -> None:
    client = gitlab.Gitlab(gl.url, private_token="wrong" if code == 401 else GITLAB_TOKEN)
    reporter = Reporter(client, MemoryLedger(), sleep=lambda s: None, secret=GITLAB_TOKEN)
    detail_type, detail = event("Stage Started", stage="staging")
    if code == 404:
        detail["pipeline_id"] = "999"  # GitLab: no such pipeline for this commit
    if code == 400:
        reporter.report(gitlab_report.plan(detail_type, detail))
        reporter = Reporter(client, MemoryLedger(), sleep=lambda s: None)  # a second "running"
    outcome = reporter.report(gitlab_report.plan(detail_type, detail))
    assert outcome.retries == 0
    assert f"HTTP {code}" in outcome.failed[0]


def test_note_action_is_posted_once(gl: FakeGitLab) -> None:
    ledger = MemoryLedger()
    reporter, _ = make_reporter(gl, ledger=ledger)
    report_all(reporter, event("Approval Requested"), event("Approval Requested"))
    assert len(gl.notes) == 1
    assert ledger.claim(base()["execution_arn"], Note("prod", "").key, 3) is None


def test_ledger_in_dynamodb_moves_forward_only_and_keeps_deployment_ids(table: Any) -> None:
    ledger = gitlab_report.Ledger(table)
    assert ledger.claim("arn:x", "deployment:staging", 2) == {}
    ledger.remember("arn:x", "deployment:staging", deployment_id=1000, environment_id=100)
    assert ledger.claim("arn:x", "deployment:staging", 2) is None
    previous = ledger.claim("arn:x", "deployment:staging", 3)
    assert previous is not None
    assert (previous["deployment_id"], previous["environment_id"]) == (1000, 100)
    assert ledger.claim("arn:x", "deployment:staging", 3) is None
    assert ledger.claim("arn:y", "deployment:staging", 1) == {}


def test_plan_stage_recovered_reports_a_recover_status_without_deployment() -> None:
    planned = gitlab_report.plan(*event("Stage Recovered", stage="staging"))
    (status,) = planned.actions
    assert isinstance(status, Status)
    assert (status.name, status.state) == ("stackrelay/staging/recover", "success")
