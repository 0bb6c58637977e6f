"""DescribeChangeSet Changes carry Replacement and Scope/Details."""

from __future__ import annotations

import copy
import json
from typing import Any

from stackrelay_local import LocalEngine
from stackrelay_local.changes import diff_resources

BASE: dict[str, Any] = {
    "Resources": {
        "Table": {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "TableName": "orders",
                "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            },
        },
        "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimeout": 30}},
        "Old": {"Type": "AWS::SQS::Queue"},
    }
}


def _changes(engine: LocalEngine, new: dict[str, Any]) -> dict[str, dict[str, Any]]:
    cfn = engine.client("cloudformation", "dev")
    cfn.create_stack(StackName="summary", TemplateBody=json.dumps(BASE))
    engine.wait_stack("summary", "dev")
    cs = cfn.create_change_set(
        StackName="summary",
        ChangeSetName="next",
        TemplateBody=json.dumps(new),
        ChangeSetType="UPDATE",
    )
    engine.clock.advance(5)
    described = cfn.describe_change_set(ChangeSetName=cs["Id"])
    assert described["Status"] == "CREATE_COMPLETE"
    return {
        c["ResourceChange"]["LogicalResourceId"]: c["ResourceChange"] for c in described["Changes"]
    }


def test_change_set_replacing_property_reports_replacement_true(
    local_engine: LocalEngine,
) -> None:
    new = copy.deepcopy(BASE)
    new["Resources"]["Table"]["Properties"]["TableName"] = "orders-v2"
    new["Resources"]["Queue"]["Properties"]["VisibilityTimeout"] = 60
    del new["Resources"]["Old"]
    new["Resources"]["Fresh"] = {"Type": "AWS::SQS::Queue"}

    changes = _changes(local_engine, new)

    table = changes["Table"]
    assert (table["Action"], table["Replacement"], table["Scope"]) == (
        "Modify",
        "True",
        ["Properties"],
    )
    assert table["Details"][0]["Target"] == {
        "Attribute": "Properties",
        "Name": "TableName",
        "RequiresRecreation": "Always",
    }
    assert table["PhysicalResourceId"] == "orders"
    queue = changes["Queue"]
    assert (queue["Replacement"], queue["Details"][0]["Target"]["RequiresRecreation"]) == (
        "False",
        "Never",
    )
    assert changes["Old"]["Action"] == "Remove"
    assert "Replacement" not in changes["Old"]
    assert changes["Fresh"]["Action"] == "Add"


def test_diff_conditional_property_reports_conditional() -> None:
    new = copy.deepcopy(BASE)
    new["Resources"]["Table"]["Properties"]["AttributeDefinitions"].append(
        {"AttributeName": "sk", "AttributeType": "S"}
    )
    (change,) = diff_resources(BASE, new)
    assert (change.logical_resource_id, change.replacement) == ("Table", "Conditional")


def test_diff_identical_templates_has_no_changes() -> None:
    assert diff_resources(BASE, copy.deepcopy(BASE)) == []
