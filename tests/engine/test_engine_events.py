"""EventBridge on the engine: targets, cross-account buses, service events, faults."""

from __future__ import annotations

import io
import json
import threading
import zipfile
from typing import Any

import pytest
from stackrelay_local import Fault, LocalEngine
from stackrelay_local.events import bus_admits

HANDLER = """
import json, os, boto3

def handler(event, context):
    if isinstance(event, dict) and event.get("detail", {}).get("fail"):
        raise RuntimeError("asked to fail")
    sqs = boto3.client("sqs")
    sqs.send_message(QueueUrl=os.environ["QUEUE_URL"], MessageBody=json.dumps(event))
    return {"ok": True}
"""


def _zip(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", source)
    return buffer.getvalue()


def _queue(engine: LocalEngine, name: str, account: str = "orchestrator") -> tuple[str, str]:
    sqs = engine.client("sqs", account)
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return url, arn


def _messages(engine: LocalEngine, url: str, account: str = "orchestrator") -> list[Any]:
    sqs = engine.client("sqs", account)
    found: list[Any] = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return found
        for message in got:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def _settle(engine: LocalEngine, seconds: float = 1.0) -> None:
    """Let simulated time pass and every delivery due by then run."""
    engine.clock.advance(seconds)
    assert engine.events.wait_idle(30)


def _function(engine: LocalEngine, name: str, queue_url: str, rule_arn: str | None) -> str:
    iam = engine.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role = iam.create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument=json.dumps(trust))
    lam = engine.client("lambda")
    arn = lam.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=role["Role"]["Arn"],
        Handler="app.handler",
        Code={"ZipFile": _zip(HANDLER)},
        Environment={"Variables": {"QUEUE_URL": queue_url}},
    )["FunctionArn"]
    if rule_arn is not None:
        lam.add_permission(
            FunctionName=name,
            StatementId="events",
            Action="lambda:InvokeFunction",
            Principal="events.amazonaws.com",
            SourceArn=rule_arn,
        )
    return str(arn)


def _rule(
    engine: LocalEngine,
    name: str,
    pattern: dict[str, Any],
    account: str = "orchestrator",
    bus: str = "default",
) -> str:
    events = engine.client("events", account)
    return str(
        events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps(pattern))["RuleArn"]
    )


def _put(
    engine: LocalEngine,
    detail: dict[str, Any],
    account: str = "orchestrator",
    bus: str = "default",
    source: str = "test.app",
) -> None:
    entries = engine.client("events", account).put_events(
        Entries=[
            {
                "Source": source,
                "DetailType": "Thing Happened",
                "Detail": json.dumps(detail),
                "EventBusName": bus,
            }
        ]
    )
    assert entries["FailedEntryCount"] == 0


def test_events_lambda_target_runs_real_handler_asynchronously(local_engine: LocalEngine) -> None:
    engine = local_engine
    url, _ = _queue(engine, "seen")
    rule_arn = _rule(engine, "to-fn", {"source": ["test.app"]})
    fn_arn = _function(engine, "sink", url, rule_arn)
    engine.client("events").put_targets(Rule="to-fn", Targets=[{"Id": "fn", "Arn": fn_arn}])

    _put(engine, {"n": 1})
    # Asynchronous: nothing has run until the delivery latency has passed.
    assert _messages(engine, url) == []
    _settle(engine)

    [event] = _messages(engine, url)
    assert (event["source"], event["detail-type"], event["detail"]) == (
        "test.app",
        "Thing Happened",
        {"n": 1},
    )
    assert event["account"] == engine.config.orchestrator_account
    assert event["time"].endswith("Z")
    [delivery] = engine.events.deliveries(target=fn_arn)
    assert delivery.outcome == "delivered"


def test_events_lambda_without_permission_is_refused(local_engine: LocalEngine) -> None:
    engine = local_engine
    url, _ = _queue(engine, "seen")
    _rule(engine, "to-fn", {"source": ["test.app"]})
    fn_arn = _function(engine, "sink", url, rule_arn=None)
    engine.client("events").put_targets(Rule="to-fn", Targets=[{"Id": "fn", "Arn": fn_arn}])

    _put(engine, {"n": 1})
    _settle(engine)

    assert _messages(engine, url) == []
    [delivery] = engine.events.deliveries(target=fn_arn)
    assert delivery.outcome == "refused"
    assert "AWS::Lambda::Permission" in delivery.reason


