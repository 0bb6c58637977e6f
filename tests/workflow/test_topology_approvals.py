"""An approval stage in two regions deployed one at a time (concurrency 1): the second
region asks for its approval only when the first is done, and the approve job (with
--wait) decides both, each with the digest of its own change set."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from stackrelay_cli import commands
from stackrelay_cli.local import LocalOrchestrator, bootstrap
from stackrelay_cli.main import main
from stackrelay_local import EngineConfig, LocalEngine

TOPOLOGY = {
    "stages": [
        {"name": "review", "account": "111111111111", "regions": ["us-east-1"], "trust": "review"},
        {
            "name": "prod",
            "account": "333333333333",
            "regions": ["us-east-1", "eu-west-1"],
            "approval": True,
            "concurrency": 1,
        },
    ]
}


@pytest.fixture(scope="module")
def local() -> Iterator[LocalOrchestrator]:
    with LocalEngine(EngineConfig(stack_seconds=20.0, topology=TOPOLOGY)) as engine:
        yield bootstrap(engine)


def test_approve_job_waits_for_each_region_of_a_sequential_wave(
    releaser, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("STACKRELAY_STACK", "stackrelay")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    token = releaser.token("main", user_login="kim", environment="production")
    monkeypatch.setenv("STACKRELAY_IDENTITY_TOKEN", token)
    monkeypatch.setattr(commands, "APPROVE_POLL", 0.05)
    arn = releaser.start(releaser.request("main", releaser.publish()))
    releaser.wait_approval(arn)
    waiting = releaser.invoke(
        "ApprovalFunctionName", {"action": "list", "app": releaser.app, "id_token": token}
    )["approvals"]
    assert [a["stage"] for a in waiting] == ["prod.us-east-1"]  # one region at a time
    capsys.readouterr()

    code = main(
        [
            "approve",
            "--app",
            releaser.app,
            "--pipeline-id",
            releaser.pipeline_id,
            "--stage",
            "prod",
            "--wait",
            "300",
        ]
    )

    out = capsys.readouterr().out
    assert code == 0
    assert out.index("Approved prod.us-east-1 by kim") < out.index("Approved prod.eu-west-1 by kim")
    run = releaser.finish(arn)
    assert run.status == "SUCCEEDED", run.cause
    assert [(s["target"], s["outcome"], s["approver"]) for s in run.output["stages"]] == [
        ("prod.us-east-1", "deployed", "kim"),
        ("prod.eu-west-1", "deployed", "kim"),
    ]
