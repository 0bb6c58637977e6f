"""Nested stacks (what SAM makes of an AWS::Serverless::Application): the engine builds
the child from the object version its TemplateURL pins, through the SAM transform, as
CloudFormation does; moto alone reads the latest object and skips the transform."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from stackrelay_local import EngineConfig, LocalEngine

CHILD = {
    "Transform": "AWS::Serverless-2016-10-31",
    "Resources": {"Notes": {"Type": "AWS::Serverless::SimpleTable"}},
}
CHANGED_CHILD = {"Resources": {"Later": {"Type": "AWS::SQS::Queue"}}}


@pytest.fixture(scope="module")
def engine() -> Iterator[LocalEngine]:
    with LocalEngine(EngineConfig(stack_seconds=5.0)) as engine:
        yield engine


def _child_types(engine: LocalEngine, parent: str) -> set[str]:
    cfn = engine.client("cloudformation", "dev")
    (nested,) = [
        r["PhysicalResourceId"]
        for r in cfn.describe_stack_resources(StackName=parent)["StackResources"]
        if r["ResourceType"] == "AWS::CloudFormation::Stack"
    ]
    resources = cfn.describe_stack_resources(StackName=nested)["StackResources"]
    return {r["ResourceType"] for r in resources}


def test_nested_stack_is_built_from_its_pinned_version_through_the_sam_transform(
    engine: LocalEngine,
) -> None:
    s3 = engine.client("s3", "dev")
    bucket = "nested-templates"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    pinned = s3.put_object(Bucket=bucket, Key="child.json", Body=json.dumps(CHILD))["VersionId"]
    s3.put_object(Bucket=bucket, Key="child.json", Body=json.dumps(CHANGED_CHILD))
    url = f"https://{bucket}.s3.amazonaws.com/child.json?versionId={pinned}"
    parent = {
        "Resources": {
            "Child": {"Type": "AWS::CloudFormation::Stack", "Properties": {"TemplateURL": url}}
        }
    }
    cfn = engine.client("cloudformation", "dev")
    cs = cfn.create_change_set(
        StackName="sr-nested-parent",
        ChangeSetName="c1",
        TemplateBody=json.dumps(parent),
        ChangeSetType="CREATE",
    )
    engine._settle_change_set(cfn, cs["Id"])
    cfn.execute_change_set(ChangeSetName=cs["Id"])

    assert engine.wait_stack("sr-nested-parent", "dev") == "CREATE_COMPLETE"
    # The pinned version (a SimpleTable, transformed), not the latest object (a queue).
    assert _child_types(engine, "sr-nested-parent") == {"AWS::DynamoDB::Table"}