def test_events_failed_lambda_is_retried_twice_later(local_engine: LocalEngine) -> None:
    engine = local_engine
    url, _ = _queue(engine, "seen")
    rule_arn = _rule(engine, "to-fn", {"source": ["test.app"]})
    fn_arn = _function(engine, "sink", url, rule_arn)
    engine.client("events").put_targets(Rule="to-fn", Targets=[{"Id": "fn", "Arn": fn_arn}])

    _put(engine, {"fail": True})
    for _ in range(4):
        _settle(engine, 130)

    attempts = [(d.attempt, d.outcome) for d in engine.events.deliveries(target=fn_arn)]
    assert attempts == [(1, "failed"), (2, "failed"), (3, "failed")]


def test_events_disabled_rule_delivers_nothing(local_engine: LocalEngine) -> None:
    engine = local_engine
    url, queue_arn = _queue(engine, "seen")
    _rule(engine, "off", {"source": ["test.app"]})
    events = engine.client("events")
    events.put_targets(Rule="off", Targets=[{"Id": "q", "Arn": queue_arn}])
    events.disable_rule(Name="off")

    _put(engine, {"n": 1})
    _settle(engine)

    assert _messages(engine, url) == []


def test_events_schedule_rule_matches_no_event(local_engine: LocalEngine) -> None:
    """A rule with only a schedule (the reaper's daily rate) is never an event's target."""
    engine = local_engine
    url, queue_arn = _queue(engine, "scheduled")
    events = engine.client("events")
    events.put_rule(Name="daily", ScheduleExpression="rate(1 day)")
    events.put_targets(Rule="daily", Targets=[{"Id": "q", "Arn": queue_arn}])
    _rule(engine, "matching", {"source": ["test.app"]})
    events.put_targets(Rule="matching", Targets=[{"Id": "q", "Arn": queue_arn}])

    _put(engine, {"n": 1})
    _settle(engine)

    assert [m["detail"] for m in _messages(engine, url)] == [{"n": 1}]


def test_events_sqs_target_gets_input_path(local_engine: LocalEngine) -> None:
    engine = local_engine
    url, queue_arn = _queue(engine, "seen")
    _rule(engine, "to-q", {"source": ["test.app"]})
    engine.client("events").put_targets(Rule="to-q", Targets=[{"Id": "q", "Arn": queue_arn}])
    _put(engine, {"n": 2})
    _settle(engine)

    [event] = _messages(engine, url)
    assert event["detail"] == {"n": 2}


def test_events_sns_target_fans_out_to_sqs_subscription(local_engine: LocalEngine) -> None:
    engine = local_engine
    url, queue_arn = _queue(engine, "from-topic")
    sns = engine.client("sns")
    topic = sns.create_topic(Name="t")["TopicArn"]
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    _rule(engine, "to-topic", {"source": ["test.app"]})
    engine.client("events").put_targets(Rule="to-topic", Targets=[{"Id": "t", "Arn": topic}])

    _put(engine, {"n": 3})
    _settle(engine)

    [event] = _messages(engine, url)
    assert event["detail"] == {"n": 3}


def test_events_sns_target_invokes_lambda_subscription(local_engine: LocalEngine) -> None:
    engine = local_engine
    url, _ = _queue(engine, "seen")
    fn_arn = _function(engine, "sub", url, rule_arn=None)
    sns = engine.client("sns")
    topic = sns.create_topic(Name="t")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=fn_arn)
    _rule(engine, "to-topic", {"source": ["test.app"]})
    engine.client("events").put_targets(Rule="to-topic", Targets=[{"Id": "t", "Arn": topic}])

    _put(engine, {"n": 4})
    _settle(engine)

    [record] = _messages(engine, url)
    assert json.loads(record["Records"][0]["Sns"]["Message"])["detail"] == {"n": 4}


