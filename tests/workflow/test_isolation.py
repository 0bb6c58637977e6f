"""Per-app isolation in a target account (issue 11, item 5), on the local engine.

Two apps share the dev account. Each runs its stacks with its own CloudFormation
execution role and permissions boundary from setup/target-app.yaml, which the engine
deploys when an app is registered and evaluates like IAM (provisioning.py). App B's
templates reach for app A's table, bucket, function, role and REST API: each change
fails with the execution role's AccessDenied naming the call, and nothing of A
changes. A role B may create is held by B's boundary, so a policy naming A's table
grants nothing. Both apps' legitimate releases succeed in the same engine.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from stackrelay.naming import stack_name
from stackrelay_local import seams
from stackrelay_local.iam_policy import Request, evaluate_with_boundary

ROOT = Path(__file__).resolve().parents[2]
ISOLATION_APP = ROOT / "tests" / "fixtures" / "isolation_app"
DEV = "111111111111"
OWN_REF = "feature/own"


Releaser = Any  # tests/workflow/conftest.py's Releaser


@dataclass
class Apps:
    a: Releaser
    b: Releaser
    outputs: dict[str, str]  # app A's review stack outputs: what B reaches for

    def client(self, service: str) -> Any:
        return self.a.engine.client(service, account=DEV)


def _outputs(releaser: Releaser, ref: str) -> dict[str, str]:
    stack = releaser.stack(DEV, stack_name("sr-", releaser.app, "review", ref))
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


@pytest.fixture(scope="module")
def apps(make_releaser: Callable[[str], Releaser]) -> Apps:
    a, b = make_releaser("iso-alpha"), make_releaser("iso-bravo")
    run = a.deploy(OWN_REF, a.publish(ISOLATION_APP))
    assert run.status == "SUCCEEDED", run.cause
    return Apps(a, b, _outputs(a, OWN_REF))


def snapshot(apps: Apps) -> dict[str, Any]:
    """What B must not be able to change of A."""
    o = apps.outputs
    lam, iam, s3 = apps.client("lambda"), apps.client("iam"), apps.client("s3")
    apigw = apps.client("apigateway")
    try:
        function_policy = json.loads(lam.get_policy(FunctionName=o["FunctionName"])["Policy"])
    except ClientError:
        function_policy = None
    try:
        bucket_policy = s3.get_bucket_policy(Bucket=o["BucketName"])["Policy"]
    except ClientError:
        bucket_policy = None
    stack = apps.a.stack(DEV, stack_name("sr-", apps.a.app, "review", OWN_REF))
    return {
        "stack": (stack["StackStatus"], str(stack.get("LastUpdatedTime"))),
        "function_policy": function_policy,
        "role_policies": sorted(
            iam.list_role_policies(RoleName=o["FunctionRoleName"])["PolicyNames"]
        ),
        "bucket_policy": bucket_policy,
        "api_paths": sorted(r["path"] for r in apigw.get_resources(restApiId=o["ApiId"])["items"]),
        "table": apps.client("dynamodb").describe_table(TableName=o["TableArn"].split("/")[-1])[
            "Table"
        ]["TableStatus"],
    }


def _template(resources: dict[str, Any]) -> str:
    return json.dumps(
        {
            "AWSTemplateFormatVersion": "2010-09-09",
            "Parameters": {"Stage": {"Type": "String", "Default": "review"}},
            "Resources": resources,
        },
        indent=1,
    )


def _publish(releaser: Releaser, tmp_path: Path, name: str, resources: dict[str, Any]) -> Any:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "template.yaml").write_text(_template(resources))
    return releaser.publish(folder)


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


def _statement(actions: list[str], resources: list[Any]) -> dict[str, Any]:
    return {
        "PolicyName": "reach",
        "PolicyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": actions, "Resource": resources}],
        },
    }


# B's templates, given A's outputs: (resources, the call its execution role may not make)
ATTACKS: dict[str, Callable[[dict[str, str], str], tuple[dict[str, Any], str]]] = {
    "lambda-permission-on-a-function": lambda o, a: (
        {
            "Invoke": {
                "Type": "AWS::Lambda::Permission",
                "Properties": {
                    "FunctionName": o["FunctionName"],
                    "Action": "lambda:InvokeFunction",
                    "Principal": "s3.amazonaws.com",
                },
            }
        },
        f"lambda:AddPermission on resource: arn:aws:lambda:us-east-1:{DEV}:function:"
        f"{o['FunctionName']}",
    ),
    "policy-on-a-role-over-a-bucket": lambda o, a: (
        {
            "Grab": {
                "Type": "AWS::IAM::Policy",
                "Properties": {
                    "Roles": [o["FunctionRoleName"]],
                    **_statement(["s3:*"], [f"arn:aws:s3:::{o['BucketName']}/*"]),
                },
            }
        },
        f"iam:PutRolePolicy on resource: arn:aws:iam::{DEV}:role/{o['FunctionRoleName']}",
    ),
    "bucket-policy-on-a-bucket": lambda o, a: (
        {
            "Open": {
                "Type": "AWS::S3::BucketPolicy",
                "Properties": {
                    "Bucket": o["BucketName"],
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"AWS": "*"},
                                "Action": "s3:GetObject",
                                "Resource": f"arn:aws:s3:::{o['BucketName']}/*",
                            }
                        ],
                    },
                },
            }
        },
        f"s3:PutBucketPolicy on resource: arn:aws:s3:::{o['BucketName']}",
    ),
    "api-resource-on-a-api": lambda o, a: (
        {
            "Evil": {
                "Type": "AWS::ApiGateway::Resource",
                "Properties": {
                    "RestApiId": o["ApiId"],
                    "ParentId": o["ApiRootResourceId"],
                    "PathPart": "evil",
                },
            }
        },
        f"apigateway:POST on resource: arn:aws:apigateway:us-east-1::/restapis/{o['ApiId']}"
        "/resources",
    ),
    "role-with-a-boundary": lambda o, a: (
        {
            "Escape": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": TRUST,
                    "PermissionsBoundary": f"arn:aws:iam::{DEV}:policy/"
                    f"StackRelayAppPermissionsBoundary-{a}",
                },
            }
        },
        "iam:CreateRole on resource: arn:aws:iam::",
    ),
    "role-without-boundary": lambda o, a: (
        {"Free": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": TRUST}}},
        "iam:CreateRole on resource: arn:aws:iam::",
    ),
    "pass-a-role": lambda o, a: (
        {
            "Borrow": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "RoleArn": o["FunctionRoleArn"],
                    "DefinitionString": '{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}',
                },
            }
        },
        f"iam:PassRole on resource: {o['FunctionRoleArn']}",
    ),
    "state-machine-tagged-as-a": lambda o, a: (
        {
            "Disguised": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "RoleArn": f"arn:aws:iam::{DEV}:role/sr-iso-bravo-none",
                    "DefinitionString": '{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}',
                    "Tags": [{"Key": "stackrelay:app", "Value": a}],
                },
            }
        },
        f"states:CreateStateMachine on resource: arn:aws:states:us-east-1:{DEV}:stateMachine:",
    ),
    "api-tagged-as-a": lambda o, a: (
        {
            "Disguised": {
                "Type": "AWS::ApiGateway::RestApi",
                "Properties": {
                    "Name": "disguised",
                    "Tags": [{"Key": "stackrelay:app", "Value": a}],
                },
            }
        },
        "apigateway:POST on resource: arn:aws:apigateway:us-east-1::/restapis ",
    ),
    "table-named-in-a-namespace": lambda o, a: (
        {
            "Squat": {
                "Type": "AWS::DynamoDB::Table",
                "Properties": {
                    "TableName": f"sr-{a}-review-squat",
                    "BillingMode": "PAY_PER_REQUEST",
                    "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
                    "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                },
            }
        },
        f"dynamodb:CreateTable on resource: arn:aws:dynamodb:us-east-1:{DEV}:table/"
        f"sr-{a}-review-squat",
    ),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_other_apps_template_cannot_touch_app_a(apps, tmp_path, monkeypatch, attack):
    resources, call = ATTACKS[attack](apps.outputs, apps.a.app)
    if attack == "role-without-boundary":
        # B's own CI job can publish a hand-made template: nothing forces publish's
        # boundary.apply on it. The target account's IAM is what refuses the role.
        from stackrelay import boundary

        monkeypatch.setattr(boundary, "apply", lambda template, name="": [])
    before = snapshot(apps)

    run = apps.b.deploy(f"attack/{attack}", _publish(apps.b, tmp_path, attack, resources))

    assert run.status == "FAILED"
    assert run.error == "StackRollback", run.cause
    denied = (
        f"assumed-role/StackRelayExecution-{apps.b.app}/AWSCloudFormation is not authorized "
        f"to perform: {call}"
    )
    assert denied in " ".join(run.cause.split()), run.cause
    assert snapshot(apps) == before


def test_role_b_creates_is_held_to_b_by_its_boundary(apps, tmp_path):
    # Given B's role with a policy naming A's table and B's own (IAM does not read a
    # policy's resources when it is put: on AWS this deploys too)
    o = apps.outputs
    resources = {
        "OwnTable": {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            },
        },
        "Reader": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": TRUST,
                "Policies": [
                    _statement(
                        ["dynamodb:GetItem"], [o["TableArn"], {"Fn::GetAtt": ["OwnTable", "Arn"]}]
                    )
                ],
            },
        },
    }
    run = apps.b.deploy("feature/reader", _publish(apps.b, tmp_path, "reader", resources))
    assert run.status == "SUCCEEDED", run.cause

    # When IAM decides the role's calls (its policies, then its boundary)
    cfn = apps.client("cloudformation")
    stack = stack_name("sr-", apps.b.app, "review", "feature/reader")
    found = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cfn.describe_stack_resources(StackName=stack)["StackResources"]
    }
    role = seams.execution_role(DEV, f"arn:aws:iam::{DEV}:role/{found['Reader']}")
    own = f"arn:aws:dynamodb:us-east-1:{DEV}:table/{found['OwnTable']}"

    def allowed(table_arn: str) -> bool:
        request = Request("dynamodb:GetItem", table_arn)
        return evaluate_with_boundary(role.documents, role.boundary, request).allowed

    # Then B's boundary holds it to B's own table
    assert role.boundary is not None
    assert allowed(own)
    assert not allowed(o["TableArn"])


def test_both_apps_release_their_own_resources(apps):
    # B's review of the same app: its own names, role and boundary, side by side with A's
    b = apps.b
    run = b.deploy(OWN_REF, b.publish(ISOLATION_APP))
    assert run.status == "SUCCEEDED", run.cause
    iam, sfn = apps.client("iam"), apps.client("stepfunctions")
    for app, releaser in ((apps.a.app, apps.a), (b.app, b)):
        outputs = _outputs(releaser, OWN_REF)
        role = iam.get_role(RoleName=outputs["FunctionRoleName"])["Role"]
        assert role["RoleName"].startswith(f"sr-{app}-")
        assert role["PermissionsBoundary"]["PermissionsBoundaryArn"] == (
            f"arn:aws:iam::{DEV}:policy/StackRelayAppPermissionsBoundary-{app}"
        )
        # The unnamed state machine is <LogicalId>-<suffix>: the app's own by its tag
        machine = outputs["StateMachineArn"]
        assert machine.split(":")[-1].startswith("FlowStateMachine-")
        tags = {
            t["key"]: t["value"] for t in sfn.list_tags_for_resource(resourceArn=machine)["tags"]
        }
        assert tags.get("stackrelay:app") == app
        # The unnamed SAM layer (SAM would name it SharedLayer, which the app's policy
        # refuses): publish named it after its stack, inside the app's scope
        stack = stack_name("sr-", app, "review", OWN_REF)
        layers = [layer["LayerName"] for layer in apps.client("lambda").list_layers()["Layers"]]
        assert [n for n in layers if n.startswith(f"{stack}-SharedLayer")], layers
        api = apps.client("apigateway").get_rest_api(restApiId=outputs["ApiId"])
        assert api["tags"]["stackrelay:app"] == app

    # A's release: staging, then prod after approval, with A's own role in each account
    a = apps.a
    arn = a.start(a.request("main", a.publish(ISOLATION_APP)))
    a.wait_approval(arn)
    approver = a.token("main", user_login="carol", environment="production")
    shown = a.invoke(
        "ApprovalFunctionName", {"action": "show", "app": a.app, "id_token": approver}
    )["approval"]
    a.invoke(
        "ApprovalFunctionName",
        {
            "action": "approve",
            "app": a.app,
            "id_token": approver,
            "execution": shown["execution"],
            "digest": shown["digest"],
        },
    )
    released = a.finish(arn)
    assert released.status == "SUCCEEDED", released.cause
    assert [s["outcome"] for s in released.output["stages"]] == ["deployed", "deployed"]
    for stage, account in (("staging", "222222222222"), ("prod", "333333333333")):
        stack = a.stack(account, stack_name("sr-", a.app, stage))
        assert stack["RoleARN"] == f"arn:aws:iam::{account}:role/StackRelayExecution-{a.app}"


def test_app_without_its_execution_role_fails_saying_how_to_set_it_up(make_releaser):
    # Given an app registered, but its execution role missing in dev (setup skipped)
    c = make_releaser("iso-charlie")
    iam, role = c.engine.client("iam", account=DEV), f"StackRelayExecution-{c.app}"
    for attached in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]:
        iam.detach_role_policy(RoleName=role, PolicyArn=attached["PolicyArn"])
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        iam.delete_role_policy(RoleName=role, PolicyName=name)
    iam.delete_role(RoleName=role)

    run = c.deploy(OWN_REF, c.publish(ISOLATION_APP))

    assert run.status == "FAILED"
    assert run.error == "ChangeSetFailed", run.cause
    assert f"StackRelayExecution-{c.app} is the app's own execution role" in run.cause
    assert "deploy setup/target-app.yaml for the app in that account" in run.cause
