"""Accounts, sessions and the simulated clock."""

from __future__ import annotations

import pytest
from stackrelay_local import EngineConfig, LocalEngine


@pytest.mark.parametrize(
    ("account", "expected"),
    [
        ("orchestrator", "123456789012"),
        ("dev", "111111111111"),
        ("staging", "222222222222"),
        ("prod", "333333333333"),
        ("444444444444", "444444444444"),
    ],
)
def test_session_account_name_acts_in_that_account(
    local_engine: LocalEngine, account: str, expected: str
) -> None:
    identity = local_engine.session(account).client("sts").get_caller_identity()
    assert identity["Account"] == expected


def test_session_staging_client_cannot_see_dev_stacks_or_buckets(
    local_engine: LocalEngine, queue_template: str
) -> None:
    dev_cfn = local_engine.client("cloudformation", "dev")
    dev_cfn.create_stack(StackName="only-in-dev", TemplateBody=queue_template)
    local_engine.client("s3", "dev").create_bucket(Bucket="dev-only-bucket")

    staging_cfn = local_engine.client("cloudformation", "staging")
    assert [s["StackName"] for s in dev_cfn.describe_stacks()["Stacks"]] == ["only-in-dev"]
    assert staging_cfn.describe_stacks()["Stacks"] == []
    assert local_engine.client("s3", "staging").list_buckets()["Buckets"] == []


def test_config_unknown_account_name_raises_with_choices() -> None:
    with pytest.raises(ValueError, match="orchestrator, dev, staging, prod"):
        EngineConfig().account_id("qa")


def test_config_custom_accounts_are_used(queue_template: str) -> None:
    cfg = EngineConfig(accounts={"dev": "999999999999"})
    with LocalEngine(cfg) as engine:
        identity = engine.session("dev").client("sts").get_caller_identity()
    assert identity["Account"] == "999999999999"


def test_clock_advance_moves_simulated_time_only(local_engine: LocalEngine) -> None:
    start = local_engine.clock.now()
    local_engine.clock.advance(3600)
    assert local_engine.clock.now() == pytest.approx(start + 3600)
    with pytest.raises(ValueError):
        local_engine.clock.advance(-1)


def test_clock_advance_to_never_moves_backwards(local_engine: LocalEngine) -> None:
    start = local_engine.clock.now()
    local_engine.clock.advance_to(start + 100)
    local_engine.clock.advance_to(start + 50)
    assert local_engine.clock.now() == pytest.approx(start + 100)


def test_engine_second_engine_in_process_refused(local_engine: LocalEngine) -> None:
    with pytest.raises(RuntimeError, match="another local engine"):
        LocalEngine().start()


def test_product_clock_follows_engine_clock_and_is_restored_at_stop() -> None:
    from stackrelay import clock as product_clock

    with LocalEngine() as engine:
        engine.clock.advance(7 * 24 * 3600)
        assert product_clock.now() == engine.clock.now()
    assert abs(product_clock.now() - engine.clock.now()) > 24 * 3600
