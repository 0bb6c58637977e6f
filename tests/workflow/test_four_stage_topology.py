"""Issue #13's four-stage topology, end to end on the local engine with the real ASL.

review (111…/us-east-1) for feature refs; qa (222…/us-east-1), staging (222…/us-west-2)
and prod (333…/[us-east-1, eu-west-1], approval) for the protected default branch. The
engine's accounts and regions are the topology's; prod is a two-region wave, each
region approved with the digest of its own change set.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from stackrelay import statenames
from stackrelay.naming import stack_name
from stackrelay_cli import progress
from stackrelay_cli.local import LocalOrchestrator, bootstrap
from stackrelay_local import EngineConfig, LocalEngine

ROOT = Path(__file__).resolve().parents[2]
FOUR_STAGES = yaml.safe_load((ROOT / "examples" / "topologies" / "four-stages.yaml").read_text())
QA, PROD = "222222222222", "333333333333"


@pytest.fixture(scope="module")
def local() -> Iterator[LocalOrchestrator]:
    with LocalEngine(EngineConfig(stack_seconds=20.0, topology=FOUR_STAGES)) as engine:
        yield bootstrap(engine)


def _stack(releaser, account: str, region: str, name: str) -> dict:
    cfn = releaser.engine.client("cloudformation", account=account, region=region)
    return cfn.describe_stacks(StackName=name)["Stacks"][0]


def _code_buckets(releaser, account: str, region: str, stack: str) -> set[str]:
    """The S3 buckets the stack's Lambda functions were created from (moto's record)."""
    from moto.awslambda.models import lambda_backends

    cfn = releaser.engine.client("cloudformation", account=account, region=region)
    names = [
        r["PhysicalResourceId"]
        for r in cfn.describe_stack_resources(StackName=stack)["StackResources"]
        if r["ResourceType"] == "AWS::Lambda::Function"
    ]
    assert names
    backend = lambda_backends[account][region]
    return {backend.get_function(name).code["S3Bucket"] for name in names}


def _entered(releaser, arn: str, state: str) -> list[str]:
    """The targets that entered ``state`` (by the stage their input carries)."""
    found = []
    for event in progress.history(releaser.sfn, arn):
        details = event.get("stateEnteredEventDetails") or {}
        if details.get("name") == state:
            stage = progress._json(details.get("input")).get("stage") or {}
            found.append(stage.get("target"))
    return found


def test_engine_accounts_and_regions_come_from_the_topology(local) -> None:
    config = local.engine.config

    assert config.target_accounts() == ["111111111111", QA, PROD]
    assert config.places() == [
        ("111111111111", "us-east-1"),
        (QA, "us-east-1"),
        (QA, "us-west-2"),
        (PROD, "us-east-1"),
        (PROD, "eu-west-1"),
    ]
    # Every further region forwards its stack events to the orchestrator's region.
    for account, region in [(QA, "us-west-2"), (PROD, "eu-west-1")]:
        assert _stack_status(local, account, region, "stackrelay-target-region") == (
            "CREATE_COMPLETE"
        )


def _stack_status(local, account: str, region: str, name: str) -> str:
    cfn = local.engine.client("cloudformation", account=account, region=region)
    return str(cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"])


def test_feature_ref_deploys_only_the_review_stage(releaser) -> None:
    run = releaser.deploy("feature/topology")

    assert run.status == "SUCCEEDED"
    assert [(s["target"], s["account"], s["region"]) for s in run.output["stages"]] == [
        ("review", "111111111111", "us-east-1")
    ]


def test_release_runs_qa_staging_then_prod_wave_with_an_approval_per_region(releaser) -> None:
    artifact = releaser.publish()
    arn = releaser.start(releaser.request("main", artifact))

    # prod waits twice, once per region: each approval shows its own change set.
    releaser.wait_approval(arn)
    first = releaser.approve()
    releaser.wait_approval(arn)
    second = releaser.approve()
    run = releaser.finish(arn)

    assert run.status == "SUCCEEDED", run.cause
    assert {first["approval"]["stage"], second["approval"]["stage"]} == {
        "prod.us-east-1",
        "prod.eu-west-1",
    }
    assert [
        (s["stage"], s["target"], s["account"], s["region"], s["outcome"])
        for s in run.output["stages"]
    ] == [
        ("qa", "qa", QA, "us-east-1", "deployed"),
        ("staging", "staging", QA, "us-west-2", "deployed"),
        ("prod", "prod.us-east-1", PROD, "us-east-1", "deployed"),
        ("prod", "prod.eu-west-1", PROD, "eu-west-1", "deployed"),
    ]
    prod = stack_name("sr-", releaser.app, "prod")
    for region in ("us-east-1", "eu-west-1"):
        stack = _stack(releaser, PROD, region, prod)
        assert stack["StackStatus"] == "CREATE_COMPLETE"
        assert stack["EnableTerminationProtection"] is True
    staging = stack_name("sr-", releaser.app, "staging")
    assert _stack(releaser, QA, "us-west-2", staging)["StackStatus"] == "CREATE_COMPLETE"
    # Lambda reads code only in its own region: each region's functions read the copy in
    # that region's artifact bucket (artifacts.regional_bucket), home the bucket itself.
    assert _code_buckets(releaser, PROD, "eu-west-1", prod) == {
        f"{releaser.local.bucket}-eu-west-1"
    }
    assert _code_buckets(releaser, PROD, "us-east-1", prod) == {releaser.local.bucket}
    assert _code_buckets(releaser, QA, "us-west-2", staging) == {
        f"{releaser.local.bucket}-us-west-2"
    }
    # Each region learnt its stack was done from the forwarded event, not by polling.
    assert _entered(releaser, arn, statenames.CHECK_STACK) == []
    assert sorted(_entered(releaser, arn, statenames.AWAIT_STACK_EVENT)) == [
        "prod.eu-west-1",
        "prod.us-east-1",
        "qa",
        "staging",
    ]
    # The CLI's view: every stage x region, each with its outcome.
    assert [(s.target, s.state, s.outcome) for s in run.progress.stages] == [
        ("qa", "succeeded", "deployed"),
        ("staging", "succeeded", "deployed"),
        ("prod.us-east-1", "succeeded", "deployed"),
        ("prod.eu-west-1", "succeeded", "deployed"),
    ]


def test_records_of_a_wave_are_per_region(releaser) -> None:
    artifact = releaser.publish()
    arn = releaser.start(releaser.request("main", artifact))
    for _ in range(2):
        releaser.wait_approval(arn)
        releaser.approve()
    assert releaser.finish(arn).status == "SUCCEEDED"

    history = [
        (r["target"], r["region"], r["outcome"])
        for r in releaser.table().query(
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": f"APP#{releaser.app}"},
        )["Items"]
        if r.get("kind") == "deployment"
    ]
    assert sorted(history) == [
        ("prod.eu-west-1", "eu-west-1", "deployed"),
        ("prod.us-east-1", "us-east-1", "deployed"),
        ("qa", "us-east-1", "deployed"),
        ("staging", "us-west-2", "deployed"),
    ]


def _waiting_approvals(releaser, arn: str, count: int) -> list[dict]:
    """The app's approvals once ``count`` regions wait on theirs (each stores its own).

    Woken by the engine when a callback parks, not by sleeping in real time."""
    parked = releaser.engine.runtime.parked

    def waiting() -> bool:
        return len(parked.tokens(arn, statenames.WAIT_FOR_APPROVAL)) >= count

    assert parked.wait_for(waiting, timeout=120), f"{count} regions did not wait for approval"
    return [
        i
        for i in releaser.table().scan()["Items"]
        if i.get("kind") == "approval" and i.get("app") == releaser.app
    ]


def test_cli_approve_stage_shows_and_approves_every_region_with_its_digest(
    releaser, monkeypatch, capsys
) -> None:
    from stackrelay_cli.main import main

    monkeypatch.setenv("STACKRELAY_STACK", "stackrelay")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    token = releaser.token("main", user_login="kim", environment="production")
    monkeypatch.setenv("STACKRELAY_IDENTITY_TOKEN", token)
    arn = releaser.start(releaser.request("main", releaser.publish()))
    waiting = _waiting_approvals(releaser, arn, 2)
    assert sorted(i["sk"] for i in waiting) == ["prod.eu-west-1", "prod.us-east-1"]
    capsys.readouterr()

    code = main(
        ["approve", "--app", releaser.app, "--pipeline-id", releaser.pipeline_id, "--stage", "prod"]
    )

    out = capsys.readouterr().out
    assert code == 0
    assert "Approved prod.eu-west-1 by kim" in out and "Approved prod.us-east-1 by kim" in out
    run = releaser.finish(arn)
    assert run.status == "SUCCEEDED", run.cause
    assert {s["target"]: s["approver"] for s in run.output["stages"] if s["stage"] == "prod"} == {
        "prod.us-east-1": "kim",
        "prod.eu-west-1": "kim",
    }