def test_events_state_machine_target_starts_execution_and_emits_status_events(
    local_engine: LocalEngine,
) -> None:
    engine = local_engine
    url, queue_arn = _queue(engine, "status")
    sfn = engine.client("stepfunctions")
    machine = sfn.create_state_machine(
        name="m",
        roleArn="arn:aws:iam::123456789012:role/sfn",
        definition=json.dumps(
            {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
        ),
    )["stateMachineArn"]
    _rule(engine, "start-m", {"source": ["test.app"]})
    _rule(engine, "sfn-status", {"source": ["aws.states"]})
    events = engine.client("events")
    events.put_targets(
        Rule="start-m",
        Targets=[{"Id": "m", "Arn": machine, "RoleArn": "arn:aws:iam::123456789012:role/ev"}],
    )
    events.put_targets(Rule="sfn-status", Targets=[{"Id": "q", "Arn": queue_arn}])

    _put(engine, {"n": 5})
    _settle(engine)
    [execution] = sfn.list_executions(stateMachineArn=machine)["executions"]
    engine.wait_execution(execution["executionArn"])
    _settle(engine)

    seen = _messages(engine, url)
    assert [e["detail"]["status"] for e in seen] == ["RUNNING", "SUCCEEDED"]
    assert all(e["detail-type"] == "Step Functions Execution Status Change" for e in seen)
    assert seen[0]["resources"] == [execution["executionArn"]]
    assert json.loads(seen[0]["detail"]["input"])["detail"] == {"n": 5}
    assert seen[1]["detail"]["stopDate"] >= seen[1]["detail"]["startDate"]


def test_events_state_machine_target_without_role_is_refused(local_engine: LocalEngine) -> None:
    engine = local_engine
    sfn = engine.client("stepfunctions")
    machine = sfn.create_state_machine(
        name="m",
        roleArn="arn:aws:iam::123456789012:role/sfn",
        definition=json.dumps(
            {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
        ),
    )["stateMachineArn"]
    _rule(engine, "start-m", {"source": ["test.app"]})
    engine.client("events").put_targets(Rule="start-m", Targets=[{"Id": "m", "Arn": machine}])

    _put(engine, {"n": 5})
    _settle(engine)

    assert sfn.list_executions(stateMachineArn=machine)["executions"] == []
    [delivery] = engine.events.deliveries(target=machine)
    assert (delivery.outcome, "RoleArn" in delivery.reason) == ("refused", True)


def _forwarding(engine: LocalEngine, policy_accounts: list[str]) -> tuple[str, str]:
    """dev's default bus forwards CloudFormation events to the orchestrator's bus ``hub``."""
    hub_events = engine.client("events")
    hub = hub_events.create_event_bus(Name="hub")["EventBusArn"]
    if policy_accounts:
        hub_events.put_permission(
            EventBusName="hub",
            Policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "targets",
                            "Effect": "Allow",
                            "Principal": {
                                "AWS": [f"arn:aws:iam::{a}:root" for a in policy_accounts]
                            },
                            "Action": "events:PutEvents",
                            "Resource": hub,
                        }
                    ],
                }
            ),
        )
    _rule(engine, "fwd", {"source": ["aws.cloudformation"]}, account="dev")
    engine.client("events", "dev").put_targets(
        Rule="fwd",
        Targets=[{"Id": "hub", "Arn": hub, "RoleArn": "arn:aws:iam::111111111111:role/fwd"}],
    )
    url, queue_arn = _queue(engine, "hub-seen")
    _rule(engine, "on-hub", {"source": ["aws.cloudformation"]}, bus="hub")
    hub_events.put_targets(
        Rule="on-hub", EventBusName="hub", Targets=[{"Id": "q", "Arn": queue_arn}]
    )
    return hub, url


