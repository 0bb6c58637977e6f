"""The engine is as strict as AWS: execution-role IAM, unemulated types, names, blame.

One engine per module with setup/target-account.yaml and setup/target-app.yaml (app
``strict``) deployed in dev, so every change set runs with the app's real execution
role and its real policies.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from stackrelay_local import EngineConfig, Fault, LocalEngine, seams

ROOT = Path(__file__).resolve().parents[2]
HTTP_API_APP = ROOT / "tests" / "fixtures" / "http_api_app" / "template.yaml"
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
TABLE = {
    "Type": "AWS::DynamoDB::Table",
    "Properties": {
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    },
}
_names = count(1)
APP = "strict"


class Target:
    def __init__(self, engine: LocalEngine, outputs: dict[str, str]) -> None:
        self.engine, self.outputs = engine, outputs
        self.cfn = engine.client("cloudformation", "dev")
        self.account = engine.config.accounts["dev"]

    @property
    def boundary(self) -> str:
        return self.outputs["AppPermissionsBoundaryArn"]

    def deploy(self, template: dict[str, Any], stack: str | None = None) -> tuple[str, str]:
        name = stack or f"sr-{APP}-{next(_names)}"
        cs = self.cfn.create_change_set(
            StackName=name,
            ChangeSetName="c1",
            TemplateBody=json.dumps(template),
            ChangeSetType="CREATE",
            RoleARN=self.outputs["ExecutionRoleArn"],
        )
        self.engine._settle_change_set(self.cfn, cs["Id"])
        self.cfn.execute_change_set(ChangeSetName=cs["Id"])
        return name, self.engine.wait_stack(name, "dev")

    def failures(self, stack: str) -> list[tuple[str, str]]:
        events = self.cfn.describe_stack_events(StackName=stack)["StackEvents"]
        return [
            (e["LogicalResourceId"], e.get("ResourceStatusReason") or "")
            for e in reversed(events)
            if e["ResourceStatus"] in ("CREATE_FAILED", "UPDATE_FAILED")
        ]


@pytest.fixture(scope="module")
def target() -> Iterator[Target]:
    with LocalEngine(EngineConfig(stack_seconds=10.0)) as engine:
        bucket = engine.artifact_bucket()
        outputs = engine.deploy_app(
            ROOT / "setup" / "target-account.yaml",
            stack_name="stackrelay-target",
            account="dev",
            parameters={
                "OrchestratorAccountId": engine.config.orchestrator_account,
                "ArtifactBucketName": bucket,
            },
        )
        outputs |= engine.deploy_app(
            ROOT / "setup" / "target-app.yaml",
            stack_name=f"stackrelay-app-{APP}",
            account="dev",
            parameters={"AppName": APP, "ArtifactBucketName": bucket},
        )
        yield Target(engine, outputs)


def test_role_without_boundary_fails_create_role_as_aws_does(target: Target) -> None:
    template = {
        "Resources": {
            "Queue": {"Type": "AWS::SQS::Queue"},
            "AppRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {"AssumeRolePolicyDocument": TRUST},
            },
        }
    }
    stack, status = target.deploy(template)

    assert status == "ROLLBACK_COMPLETE"
    [(logical_id, reason)] = target.failures(stack)
    assert logical_id == "AppRole"
    assert (
        f"assumed-role/StackRelayExecution-{APP}/AWSCloudFormation is not "
        f"authorized to perform: iam:CreateRole on resource: arn:aws:iam::{target.account}:"
        f"role/{stack}-AppRole-" in reason
    )
    assert "no identity-based policy allows the iam:CreateRole action" in reason
    statuses = [
        e["ResourceStatus"]
        for e in target.cfn.describe_stack_events(StackName=stack)["StackEvents"]
    ]
    assert "ROLLBACK_IN_PROGRESS" in statuses
    # AWS removes a stack's change sets once one is executed, even if it rolls back.
    assert target.cfn.list_change_sets(StackName=stack)["Summaries"] == []


def test_role_with_boundary_and_prefixed_resources_deploys(target: Target) -> None:
    template = {
        "Resources": {
            "AppRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": TRUST,
                    "PermissionsBoundary": target.boundary,
                    "Policies": [
                        {
                            "PolicyName": "own",
                            "PolicyDocument": {
                                "Version": "2012-10-17",
                                "Statement": [
                                    {"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}
                                ],
                            },
                        }
                    ],
                },
            },
            "Queue": {"Type": "AWS::SQS::Queue"},
            "Table": TABLE,
        },
        "Outputs": {"Role": {"Value": {"Ref": "AppRole"}}},
    }
    stack, status = target.deploy(template)

    assert status == "CREATE_COMPLETE", target.failures(stack)
    role_name = _output(target, stack, "Role")
    assert role_name.startswith(f"{stack}-AppRole-")
    role = target.engine.client("iam", "dev").get_role(RoleName=role_name)
    assert role["Role"]["PermissionsBoundary"]["PermissionsBoundaryArn"] == target.boundary


def _output(target: Target, stack: str, key: str) -> str:
    outputs = target.cfn.describe_stacks(StackName=stack)["Stacks"][0]["Outputs"]
    return next(o["OutputValue"] for o in outputs if o["OutputKey"] == key)


def test_resource_named_outside_the_prefix_is_denied_on_its_own_resource(target: Target) -> None:
    table = json.loads(json.dumps(TABLE))
    table["Properties"]["TableName"] = "not-prefixed"
    stack, status = target.deploy({"Resources": {"Queue": {"Type": "AWS::SQS::Queue"}, "T": table}})

    assert status == "ROLLBACK_COMPLETE"
    [(logical_id, reason)] = target.failures(stack)
    assert logical_id == "T"
    assert "dynamodb:CreateTable on resource: arn:aws:dynamodb:" in reason
    assert ":table/not-prefixed" in reason


def test_unemulated_type_fails_naming_the_type_and_resource(target: Target) -> None:
    template = {
        "Resources": {
            "Queue": {"Type": "AWS::SQS::Queue"},
            "Graph": {
                "Type": "AWS::AppSync::GraphQLApi",
                "Properties": {"Name": "g", "AuthenticationType": "API_KEY"},
            },
        }
    }
    stack, status = target.deploy(template)

    assert status == "ROLLBACK_COMPLETE"
    [(logical_id, reason)] = target.failures(stack)
    assert logical_id == "Graph"
    assert reason.startswith("AWS::AppSync::GraphQLApi is not emulated locally")


def test_moto_error_is_blamed_on_the_resource_that_failed(target: Target) -> None:
    template = {
        "Resources": {
            "First": {"Type": "AWS::SQS::Queue"},
            "Broken": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Runtime": "python3.12",
                    "Handler": "app.handler",
                    "Role": "arn:aws:iam::111111111111:role/sr-missing",
                    "Code": {"S3Bucket": "no-such-bucket", "S3Key": "nothing.zip"},
                },
            },
        }
    }
    stack, status = target.deploy(template)

    assert status == "ROLLBACK_COMPLETE"
    failed = target.failures(stack)
    assert [lid for lid, _ in failed] == ["Broken"]


def test_execution_role_that_does_not_exist_is_refused_at_create_change_set(
    target: Target,
) -> None:
    with pytest.raises(ClientError, match="is invalid or cannot be assumed"):
        target.cfn.create_change_set(
            StackName="sr-norole",
            ChangeSetName="c1",
            TemplateBody=json.dumps({"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}),
            ChangeSetType="CREATE",
            RoleARN=f"arn:aws:iam::{target.account}:role/NoSuchRole",
        )


def test_unnamed_state_machine_on_long_stack_gets_a_short_valid_name(target: Target) -> None:
    stack = "sr-" + "a-very-long-review-stack-name-for-a-feature-branch-" * 2
    stack = stack[:120].rstrip("-")
    engine = target.engine
    cfn = engine.client("cloudformation", "orchestrator")
    machine = {
        "Type": "AWS::StepFunctions::StateMachine",
        "Properties": {
            "RoleArn": "arn:aws:iam::123456789012:role/any",
            "DefinitionString": json.dumps(
                {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}
            ),
        },
    }
    cfn.create_stack(
        StackName=stack,
        TemplateBody=json.dumps(
            {
                "Resources": {"LongLogicalIdForTheStateMachineOfThisApp": machine},
                "Outputs": {"Arn": {"Value": {"Ref": "LongLogicalIdForTheStateMachineOfThisApp"}}},
            }
        ),
    )
    assert engine.wait_stack(stack) == "CREATE_COMPLETE"
    arn = cfn.describe_stacks(StackName=stack)["Stacks"][0]["Outputs"][0]["OutputValue"]
    name = arn.rsplit(":", 1)[-1]
    assert len(name) <= 80
    assert name.startswith("LongLogicalIdForTheStateMachineOfThisApp-")


def test_http_api_app_creates_api_stage_routes_and_url_output(target: Target) -> None:
    outputs = target.engine.deploy_app(HTTP_API_APP, stack_name="sr-http-api", account="dev")

    url = outputs["HelloApiUrl"]
    api_id = url.removeprefix("https://").split(".", 1)[0]
    v2 = target.engine.client("apigatewayv2", "dev")
    api = v2.get_api(ApiId=api_id)
    assert api["ProtocolType"] == "HTTP"
    assert url == f"https://{api_id}.execute-api.us-east-1.amazonaws.com/hello"
    routes = [r["RouteKey"] for r in v2.get_routes(ApiId=api_id)["Items"]]
    assert routes == ["GET /hello"]
    assert [s["StageName"] for s in v2.get_stages(ApiId=api_id)["Items"]] == ["$default"]


def test_create_again_after_deleted_change_set_on_review_stack_does_not_crash(
    target: Target,
) -> None:
    # A rejected first prod release: the change set is deleted, the stack stays
    # REVIEW_IN_PROGRESS; the next release creates a CREATE change set again.
    cfn, name = target.cfn, f"sr-{APP}-rerelease"
    body = json.dumps({"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}})
    role = target.outputs["ExecutionRoleArn"]
    first = cfn.create_change_set(
        StackName=name, ChangeSetName="c1", TemplateBody=body, ChangeSetType="CREATE", RoleARN=role
    )
    target.engine._settle_change_set(cfn, first["Id"])
    cfn.delete_change_set(ChangeSetName=first["Id"])

    second = cfn.create_change_set(
        StackName=name, ChangeSetName="c2", TemplateBody=body, ChangeSetType="CREATE", RoleARN=role
    )
    target.engine._settle_change_set(cfn, second["Id"])
    cfn.execute_change_set(ChangeSetName=second["Id"])
    assert target.engine.wait_stack(name, "dev") == "CREATE_COMPLETE"


def test_s3_throttling_fault_fires_on_get_object(target: Target) -> None:
    engine = target.engine
    bucket = engine.artifact_bucket()
    s3 = engine.session("orchestrator").client(
        "s3", config=Config(retries={"total_max_attempts": 1, "mode": "standard"})
    )
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    engine.faults.add(Fault.throttle(service="s3", operation="GetObject", share=1.0, times=1))

    with pytest.raises(ClientError) as refused:
        s3.get_object(Bucket=bucket, Key="k")
    assert refused.value.response["Error"]["Code"] == "SlowDown"
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"


def test_emulated_types_and_iam_table_are_listed_in_the_docs() -> None:
    from stackrelay_local.emulated import EMULATED
    from stackrelay_local.provisioning import ACTIONS

    docs = (ROOT / "docs" / "local-engine.md").read_text()
    missing = [t for t in [*EMULATED, *ACTIONS] if f"`{t}`" not in docs]
    assert missing == []


def test_execution_role_reads_inline_and_attached_policies(target: Target) -> None:
    role = seams.execution_role(target.account, target.outputs["ExecutionRoleArn"])
    assert role is not None
    text = json.dumps(role.documents)
    assert "ReadOwnArtifacts" in text and "AppRolesOnlyWithThisAppsBoundary" in text
