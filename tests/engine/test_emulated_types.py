"""Common SAM resources moto's CloudFormation has no model for, emulated on moto's own
service backends: what SAM makes of a function's SNS event (AWS::SNS::Subscription) and
of FunctionUrlConfig (AWS::Lambda::Url); and a bucket property moto mistranslates."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from stackrelay_local import EngineConfig, LocalEngine

TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}
TEMPLATE = {
    "Resources": {
        "Topic": {"Type": "AWS::SNS::Topic"},
        # Valid on AWS (ServerSideEncryptionByDefault is optional); moto alone raises KeyError.
        "Bucket": {
            "Type": "AWS::S3::Bucket",
            "Properties": {
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [{"BucketKeyEnabled": True}]
                }
            },
        },
        "Queue": {"Type": "AWS::SQS::Queue"},
        "ToQueue": {
            "Type": "AWS::SNS::Subscription",
            "Properties": {
                "TopicArn": {"Ref": "Topic"},
                "Protocol": "sqs",
                "Endpoint": {"Fn::GetAtt": ["Queue", "Arn"]},
                "RawMessageDelivery": True,
                "FilterPolicy": {"kind": ["order"]},
            },
        },
        "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": TRUST}},
        "Function": {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "Runtime": "python3.11",
                "Handler": "index.handler",
                "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                "Code": {"ZipFile": "def handler(event, context):\n    return 1\n"},
            },
        },
        "Url": {
            "Type": "AWS::Lambda::Url",
            "Properties": {
                "TargetFunctionArn": {"Fn::GetAtt": ["Function", "Arn"]},
                "AuthType": "NONE",
                "InvokeMode": "RESPONSE_STREAM",
            },
        },
    },
    "Outputs": {
        "Url": {"Value": {"Fn::GetAtt": ["Url", "FunctionUrl"]}},
        "Subscription": {"Value": {"Ref": "ToQueue"}},
    },
}


@pytest.fixture(scope="module")
def engine() -> Iterator[LocalEngine]:
    with LocalEngine(EngineConfig(stack_seconds=5.0)) as engine:
        yield engine


def _deploy(engine: LocalEngine, name: str) -> dict[str, str]:
    cfn = engine.client("cloudformation", "dev")
    cs = cfn.create_change_set(
        StackName=name,
        ChangeSetName="c1",
        TemplateBody=json.dumps(TEMPLATE),
        ChangeSetType="CREATE",
    )
    engine._settle_change_set(cfn, cs["Id"])
    cfn.execute_change_set(ChangeSetName=cs["Id"])
    assert engine.wait_stack(name, "dev") == "CREATE_COMPLETE"
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


def test_sns_subscription_and_function_url_are_created_and_deleted_with_the_stack(
    engine: LocalEngine,
) -> None:
    outputs = _deploy(engine, "sr-emulated-types")
    sns, sqs, lam = (engine.client(s, "dev") for s in ("sns", "sqs", "lambda"))
    cfn = engine.client("cloudformation", "dev")
    physical = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cfn.describe_stack_resources(StackName="sr-emulated-types")["StackResources"]
    }

    encryption = engine.client("s3", "dev").get_bucket_encryption(Bucket=physical["Bucket"])
    [rule] = encryption["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    attributes = sns.get_subscription_attributes(SubscriptionArn=outputs["Subscription"])
    assert attributes["Attributes"]["RawMessageDelivery"] == "true"
    assert json.loads(attributes["Attributes"]["FilterPolicy"]) == {"kind": ["order"]}
    url = lam.get_function_url_config(FunctionName=physical["Function"])
    assert url["FunctionUrl"] == outputs["Url"] and url["InvokeMode"] == "RESPONSE_STREAM"

    # A message the filter admits reaches the queue, raw.
    sns.publish(
        TopicArn=physical["Topic"],
        Message="hello",
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "order"}},
    )
    queue_url = sqs.get_queue_url(QueueName=physical["Queue"].rsplit("/", 1)[-1])["QueueUrl"]
    [message] = sqs.receive_message(QueueUrl=queue_url)["Messages"]
    assert message["Body"] == "hello"

    cfn.delete_stack(StackName="sr-emulated-types")
    assert engine.wait_stack("sr-emulated-types", "dev") == "DELETE_COMPLETE"
    assert sns.list_subscriptions()["Subscriptions"] == []