def test_events_cloudformation_status_changes_reach_orchestrator_bus(
    local_engine: LocalEngine, queue_template: str
) -> None:
    engine = local_engine
    _, url = _forwarding(engine, [engine.config.accounts["dev"]])
    engine.set_stack_seconds(600)
    cfn = engine.client("cloudformation", "dev")
    stack_id = cfn.create_stack(
        StackName="sr-app-dev", TemplateBody=queue_template, ClientRequestToken="op-1"
    )["StackId"]
    _settle(engine)
    first = _messages(engine, url)
    engine.wait_stack("sr-app-dev", "dev")
    _settle(engine)
    later = _messages(engine, url)

    statuses = [e["detail"]["status-details"]["status"] for e in first + later]
    assert statuses == ["CREATE_IN_PROGRESS", "CREATE_COMPLETE"]
    done = later[-1]
    assert done["account"] == engine.config.accounts["dev"]  # the sender's, kept across accounts
    assert done["source"] == "aws.cloudformation"
    assert done["detail-type"] == "CloudFormation Stack Status Change"
    assert done["resources"] == [stack_id]
    assert done["detail"]["stack-id"] == stack_id
    assert done["detail"]["client-request-token"] == "op-1"
    assert first[0]["detail"]["status-details"]["status-reason"] == "User Initiated"


def test_events_rollback_reason_is_in_status_change(
    local_engine: LocalEngine, queue_template: str
) -> None:
    engine = local_engine
    _, url = _forwarding(engine, [engine.config.accounts["dev"]])
    engine.faults.add(Fault.resource_failed(stack="sr-app-dev", resource="Table", reason="boom"))
    engine.client("cloudformation", "dev").create_stack(
        StackName="sr-app-dev", TemplateBody=queue_template
    )
    engine.wait_stack("sr-app-dev", "dev")
    _settle(engine)

    seen = {e["detail"]["status-details"]["status"]: e for e in _messages(engine, url)}
    assert set(seen) == {"CREATE_IN_PROGRESS", "ROLLBACK_IN_PROGRESS", "ROLLBACK_COMPLETE"}
    assert "[Table]" in seen["ROLLBACK_IN_PROGRESS"]["detail"]["status-details"]["status-reason"]


def test_events_bus_policy_must_admit_sender_account(
    local_engine: LocalEngine, queue_template: str
) -> None:
    engine = local_engine
    hub, url = _forwarding(engine, [engine.config.accounts["staging"]])  # dev not admitted
    engine.client("cloudformation", "dev").create_stack(
        StackName="sr-app-dev", TemplateBody=queue_template
    )
    engine.wait_stack("sr-app-dev", "dev")
    _settle(engine)

    assert _messages(engine, url) == []
    refused = engine.events.deliveries(target=hub, outcome="refused")
    assert refused and "does not admit account 111111111111" in refused[0].reason


def test_events_lost_and_delayed_faults(local_engine: LocalEngine, queue_template: str) -> None:
    engine = local_engine
    _, url = _forwarding(engine, [engine.config.accounts["dev"]])
    engine.faults.add(
        Fault.event_lost(detail_type="CloudFormation Stack Status Change", stack="sr-lost", times=1)
    )
    engine.faults.add(Fault.event_delayed(300, stack="sr-late", account="dev"))
    cfn = engine.client("cloudformation", "dev")
    cfn.create_stack(StackName="sr-lost", TemplateBody=queue_template)
    cfn.create_stack(StackName="sr-late", TemplateBody=queue_template)
    engine.wait_stack("sr-lost", "dev")
    engine.wait_stack("sr-late", "dev")
    _settle(engine)
    early = _messages(engine, url)
    _settle(engine, 300)
    late = _messages(engine, url)

    def names(events: list[Any]) -> list[tuple[str, str]]:
        return sorted(
            (e["detail"]["stack-id"].split("/")[1], e["detail"]["status-details"]["status"])
            for e in events
        )

    assert names(early) == [("sr-lost", "CREATE_COMPLETE")]  # IN_PROGRESS was lost
    assert names(late) == [("sr-late", "CREATE_COMPLETE"), ("sr-late", "CREATE_IN_PROGRESS")]
    assert [d.reason for d in engine.events.deliveries(outcome="lost")] == [
        "injected fault: event lost"
    ]


def test_events_duplicated_fault_delivers_twice(local_engine: LocalEngine) -> None:
    engine = local_engine
    url, queue_arn = _queue(engine, "seen")
    _rule(engine, "to-q", {"source": ["test.app"]})
    engine.client("events").put_targets(Rule="to-q", Targets=[{"Id": "q", "Arn": queue_arn}])
    engine.faults.add(Fault.event_duplicated(source="test.app", times=1))

    _put(engine, {"n": 6})
    _settle(engine, 5)

    seen = _messages(engine, url)
    assert len(seen) == 2 and seen[0]["id"] == seen[1]["id"]


