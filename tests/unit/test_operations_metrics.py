"""records.deployments_since / history(stage) and the operations function's metrics."""

from __future__ import annotations

from typing import Any

import pytest
from stackrelay import records
from stackrelay.errors import InvalidInput

T0 = 1_800_000_000.0


def put(table: Any, app: str, stage: str, outcome: str, at: float, **more: Any) -> None:
    records.put_deployment(
        table,
        {
            "app": app,
            "stage": stage,
            "account": "222222222222",
            "stack": f"sr-{app}-{stage}",
            "outcome": outcome,
            "finished_at": at,
            "pipeline_id": str(int(at)),
            **more,
        },
    )


@pytest.fixture
def filled(table: Any) -> Any:
    put(table, "news", "staging", "deployed", T0 - 40 * 86400)
    put(table, "news", "staging", "deployed", T0 - 3600, commit_timestamp="2027-01-15T06:00:00Z")
    put(table, "news", "prod", "failed", T0 - 1800, error="StackRollback")
    put(table, "news", "prod", "deployed", T0 - 600)
    put(table, "blog", "prod", "deployed", T0 - 300)
    return table


def test_deployments_since_one_app_and_all_apps(filled: Any) -> None:
    mine = records.deployments_since(filled, T0 - 86400, "news")
    assert sorted(r["outcome"] for r in mine) == ["deployed", "deployed", "failed"]
    every = records.deployments_since(filled, T0 - 86400)
    assert {r["app"] for r in every} == {"news", "blog"}
    assert all(r["kind"] == "deployment" for r in every)
    assert len(records.deployments_since(filled, T0 - 50 * 86400, "news")) == 4


def test_history_of_one_stage_fills_the_limit(filled: Any) -> None:
    prod = records.history(filled, "news", limit=5, stage="prod")
    assert [r["outcome"] for r in prod] == ["deployed", "failed"]
    assert len(records.history(filled, "news", limit=1, stage="staging")) == 1


def test_operations_metrics(filled: Any, task_module: Any, fake_clock: Any) -> None:
    ops = task_module("operations")
    fake_clock.t = T0
    found = ops.metrics(filled, ops.OperationsAction(action="metrics", app="news"))
    rows = {r["stage"]: r for r in found["metrics"]}
    assert rows["prod"]["change_failure_rate"] == 0.5
    assert rows["prod"]["time_to_restore_median_seconds"] == 1200
    assert rows["staging"]["deployments"] == 1  # the one 40 days ago is outside 30 days
    assert rows["staging"]["lead_time_samples"] == 1
    assert found["period"]["days"] == 30
    with pytest.raises(InvalidInput, match="future"):
        ops.metrics(filled, ops.OperationsAction(action="metrics", since=T0 + 10))
    history = ops.history(filled, ops.OperationsAction(action="history", app="news"))
    assert "kept until deleted" in history["retention"]
