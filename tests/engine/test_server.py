"""The local server: the same smoke test through boto3 and AWS_ENDPOINT_URL."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from stackrelay_local import Fault, RemoteEngine

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    port = _free_port()
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "scripts"), str(REPO / "functions")])
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "stackrelay_local", "up", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith(f"StackRelay local engine on http://localhost:{port}"), line
        yield f"http://localhost:{port}"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def aws_env(server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AWS_ENDPOINT_URL", server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return server


def test_server_smoke_fixture_flow_through_aws_endpoint_url(aws_env: str) -> None:
    remote = RemoteEngine(aws_env)
    outputs = remote.deploy_app(
        REPO / "tests" / "fixtures" / "engine_app" / "template.yaml", stack_name="srv"
    )
    sfn = boto3.client("stepfunctions")  # plain boto3: AWS_ENDPOINT_URL does the routing
    before = remote.clock.now()
    arn = sfn.start_execution(
        stateMachineArn=outputs["StateMachineArn"],
        name="srv-1",
        input=json.dumps({"items": [{"name": "a"}], "flaky": "transient"}),
    )["executionArn"]
    token = remote.wait_parked(arn)
    sfn.send_task_success(taskToken=token, output=json.dumps({"approved": True}))
    result = remote.wait_execution(arn)

    assert result["status"] == "SUCCEEDED", result
    assert json.loads(result["output"])["recorded"] == [{"id": "item-a"}]
    assert remote.clock.now() - before >= 70
    names = [
        e["stateEnteredEventDetails"]["name"]
        for e in sfn.get_execution_history(executionArn=arn)["events"]
        if "stateEnteredEventDetails" in e
    ]
    assert names[:3] == ["Has Items?", "Record Items", "Record Item"]
    assert "Request Approval" in names


def test_server_accounts_isolated_and_sam_app_deploys_in_target(aws_env: str) -> None:
    remote = RemoteEngine(aws_env)
    outputs = remote.deploy_app(
        REPO / "tests" / "fixtures" / "engine_app" / "template.yaml",
        stack_name="srv-dev",
        account="dev",
    )
    assert ":111111111111:" in outputs["RecordFunctionArn"]
    dev_stacks = remote.client("cloudformation", "dev").describe_stacks()["Stacks"]
    assert "srv-dev" in [s["StackName"] for s in dev_stacks]
    assert remote.client("cloudformation", "staging").describe_stacks()["Stacks"] == []
    tables = remote.session("dev").client("dynamodb", endpoint_url=aws_env).list_tables()
    assert outputs["TableName"] in tables["TableNames"]


def test_server_faults_and_clock_through_control_surface(aws_env: str, queue_template: str) -> None:
    remote = RemoteEngine(aws_env)
    remote.faults.add(Fault.resource_failed(stack="srv-fail", resource="Table", reason="No"))
    cfn = remote.client("cloudformation", "staging")
    cfn.create_stack(StackName="srv-fail", TemplateBody=queue_template)
    assert cfn.describe_stacks(StackName="srv-fail")["Stacks"][0]["StackStatus"] == (
        "CREATE_IN_PROGRESS"
    )
    remote.clock.advance(30)
    assert remote.wait_stack("srv-fail", "staging") == "ROLLBACK_COMPLETE"
    reasons = [
        e.get("ResourceStatusReason")
        for e in cfn.describe_stack_events(StackName="srv-fail")["StackEvents"]
    ]
    assert "No" in reasons
    remote.faults.clear()
    assert remote.faults.list() == []
    with pytest.raises(ClientError, match="does not exist"):
        cfn.describe_stacks(StackName="never-made")


def test_server_events_delivery_and_lost_fault_through_control_surface(
    aws_env: str, queue_template: str
) -> None:
    remote = RemoteEngine(aws_env)
    sqs = remote.client("sqs", "prod")
    url = sqs.create_queue(QueueName="srv-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events = remote.client("events", "prod")
    events.put_rule(Name="srv-cfn", EventPattern=json.dumps({"source": ["aws.cloudformation"]}))
    events.put_targets(Rule="srv-cfn", Targets=[{"Id": "q", "Arn": queue_arn}])
    remote.faults.add(Fault.event_lost(stack="srv-events", detail_type=None, times=1))
    remote.client("cloudformation", "prod").create_stack(
        StackName="srv-events", TemplateBody=queue_template
    )
    assert remote.wait_stack("srv-events", "prod") == "CREATE_COMPLETE"
    remote.clock.advance(1)
    assert remote.events.wait_idle(30)

    bodies = [
        json.loads(m["Body"])
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    ]
    assert [b["detail"]["status-details"]["status"] for b in bodies] == ["CREATE_COMPLETE"]
    lost = remote.events.deliveries(outcome="lost")
    assert [d.target for d in lost] == [queue_arn]
    emitted = remote.events.emitted(source="aws.cloudformation")
    assert {e["detail"]["status-details"]["status"] for e in emitted} >= {
        "CREATE_IN_PROGRESS",
        "CREATE_COMPLETE",
    }