def _parked_machine(engine: LocalEngine, timeout_seconds: int) -> str:
    """A state machine that parks on a task token for up to ``timeout_seconds``."""
    url, _ = _queue(engine, f"unused-{timeout_seconds}")
    definition = {
        "StartAt": "Wait For Token",
        "States": {
            "Wait For Token": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                "Parameters": {"QueueUrl": url, "MessageBody": {"t.$": "$$.Task.Token"}},
                "TimeoutSeconds": timeout_seconds,
                "End": True,
            }
        },
    }
    return str(
        engine.client("stepfunctions").create_state_machine(
            name=f"parked-{timeout_seconds}",
            roleArn="arn:aws:iam::123456789012:role/sfn",
            definition=json.dumps(definition),
        )["stateMachineArn"]
    )


def _clock_reaches(engine: LocalEngine, instant: float) -> bool:
    pause = threading.Event()
    for _ in range(3000):
        if engine.clock.now() >= instant:
            return True
        pause.wait(0.01)
    return False


def test_events_parked_callback_sleeps_until_the_stack_event(
    local_engine: LocalEngine, queue_template: str
) -> None:
    """A workflow parked on a token lets simulated time pass to the next scheduled
    transition, so an event-driven wait needs no polling to move the clock."""
    engine = local_engine
    engine.set_stack_seconds(3600)
    machine = _parked_machine(engine, 7200)
    start = engine.clock.now()
    engine.client("cloudformation", "dev").create_stack(
        StackName="sr-long", TemplateBody=queue_template
    )
    sfn = engine.client("stepfunctions")
    arn = sfn.start_execution(stateMachineArn=machine, name="p", input="{}")["executionArn"]
    token = engine.wait_parked(arn)

    assert _clock_reaches(engine, start + 3600)
    assert engine.events.wait_idle(30)
    assert engine.clock.now() < start + 7200  # nothing scheduled: never to its own deadline
    sfn.send_task_success(taskToken=token, output="{}")
    assert engine.wait_execution(arn)["status"] == "SUCCEEDED"


def test_events_parked_callback_times_out_when_its_deadline_comes_first(
    local_engine: LocalEngine, queue_template: str
) -> None:
    engine = local_engine
    engine.set_stack_seconds(3600)
    machine = _parked_machine(engine, 600)
    start = engine.clock.now()
    engine.client("cloudformation", "dev").create_stack(
        StackName="sr-long", TemplateBody=queue_template
    )
    sfn = engine.client("stepfunctions")
    arn = sfn.start_execution(stateMachineArn=machine, name="p", input="{}")["executionArn"]

    result = engine.wait_execution(arn)

    assert (result["status"], result.get("error")) == ("FAILED", "States.Timeout")
    assert start + 600 <= engine.clock.now() < start + 3600


@pytest.mark.parametrize(
    ("statement", "sender", "admitted"),
    [
        ({"Principal": {"AWS": "111111111111"}}, "111111111111", True),
        ({"Principal": {"AWS": "arn:aws:iam::111111111111:root"}}, "222222222222", False),
        (
            {
                "Principal": "*",
                "Condition": {"StringEquals": {"aws:PrincipalAccount": ["111111111111"]}},
            },
            "111111111111",
            True,
        ),
        (
            {
                "Principal": "*",
                "Condition": {"StringEquals": {"aws:PrincipalAccount": "111111111111"}},
            },
            "222222222222",
            False,
        ),
        (
            {"Principal": "*", "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-1"}}},
            "111111111111",
            False,
        ),
        ({"Principal": "*", "Action": "events:PutRule"}, "111111111111", False),
    ],
)
def test_bus_admits_policy_cases(statement: dict[str, Any], sender: str, admitted: bool) -> None:
    bus = "arn:aws:events:us-east-1:123456789012:event-bus/hub"
    full = {
        "Sid": "s",
        "Effect": "Allow",
        "Action": "events:PutEvents",
        "Resource": bus,
        **statement,
    }
    ok, why = bus_admits(json.dumps({"Statement": [full]}), sender, bus, {"source": "x"})
    assert ok is admitted
    if "aws:PrincipalOrgID" in json.dumps(statement):
        assert "does not evaluate condition keys: aws:PrincipalOrgID" in why


