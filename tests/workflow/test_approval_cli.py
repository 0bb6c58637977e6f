"""`stackrelay pending/approve/reject` against the local engine: output and exit codes."""

from __future__ import annotations

import pytest
from stackrelay_cli.errors import (
    EXIT_DECIDED,
    EXIT_EXPIRED,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_STALE,
)
from stackrelay_cli.main import main

PROD = "333333333333"


@pytest.fixture
def parked(releaser, monkeypatch):
    """A release waiting for prod approval; the CLI finds the orchestrator by its stack."""
    monkeypatch.setenv("STACKRELAY_STACK", "stackrelay")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("STACKRELAY_IDENTITY_TOKEN", releaser.token("main"))
    cli.releaser, cli.monkeypatch = releaser, monkeypatch  # type: ignore[attr-defined]
    arn = releaser.start(releaser.request("main", releaser.publish()))
    token = releaser.wait_approval(arn)
    return arn, token


def cli(capsys, *argv: str) -> tuple[int, str]:
    args = list(argv)
    if "--approver" in args:
        # Who approves is the job's ID token, not a flag: the job of user <approver>.
        at = args.index("--approver")
        user = args[at + 1]
        del args[at : at + 2]
        releaser = cli.releaser  # type: ignore[attr-defined]
        token = releaser.token("main", user_login=user, environment="production")
        cli.monkeypatch.setenv("STACKRELAY_IDENTITY_TOKEN", token)  # type: ignore[attr-defined]
    code = main(args)
    out = capsys.readouterr()
    return code, out.out + out.err


def test_cli_approve_prints_summary_then_approves_and_never_the_token(releaser, parked, capsys):
    arn, token = parked

    listed_code, listed = cli(capsys, "pending", "--app", releaser.app)
    code, out = cli(
        capsys,
        "approve",
        "--app",
        releaser.app,
        "--pipeline-id",
        releaser.pipeline_id,
        "--approver",
        "kim",
        "--reason",
        "ship it",
    )
    run = releaser.finish(arn)

    assert listed_code == EXIT_OK and releaser.pipeline_id in listed
    assert code == EXIT_OK
    assert "to add" in out and "Approved by kim" in out  # a one-region stage: no target named
    assert run.status == "SUCCEEDED"
    assert token not in listed + out


def test_cli_decision_errors_have_distinct_exit_codes(releaser, parked, capsys):
    arn, _ = parked
    app, pipeline = releaser.app, releaser.pipeline_id

    wrong, wrong_out = cli(
        capsys, "approve", "--app", app, "--pipeline-id", "424242", "--approver", "kim"
    )
    first, _ = cli(
        capsys,
        "reject",
        "--app",
        app,
        "--pipeline-id",
        pipeline,
        "--approver",
        "kim",
        "--reason",
        "not today",
    )
    again, again_out = cli(
        capsys, "approve", "--app", app, "--pipeline-id", pipeline, "--approver", "kim"
    )
    releaser.finish(arn)

    assert wrong == EXIT_NOT_FOUND and "stackrelay pending" in wrong_out
    assert first == EXIT_OK
    assert again == EXIT_DECIDED and "already rejected" in again_out
    assert "Traceback" not in wrong_out + again_out


def test_cli_approve_after_timeout_exits_expired(releaser, parked, capsys):
    arn, _ = parked
    releaser.engine.clock.advance(73 * 3600)
    releaser.finish(arn)

    code, out = cli(
        capsys,
        "approve",
        "--app",
        releaser.app,
        "--pipeline-id",
        releaser.pipeline_id,
        "--approver",
        "kim",
    )

    assert code in (EXIT_EXPIRED, EXIT_DECIDED)
    assert "expired" in out


def test_cli_approve_stale_change_set_exits_stale(releaser, parked, capsys):
    arn, _ = parked
    cfn = releaser.engine.client("cloudformation", account=PROD)
    stack = f"sr-{releaser.app}-prod"
    [summary] = cfn.list_change_sets(StackName=stack)["Summaries"]
    cfn.delete_change_set(ChangeSetName=summary["ChangeSetId"])

    code, out = cli(
        capsys,
        "approve",
        "--app",
        releaser.app,
        "--pipeline-id",
        releaser.pipeline_id,
        "--approver",
        "kim",
    )
    releaser.finish(arn)

    assert code == EXIT_STALE
    assert "Run the pipeline again" in out
