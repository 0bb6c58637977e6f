"""GitLab shows what really happened: the reporter on the engine, against a local GitLab.

The orchestrator is bootstrapped with GitLabUrl and a token secret; StackRelay's
events reach ReportGitLabFunction through the engine's EventBridge (a rule,
async delivery), and the real handler calls tests/gitlab_fake.py over HTTP.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from gitlab_fake import GITLAB_TOKEN, FakeGitLab
from stackrelay_cli.local import GitLabTarget, LocalOrchestrator, bootstrap
from stackrelay_local import EngineConfig, Fault, LocalEngine

pytestmark = pytest.mark.slow

COMMIT = "abc1234def5678"


@pytest.fixture(scope="module")
def gitlab_server(_gitlab_server: FakeGitLab) -> FakeGitLab:
    return _gitlab_server


@pytest.fixture(scope="module")
def local(gitlab_server: FakeGitLab) -> Iterator[LocalOrchestrator]:
    with LocalEngine(EngineConfig(stack_seconds=20.0)) as engine:
        target = GitLabTarget(url=gitlab_server.url, token=GITLAB_TOKEN)
        yield bootstrap(engine, parameters=target.parameters(engine))


@pytest.fixture
def gl(gitlab_server: FakeGitLab, releaser: Any) -> Iterator[FakeGitLab]:
    gitlab_server.reset()
    gitlab_server.project_path = releaser.project
    gitlab_server.project_id = int(releaser.project_id)
    gitlab_server.pipelines = {pipeline: COMMIT for pipeline in range(1001, 1011)}
    yield gitlab_server
    gitlab_server.heal()


def settle(releaser: Any) -> None:
    """Every event delivered to the reporter, every report made.

    Deliveries are due a moment of simulated time after their event: move the clock
    past them (nothing else is running), then wait for the delivery thread.
    """
    for _ in range(3):
        releaser.engine.clock.advance(5)
        releaser.engine.events.wait_idle(timeout=120)


def reporter_deliveries(releaser: Any) -> list[Any]:
    return releaser.engine.events.deliveries(source="stackrelay", target="*ReportGitLab*")


def test_review_deploy_reports_running_then_success_and_the_app_url(
    releaser: Any, gl: FakeGitLab
) -> None:
    run = releaser.deploy("feature/login", commit=COMMIT)
    settle(releaser)
    assert run.status == "SUCCEEDED", run.cause
    assert gl.status_states("stackrelay/review") == ["running", "success"]
    posted = [s for s in gl.status_log if s["name"] == "stackrelay/review"]
    assert {s["pipeline_id"] for s in posted} == {int(releaser.pipeline_id)}
    assert all(run.arn in s["target_url"] for s in posted)
    (deployment,) = gl.deployments.values()
    assert (deployment["status"], deployment["sha"]) == ("success", COMMIT)
    (environment,) = gl.environments.values()
    assert environment["name"] == "review/feature-login"
    url = run.progress.stage("review").url
    assert url and environment["external_url"] == url
    assert {d.outcome for d in reporter_deliveries(releaser)} == {"delivered"}


def test_release_with_approval_puts_summary_on_the_mr_before_the_click(
    releaser: Any, gl: FakeGitLab
) -> None:
    gl.merge_requests[COMMIT] = [{"iid": 3, "state": "merged", "target_branch": "main"}]
    arn = releaser.start(releaser.request("main", releaser.publish(), commit=COMMIT))
    releaser.wait_approval(arn)
    settle(releaser)
    # Before anyone clicks: the summary is on the MR, the approval status is pending
    (note,) = gl.notes
    assert note["on"] == "!3"
    assert "waits for your approval" in note["body"] and "to add" in note["body"]
    assert gl.status_states("stackrelay/staging") == ["running", "success"]
    assert gl.status_states("stackrelay/prod") == ["running"]
    assert gl.status_states("stackrelay/prod/approval") == ["pending"]
    # When the approver approves exactly that change set
    token = releaser.token("main", user_login="bob", environment="production")
    key = {"app": releaser.app, "id_token": token, "pipeline_id": releaser.pipeline_id}
    shown = releaser.invoke("ApprovalFunctionName", {"action": "show", **key})
    digest = shown["approval"]["digest"]
    assert digest in note["body"]
    answer = releaser.invoke("ApprovalFunctionName", {"action": "approve", **key, "digest": digest})
    assert "errorType" not in answer, answer
    run = releaser.finish(arn)
    settle(releaser)
    assert run.status == "SUCCEEDED", run.cause
    assert gl.status_states("stackrelay/prod") == ["running", "success"]
    assert gl.status_states("stackrelay/prod/approval") == ["pending", "success"]
    assert sorted(e["name"] for e in gl.environments.values()) == ["production", "staging"]
    assert {d["status"] for d in gl.deployments.values()} == {"success"}


def test_failed_stage_reports_failed_with_cloudformation_reason(
    releaser: Any, gl: FakeGitLab
) -> None:
    releaser.engine.faults.add(
        Fault.resource_failed(
            stack=f"sr-{releaser.app}-review-*", resource="NewsTable", reason="Table limit hit"
        )
    )
    run = releaser.deploy("feature/broken", commit=COMMIT)
    settle(releaser)
    assert run.status != "SUCCEEDED"
    assert gl.status_states("stackrelay/review") == ["running", "failed"]
    failed = next(s for s in gl.status_log if s["state"] == "failed")
    assert "Table limit hit" in failed["description"]
    assert [d["status"] for d in gl.deployments.values()] == ["failed"]
    assert all(e["external_url"] is None for e in gl.environments.values())


@pytest.mark.parametrize("kind", ["500", "timeout"])
def test_gitlab_down_leaves_the_release_unaffected(
    releaser: Any, gl: FakeGitLab, kind: str
) -> None:
    gl.fail(kind, seconds=6.0)  # past the reporter's 5-s timeout
    run = releaser.deploy(f"feature/offline-{kind}", commit=COMMIT)
    assert run.status == "SUCCEEDED", run.cause
    assert run.progress.stage("review").outcome == "deployed"
    settle(releaser)
    # The reporter tried, failed within its bounds, and returned normally (no retries
    # by EventBridge); nothing was accepted by GitLab.
    deliveries = reporter_deliveries(releaser)
    assert deliveries and {d.outcome for d in deliveries} == {"delivered"}
    assert gl.status_log == []
    assert json.dumps(gl.calls, default=str).count(GITLAB_TOKEN) == len(gl.calls)
