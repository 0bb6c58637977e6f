"""Review stacks and the reaper (issues 5.4, 5.5): list with branch, age and URL; the daily
reaper tears down only review stacks not deployed for ReviewRetentionDays."""

from __future__ import annotations

from review_fixtures import (
    dev,
    invoke,
    publish,
    review_stack,
    stack_status,
    start_teardown,
    stop,
)

DAY = 86400


def reviews(releaser, stale=False):
    return invoke(
        releaser,
        "OperationsFunctionName",
        {"action": "reviews", "app": releaser.app, "stale": stale},
    )


def test_reviews_list_branch_url_and_drop_torn_down_stacks(releaser, tmp_path):
    artifact = publish(releaser, tmp_path)
    for ref in ("feature/listed", "feature/gone"):
        assert releaser.deploy(ref, artifact).status == "SUCCEEDED"
    assert releaser.finish(start_teardown(releaser, "feature/gone")).status == "SUCCEEDED"

    found = reviews(releaser)

    [row] = found["reviews"]
    assert row["ref"] == "feature/listed"
    assert row["stack"] == review_stack(releaser, "feature/listed")
    assert row["account"] == dev(releaser)
    assert row["outcome"] == "deployed"
    assert row["stale"] is False
    # The ReviewUrlOutput output (ApiUrl) of the stack, as CloudFormation resolved it.
    stack = releaser.stack(dev(releaser), row["stack"])
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert row["url"] == outputs["ApiUrl"]
    assert row["url"].startswith("https://") and row["url"].endswith("/review")
    assert found["retention_days"] == 7


def test_reaper_tears_down_only_stale_review_stacks(releaser, tmp_path):
    artifact = publish(releaser, tmp_path)
    old = ["feature/old-one", "fix/Old_Two"]
    for ref in old:
        assert releaser.deploy(ref, artifact).status == "SUCCEEDED"
    releaser.engine.clock.advance(8 * DAY)
    assert releaser.deploy("feature/fresh", artifact).status == "SUCCEEDED"
    stale = reviews(releaser, stale=True)["reviews"]
    assert sorted(r["ref"] for r in stale) == sorted(old)

    reaped = invoke(releaser, "ReaperFunctionName", {})

    mine = [s for s in reaped["started"] if s["stack"].startswith(f"sr-{releaser.app}-")]
    assert sorted(s["stack"] for s in mine) == sorted(review_stack(releaser, r) for r in old)
    assert reaped["pipeline_id"].startswith("reaper-")
    runs = [releaser.finish(s["executionArn"]) for s in mine]
    assert [r.status for r in runs] == ["SUCCEEDED"] * len(old), [r.cause for r in runs]
    for ref in old:
        assert (
            stack_status(releaser, dev(releaser), review_stack(releaser, ref)) == "DELETE_COMPLETE"
        )
    fresh = review_stack(releaser, "feature/fresh")
    assert stack_status(releaser, dev(releaser), fresh) == "CREATE_COMPLETE"
    assert [r["ref"] for r in reviews(releaser)["reviews"]] == ["feature/fresh"]
    assert reviews(releaser, stale=True)["reviews"] == []


def test_reaper_leaves_staging_and_prod_alone_however_old(releaser, tmp_path):
    arn = releaser.start(releaser.request("main", publish(releaser, tmp_path)))
    releaser.wait_approval(arn)  # staging deployed, prod change set waiting
    stop(releaser, arn)
    releaser.engine.clock.advance(30 * DAY)

    reaped = invoke(releaser, "ReaperFunctionName", {})

    assert [s for s in reaped["started"] if s["stack"].startswith(f"sr-{releaser.app}-")] == []
    account = releaser.engine.config.accounts["staging"]
    assert stack_status(releaser, account, f"sr-{releaser.app}-staging") == "CREATE_COMPLETE"
