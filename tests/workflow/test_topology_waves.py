"""Waves: a stage's regions deploy together under its failure policy; stages are data.

``strict`` tolerates no region failure, ``lenient`` one; ``canary`` is a stage no
product code knows: it exists only in this topology.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from review_fixtures import start_teardown
from stackrelay.naming import stack_name
from stackrelay_cli.local import LocalOrchestrator, bootstrap
from stackrelay_local import EngineConfig, Fault, LocalEngine

ROOT = Path(__file__).resolve().parents[2]
NEW_STAGE = "canary"
STRICT, LENIENT, CANARY = "222222222222", "333333333333", "444444444444"
TOPOLOGY = {
    "stages": [
        {
            "name": "review",
            "account": "111111111111",
            "regions": ["us-east-1", "eu-west-1"],
            "trust": "review",
        },
        {"name": "strict", "account": STRICT, "regions": ["us-east-1", "eu-west-1"]},
        {
            "name": "lenient",
            "account": LENIENT,
            "regions": ["us-east-1", "eu-west-1"],
            "tolerate": 1,
        },
        {"name": NEW_STAGE, "account": CANARY, "regions": ["ap-south-1"]},
    ]
}


@pytest.fixture(scope="module")
def local() -> Iterator[LocalOrchestrator]:
    with LocalEngine(EngineConfig(stack_seconds=20.0, topology=TOPOLOGY)) as engine:
        yield bootstrap(engine)


def _stacks(releaser, account: str, region: str) -> list[str]:
    cfn = releaser.engine.client("cloudformation", account=account, region=region)
    return [
        s["StackName"]
        for s in cfn.list_stacks()["StackSummaries"]
        if s["StackName"].startswith(f"sr-{releaser.app}-")
        and s["StackStatus"] != "DELETE_COMPLETE"
    ]


def _status(releaser, account: str, region: str, name: str) -> str:
    cfn = releaser.engine.client("cloudformation", account=account, region=region)
    return str(cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"])


def test_region_failure_beyond_tolerance_fails_release_later_stages_never_start(
    releaser,
) -> None:
    strict = stack_name("sr-", releaser.app, "strict")
    releaser.engine.faults.add(
        Fault.resource_failed(
            stack=strict, region="eu-west-1", resource="NewsTable", reason="Table limit exceeded"
        )
    )

    run = releaser.deploy("main")

    assert run.status == "FAILED"
    assert run.error == "StackRollback"
    assert "strict.eu-west-1" in run.cause and "Table limit exceeded" in run.cause
    # The sibling region was not stopped mid-operation: it finished and is recorded.
    assert _status(releaser, STRICT, "us-east-1", strict) == "CREATE_COMPLETE"
    targets = {s.target: (s.state, s.outcome) for s in run.progress.stages}
    assert targets["strict.us-east-1"] == ("succeeded", "deployed")
    assert targets["strict.eu-west-1"][0] == "failed"
    # The next stage never started, in any region.
    assert targets["lenient.us-east-1"][0] == targets["lenient.eu-west-1"][0] == "queued"
    assert _stacks(releaser, LENIENT, "us-east-1") == _stacks(releaser, LENIENT, "eu-west-1") == []
    assert _stacks(releaser, CANARY, "ap-south-1") == []


def test_region_failure_within_tolerance_release_goes_on_to_a_stage_only_configured(
    releaser,
) -> None:
    lenient = stack_name("sr-", releaser.app, "lenient")
    releaser.engine.faults.add(
        Fault.resource_failed(stack=lenient, region="eu-west-1", reason="Quota exceeded")
    )

    run = releaser.deploy("main")

    assert run.status == "SUCCEEDED", run.cause
    assert [(s["target"], s["outcome"]) for s in run.output["stages"]] == [
        ("strict.us-east-1", "deployed"),
        ("strict.eu-west-1", "deployed"),
        ("lenient.us-east-1", "deployed"),
        ("lenient.eu-west-1", "failed"),
        (NEW_STAGE, "deployed"),
    ]
    failed = run.output["stages"][3]
    assert failed["error"] == "StackRollback" and "Quota exceeded" in failed["reason"]
    # The new stage: its own account and region, named by the topology alone.
    canary = stack_name("sr-", releaser.app, NEW_STAGE)
    assert _stacks(releaser, CANARY, "ap-south-1") == [canary]
    assert _status(releaser, CANARY, "ap-south-1", canary) == "CREATE_COMPLETE"


def test_new_stage_name_appears_in_no_product_file() -> None:
    # Adding a stage is configuration only: no code under functions/ or scripts/ names it.
    tracked = subprocess.run(
        ["git", "ls-files", "functions", "scripts"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert len(tracked) > 50  # the scan is not vacuous
    naming = [path for path in tracked if NEW_STAGE in (ROOT / path).read_text(errors="replace")]
    assert naming == []


def test_review_stage_in_two_regions_deploys_both_and_teardown_deletes_both(releaser) -> None:
    review = stack_name("sr-", releaser.app, "review", "feature/two")

    deployed = releaser.deploy("feature/two")

    assert deployed.status == "SUCCEEDED", deployed.cause
    assert [(s["target"], s["outcome"]) for s in deployed.output["stages"]] == [
        ("review.us-east-1", "deployed"),
        ("review.eu-west-1", "deployed"),
    ]
    for region in ("us-east-1", "eu-west-1"):
        assert _stacks(releaser, "111111111111", region) == [review]

    run = releaser.finish(start_teardown(releaser, "feature/two"))

    assert run.status == "SUCCEEDED", run.cause
    assert [(s["target"], s["outcome"]) for s in run.output["stages"]] == [
        ("review.us-east-1", "deleted"),
        ("review.eu-west-1", "deleted"),
    ]
    for region in ("us-east-1", "eu-west-1"):
        assert _stacks(releaser, "111111111111", region) == []
