"""The fixture state machine on the engine: real ASL, real handlers, simulated time."""

from __future__ import annotations

import json
from typing import Any

import pytest
from stackrelay_local import LocalEngine

AppEngine = tuple[LocalEngine, dict[str, str]]


def _start(engine: LocalEngine, outputs: dict[str, str], name: str, **payload: Any) -> str:
    sfn = engine.client("stepfunctions")
    body = {"items": [{"name": "a"}, {"name": "b"}], "flaky": "ok", **payload}
    return str(
        sfn.start_execution(
            stateMachineArn=outputs["StateMachineArn"], name=name, input=json.dumps(body)
        )["executionArn"]
    )


def _approve(engine: LocalEngine, arn: str, approved: bool = True) -> None:
    token = engine.wait_parked(arn)
    engine.client("stepfunctions").send_task_success(
        taskToken=token, output=json.dumps({"approved": approved})
    )


def _entered(engine: LocalEngine, arn: str) -> list[str]:
    events = engine.client("stepfunctions").get_execution_history(executionArn=arn)["events"]
    return [
        e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e
    ]


def test_execution_fixture_flow_history_shows_every_state(app_engine: AppEngine) -> None:
    engine, outputs = app_engine
    arn = _start(engine, outputs, "happy")
    _approve(engine, arn)
    result = engine.wait_execution(arn)

    assert result["status"] == "SUCCEEDED"
    output = json.loads(result["output"])
    assert output["recorded"] == [{"id": "item-a"}, {"id": "item-b"}]
    assert _entered(engine, arn) == [
        "Has Items?",
        "Record Items",
        "Record Item",
        "Record Item",
        "Wait For Settle",
        "Call Flaky",
        "Request Approval",
        "Is Approved?",
        "Done",
    ]


def test_execution_wait_and_retry_backoff_advance_simulated_clock(app_engine: AppEngine) -> None:
    engine, outputs = app_engine
    before = engine.clock.now()
    arn = _start(engine, outputs, "transient", flaky="transient")
    _approve(engine, arn)
    result = engine.wait_execution(arn)

    assert result["status"] == "SUCCEEDED"
    assert json.loads(result["output"])["flakyResult"] == {"attempt": 2}
    # Wait For Settle (60 s) + one Retry interval (10 s), on the simulated clock.
    assert engine.clock.now() - before >= 70


def test_execution_domain_error_is_caught_by_asl_catch(app_engine: AppEngine) -> None:
    engine, outputs = app_engine
    arn = _start(engine, outputs, "fails", flaky="fail")
    _approve(engine, arn)
    result = engine.wait_execution(arn)

    output = json.loads(result["output"])
    assert output["flakyResult"] == "caught"
    assert output["error"]["Error"] == "FlakyError"
    assert "Note Flaky Failure" in _entered(engine, arn)


def test_execution_empty_input_takes_choice_default(app_engine: AppEngine) -> None:
    engine, outputs = app_engine
    arn = engine.client("stepfunctions").start_execution(
        stateMachineArn=outputs["StateMachineArn"], name="empty", input="{}"
    )["executionArn"]
    result = engine.wait_execution(arn)
    assert (result["status"], result["error"]) == ("FAILED", "InvalidInput")


def test_execution_rejected_approval_fails_with_named_error(app_engine: AppEngine) -> None:
    engine, outputs = app_engine
    arn = _start(engine, outputs, "rejected")
    _approve(engine, arn, approved=False)
    result = engine.wait_execution(arn)
    assert (result["status"], result["error"]) == ("FAILED", "ApprovalRejected")


def test_wait_parked_token_matches_the_one_the_handler_stored(app_engine: AppEngine) -> None:
    engine, outputs = app_engine
    arn = _start(engine, outputs, "parked")
    token = engine.wait_parked(arn)
    item = engine.client("dynamodb").get_item(
        TableName=outputs["TableName"], Key={"pk": {"S": "approval"}}
    )["Item"]
    assert item["token"]["S"] == token
    assert item["execution"]["S"] == arn
    assert (
        engine.client("stepfunctions").describe_execution(executionArn=arn)["status"] == "RUNNING"
    )


def test_lambda_invoke_handler_exception_is_lambda_shaped(app_engine: AppEngine) -> None:
    engine, _outputs = app_engine
    lam = engine.client("lambda")
    flaky = next(
        f["FunctionArn"] for f in lam.list_functions()["Functions"] if "Flaky" in f["FunctionName"]
    )
    reply = lam.invoke(FunctionName=flaky, Payload=json.dumps({"mode": "fail"}))
    body = json.loads(reply["Payload"].read())
    assert reply["FunctionError"] == "Handled"
    assert body["errorType"] == "FlakyError"
    assert body["errorMessage"].startswith("flaky failed on attempt")
    assert any("flaky_handler" in line for line in body["stackTrace"])


def test_engine_stop_drains_parked_executions(fixture_app: Any) -> None:
    engine = LocalEngine().start()
    try:
        outputs = engine.deploy_app(fixture_app, stack_name="drain")
        arn = _start(engine, outputs, "left-parked")
        engine.wait_parked(arn)
    finally:
        engine.stop()
    assert engine.runtime.parked.all() == {}


@pytest.mark.parametrize("name", ["a", "b"])
def test_handler_cold_start_reads_function_environment(app_engine: AppEngine, name: str) -> None:
    engine, outputs = app_engine
    reply = engine.client("lambda").invoke(
        FunctionName=outputs["RecordFunctionArn"], Payload=json.dumps({"name": name})
    )
    body = json.loads(reply["Payload"].read())
    assert body["stage"] == "dev"
    assert body["remaining_ms"] == 10_000


def test_handler_output_goes_to_cloudwatch_logs_not_the_terminal(
    app_engine: AppEngine, capfd: pytest.CaptureFixture[str]
) -> None:
    engine, outputs = app_engine
    lam = engine.client("lambda")
    lam.invoke(FunctionName=outputs["RecordFunctionArn"], Payload=json.dumps({"name": "logs"}))
    name = outputs["RecordFunctionArn"].rsplit(":", 1)[-1]

    logs = engine.client("logs")
    streams = logs.describe_log_streams(logGroupName=f"/aws/lambda/{name}")["logStreams"]
    events = logs.get_log_events(
        logGroupName=f"/aws/lambda/{name}", logStreamName=streams[0]["logStreamName"]
    )["events"]

    assert any('"item":"item-logs"' in e["message"] for e in events)
    assert "item-logs" not in capfd.readouterr().out
