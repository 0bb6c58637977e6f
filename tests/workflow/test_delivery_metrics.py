"""Delivery metrics and the audit trail on the engine (issue #15, docs/metrics.md).

After the demo's story plus a failing release, `stackrelay metrics` shows non-zero
deployment frequency and lead time, and a change failure rate that counts the
failure; `stackrelay history` says who approved which change set, from which job,
and what happened next.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from stackrelay.naming import stack_name
from stackrelay_cli.errors import EXIT_INVALID, EXIT_OK, CliError
from stackrelay_cli.local import Release, run_story
from stackrelay_cli.main import main
from stackrelay_local import Fault

SAMPLE_APP = Path(__file__).resolve().parents[2] / "examples" / "aws-news"


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def demoed(local, releaser, monkeypatch, tmp_path):
    """The demo's story for this test's app, then a release whose staging rolls back."""
    monkeypatch.setenv("STACKRELAY_STACK", "stackrelay")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("USER", "dana")
    story = Release(local=local, app_dir=SAMPLE_APP, app=releaser.app, quiet=True)
    run_story(story)
    # The next commit adds a queue, and CloudFormation fails to create it.
    changed = tmp_path / "app"
    shutil.copytree(SAMPLE_APP, changed)
    template = changed / "template.yaml"
    template.write_text(
        template.read_text().replace(
            "Resources:\n", "Resources:\n  ExtraQueue:\n    Type: AWS::SQS::Queue\n", 1
        )
    )
    staging = stack_name("sr-", releaser.app, "staging")
    local.engine.faults.add(
        Fault.resource_failed(stack=staging, resource="ExtraQueue", reason="Limit exceeded")
    )
    changed_release = Release(local=local, app_dir=changed, app=releaser.app, quiet=True)
    changed_release.pipeline = story.pipeline
    artifact = changed_release.publish()
    local.engine.set_stack_seconds(20.0)
    with pytest.raises(CliError, match="StackRollback"):
        changed_release.start("main", artifact, "9f8e7d6c5b4a")
    return story


def test_metrics_after_demo_and_a_failing_release(releaser, demoed, capsys):
    code, out, _ = cli(capsys, "metrics", "--app", releaser.app, "--since", "7d", "--json")

    assert code == EXIT_OK
    found = json.loads(out)
    rows = {m["stage"]: m for m in found["metrics"]}
    assert set(rows) >= {"review", "staging", "prod"}
    prod, staging = rows["prod"], rows["staging"]
    assert prod["deployments"] >= 1 and prod["deployments_per_day"] > 0
    # The demo's start sends the commit's time (CI_COMMIT_TIMESTAMP in CI) through the
    # verified start function: lead time runs from it to prod deployed.
    assert prod["lead_time_samples"] >= 1
    assert prod["lead_time_median_seconds"] > 0
    history = [
        {k: r.get(k) for k in ("stage", "outcome", "error", "finished_at")}
        for r in json.loads(cli(capsys, "history", "--app", releaser.app, "--json")[1])
    ]
    assert staging["change_failures"] == 1, (found, history)
    assert staging["change_failure_rate"] == pytest.approx(0.5)
    assert staging["failing_since"] is not None
    assert found["period"]["days"] == pytest.approx(7, abs=0.01)

    code, out, _ = cli(capsys, "metrics", "--app", releaser.app)
    assert code == EXIT_OK
    assert "Delivery metrics" in out and "50%" in out


def test_history_answers_who_approved_what_from_which_job_and_what_happened(
    releaser, demoed, capsys
):
    code, out, _ = cli(capsys, "history", "--app", releaser.app, "--stage", "prod", "--json")

    assert code == EXIT_OK
    [prod] = json.loads(out)
    assert prod["approver"] == "dana"
    assert prod["approval_status"] == "approved"
    assert prod["change_set"] and prod["change_set_id"]
    assert prod["approved_at"] and prod["approved_at"] <= prod["finished_at"]
    assert prod["outcome"] == "deployed"

    code, out, _ = cli(capsys, "history", "--app", releaser.app, "--limit", "50")
    assert code == EXIT_OK
    assert "recent deployments" in out and "dana" in out
    assert "kept until deleted" in out


@pytest.mark.parametrize("since", ["yesterday", "2099-01-01", "0x"])
def test_metrics_bad_since_is_a_clear_error(since, capsys, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    code, _, err = cli(capsys, "metrics", "--since", since)
    assert code == EXIT_INVALID
    assert "--since" in err and "Traceback" not in err
