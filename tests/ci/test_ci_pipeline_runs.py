"""The real CI jobs, run by gitlab-ci-local in shell mode against the local engine server.

Each job installs the CLI as the template does (``pip install "$STACKRELAY_PIP_SPEC"``,
here a wheel of this checkout, into a fresh venv), then calls ``stackrelay`` with the
orchestrator's STACKRELAY_* variables and AWS_ENDPOINT_URL, as a GitLab job
calls it with id_tokens. The jobs only publish, start or answer; the tests then
follow the execution through boto3 (the engine's clock runs Wait states at
once) and look at the stacks in each account.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from ci_harness import EngineServer, Install, Pipeline
from stackrelay_cli import progress

pytestmark = pytest.mark.slow

DEV, STAGING, PROD = "111111111111", "222222222222", "333333333333"


@pytest.fixture(autouse=True)
def _installed_like_the_template(project: Pipeline, install: Install) -> None:
    """Jobs pip-install the CLI from STACKRELAY_PIP_SPEC (a wheel of this checkout)."""
    project.path = install.path()
    project.variables["STACKRELAY_PIP_SPEC"] = str(install.wheel)


def _pipeline(project: Pipeline, server: EngineServer, pipeline_id: str) -> Pipeline:
    project.variables.update({**server.variables(), "CI_PIPELINE_ID": pipeline_id})
    project.identity = server.token
    return project


def _app_stacks(server: EngineServer) -> dict[str, dict[str, str]]:
    """aws-news's own stacks (name to status) in each target account: the app's stacks,
    not its per-app setup stack (stackrelay-app-aws-news)."""
    return {
        account: {
            name: status
            for name, status in server.stacks(account).items()
            if name.startswith("sr-aws-news-")
        }
        for account in (DEV, STAGING, PROD)
    }


def _finished(server: EngineServer, arn: str) -> tuple[dict[str, Any], dict[str, Any]]:
    result = server.engine.wait_execution(arn, timeout=120)
    output = json.loads(result.get("output") or "{}")
    return result, output


def test_review_job_feature_branch_deploys_review_stack_in_dev_only(
    project: Pipeline, engine_server: EngineServer, rsync: str
) -> None:
    # Given a feature branch
    pipeline = _pipeline(project, engine_server, "5101")
    pipeline.checkout("feature/login", create=True)
    # When the thin job runs: publish, start, done
    job = pipeline.run_job("review")
    env = pipeline.dotenv("review")
    assert "PASS  review" in job.stdout
    assert env["STACKRELAY_EXECUTION_NAME"].startswith("aws-news-deploy-feature-login-5101-")
    assert env["STACKRELAY_EXECUTION_URL"].endswith(env["STACKRELAY_EXECUTION_ARN"])
    # Then the execution deploys the review stack in dev, and nothing elsewhere
    result, output = _finished(engine_server, env["STACKRELAY_EXECUTION_ARN"])
    assert result["status"] == "SUCCEEDED", result
    (stage,) = output["stages"]
    assert (stage["stage"], stage["account"], stage["outcome"]) == ("review", DEV, "deployed")
    assert _app_stacks(engine_server) == {
        DEV: {stage["stack"]: "CREATE_COMPLETE"},
        STAGING: {},
        PROD: {},
    }


def test_stop_review_job_feature_branch_deletes_review_stack(
    project: Pipeline, engine_server: EngineServer, rsync: str
) -> None:
    pipeline = _pipeline(project, engine_server, "5201")
    pipeline.checkout("feature/stop-me", create=True)
    pipeline.run_job("review")
    _, output = _finished(engine_server, pipeline.dotenv("review")["STACKRELAY_EXECUTION_ARN"])
    stack = output["stages"][0]["stack"]
    assert engine_server.stacks(DEV)[stack] == "CREATE_COMPLETE"
    assert engine_server.orchestrator.teardown_state_machine_arn
    # When the environment's stop job runs (manual, or auto_stop_in)
    job = pipeline.run_job("stop-review")
    assert "PASS  stop-review" in job.stdout
    executions = engine_server.engine.client("stepfunctions").list_executions(
        stateMachineArn=engine_server.orchestrator.teardown_state_machine_arn
    )["executions"]
    (teardown,) = [e for e in executions if "5201" in e["name"]]
    result, _ = _finished(engine_server, teardown["executionArn"])
    # Then the review stack is gone, and only it
    assert result["status"] == "SUCCEEDED", result
    assert stack not in engine_server.stacks(DEV)


def test_release_and_approve_jobs_default_branch_deploy_staging_then_prod(
    project: Pipeline, engine_server: EngineServer, rsync: str
) -> None:
    pipeline = _pipeline(project, engine_server, "5301")
    pipeline.run_job("release")
    arn = pipeline.dotenv("release")["STACKRELAY_EXECUTION_ARN"]
    # The execution deploys staging, then parks on the prod approval
    parked = engine_server.wait_approval(arn)
    assert [(s.stage, s.account, s.step) for s in parked.stages] == [
        ("staging", STAGING, "deployed"),
        ("prod", PROD, "waiting for approval"),
    ]
    prod_stack = parked.stages[1].stack
    assert engine_server.stacks(PROD).get(prod_stack) != "CREATE_COMPLETE"
    # When a person runs approve-prod
    job = pipeline.run_job("approve-prod")
    assert "PASS  approve-prod" in job.stdout
    assert "to add" in job.stdout  # the reviewed change summary is in the job log
    # Then prod is deployed from the same artifact, in the prod account
    result, output = _finished(engine_server, arn)
    assert result["status"] == "SUCCEEDED", result
    assert [(s["stage"], s["account"], s["outcome"]) for s in output["stages"]] == [
        ("staging", STAGING, "deployed"),
        ("prod", PROD, "deployed"),
    ]
    stacks = _app_stacks(engine_server)
    assert stacks[PROD] == {prod_stack: "CREATE_COMPLETE"}
    assert stacks[STAGING] == {output["stages"][0]["stack"]: "CREATE_COMPLETE"}
    assert not any(name in stacks[DEV] for name in (*stacks[STAGING], *stacks[PROD]))


def test_reject_job_default_branch_leaves_prod_untouched(
    project: Pipeline, engine_server: EngineServer, rsync: str
) -> None:
    # Given a change nobody has deployed yet (so prod has a change set to review)
    template = project.root / "examples" / "aws-news" / "template.yaml"
    template.write_text(template.read_text().replace("MemorySize: 256", "MemorySize: 384"))
    project.commit("more memory")
    pipeline = _pipeline(project, engine_server, "5401")
    pipeline.run_job("release")
    arn = pipeline.dotenv("release")["STACKRELAY_EXECUTION_ARN"]
    parked = engine_server.wait_approval(arn)
    assert parked.stage("prod").step == "waiting for approval", parked
    prod_stack = parked.stages[1].stack
    before = engine_server.stacks(PROD).get(prod_stack)
    # When reject-prod runs
    job = pipeline.run_job("reject-prod")
    assert "PASS  reject-prod" in job.stdout
    # Then the release ends without touching prod
    result, _ = _finished(engine_server, arn)
    final = progress.fetch(engine_server.engine.client("stepfunctions"), arn)
    assert result["status"] != "SUCCEEDED"
    assert final.stage("prod") is not None and final.stage("prod").state == "failed"
    assert "reject" in f"{final.error} {final.cause} {final.stage('prod').error}".lower()
    after = engine_server.stacks(PROD).get(prod_stack)
    if before in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
        assert after == before  # deployed earlier; the rejected change was not applied
    else:
        assert after in (None, "REVIEW_IN_PROGRESS")  # never created


def test_approve_job_clicked_before_prod_waits_then_approves_that_change_set(
    project: Pipeline, engine_server: EngineServer, rsync: str, tmp_path: Path
) -> None:
    """The early click: approve-prod runs before the release job has even run."""
    template = project.root / "examples" / "aws-news" / "template.yaml"
    template.write_text(template.read_text().replace("Timeout: 10", "Timeout: 12"))
    project.commit("a change for prod to review")
    pipeline = _pipeline(project, engine_server, "5501")
    pipeline.variables.update(STACKRELAY_APPROVE_WAIT="300", STACKRELAY_APPROVE_POLL="0.2")
    # The release job runs from a second checkout of the same commit (gitlab-ci-local
    # keeps per-folder state, so two concurrent runs need two folders).
    shutil.copytree(
        project.root, tmp_path / "second", ignore=shutil.ignore_patterns(".gitlab-ci-local")
    )
    second = Pipeline(
        root=tmp_path / "second",
        tool=project.tool,
        variables=dict(pipeline.variables),
        path=project.path,
        identity=pipeline.identity,  # the same pipeline's jobs get the same ID tokens
    )
    # Given approve-prod is clicked first: nothing runs for the pipeline yet
    job = pipeline.start_job("approve-prod")
    try:
        job.wait_for("waiting for the prod change set of aws-news pipeline 5501")
        # When the pipeline's release job runs, and its execution reaches prod
        second.run_job("release")
        arn = second.dotenv("release")["STACKRELAY_EXECUTION_ARN"]
    finally:
        finished = job.finish()
    # Then the job waited, showed the summary, and approved: prod is deployed
    assert "PASS  approve-prod" in finished.stdout, finished.stdout
    assert "to add" in finished.stdout
    result, output = _finished(engine_server, arn)
    assert result["status"] == "SUCCEEDED", result
    assert [(s["stage"], s["outcome"]) for s in output["stages"]] == [
        ("staging", "deployed"),
        ("prod", "deployed"),
    ]