def test_bus_admits_deny_wins() -> None:
    bus = "arn:aws:events:us-east-1:123456789012:event-bus/hub"
    policy = {
        "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "events:PutEvents", "Resource": bus},
            {
                "Effect": "Deny",
                "Principal": {"AWS": "222222222222"},
                "Action": "events:*",
                "Resource": "*",
            },
        ]
    }
    assert bus_admits(json.dumps(policy), "111111111111", bus, {})[0] is True
    assert bus_admits(json.dumps(policy), "222222222222", bus, {})[0] is False


def test_events_buses_rules_and_policy_from_cloudformation(
    local_engine: LocalEngine, queue_template: str, tmp_path: Any
) -> None:
    """The shape StackRelay's setup uses: a hub bus whose Policy (a CloudFormation
    property moto ignores) admits dev, and dev's rule with a prefix pattern."""
    engine = local_engine
    dev = engine.config.accounts["dev"]
    hub_template = {
        "Resources": {
            "Hub": {
                "Type": "AWS::Events::EventBus",
                "Properties": {
                    "Name": "hub",
                    "Policy": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"AWS": f"arn:aws:iam::{dev}:root"},
                                "Action": "events:PutEvents",
                                "Resource": "*",
                            }
                        ],
                    },
                },
            }
        }
    }
    hub_arn = f"arn:aws:events:us-east-1:{engine.config.orchestrator_account}:event-bus/hub"
    forward_template = {
        "Resources": {
            "Forward": {
                "Type": "AWS::Events::Rule",
                "Properties": {
                    "EventPattern": {
                        "source": ["aws.cloudformation"],
                        "detail": {
                            "stack-id": [
                                {"prefix": f"arn:aws:cloudformation:us-east-1:{dev}:stack/sr-"}
                            ],
                            "status-details": {"status": ["CREATE_COMPLETE"]},
                        },
                    },
                    "Targets": [{"Id": "hub", "Arn": hub_arn}],
                },
            }
        }
    }
    (tmp_path / "hub.json").write_text(json.dumps(hub_template))
    (tmp_path / "fwd.json").write_text(json.dumps(forward_template))
    engine.deploy_app(tmp_path / "hub.json", stack_name="hub")
    engine.deploy_app(tmp_path / "fwd.json", stack_name="fwd", account="dev")
    url, queue_arn = _queue(engine, "hub-seen")
    _rule(engine, "on-hub", {"source": ["aws.cloudformation"]}, bus="hub")
    engine.client("events").put_targets(
        Rule="on-hub", EventBusName="hub", Targets=[{"Id": "q", "Arn": queue_arn}]
    )
    cfn = engine.client("cloudformation", "dev")
    cfn.create_stack(StackName="sr-app-dev", TemplateBody=queue_template)
    cfn.create_stack(StackName="other-app", TemplateBody=queue_template)
    engine.wait_stack("sr-app-dev", "dev")
    engine.wait_stack("other-app", "dev")
    _settle(engine)

    seen = _messages(engine, url)
    assert [
        (e["detail"]["stack-id"].split("/")[1], e["detail"]["status-details"]["status"])
        for e in seen
    ] == [("sr-app-dev", "CREATE_COMPLETE")]


def test_send_task_failure_keeps_its_cause(local_engine: LocalEngine) -> None:
    """moto drops the cause; AWS gives it to the Catch (and the execution's cause)."""
    engine = local_engine
    machine = _parked_machine(engine, 600)
    sfn = engine.client("stepfunctions")
    arn = sfn.start_execution(stateMachineArn=machine, name="f", input="{}")["executionArn"]
    token = engine.wait_parked(arn)

    sfn.send_task_failure(taskToken=token, error="StackRollback", cause="Table: boom")
    result = engine.wait_execution(arn)

    assert (result["status"], result["error"], result["cause"]) == (
        "FAILED",
        "StackRollback",
        "Table: boom",
    )
