"""The SAM transform is translated once per content in a process (N deploys of one app)."""

from __future__ import annotations

from typing import Any

import pytest
from stackrelay_local import sam

TEMPLATE = {
    "Transform": "AWS::Serverless-2016-10-31",
    "Resources": {
        "Fn": {
            "Type": "AWS::Serverless::Function",
            "Properties": {
                "Runtime": "python3.11",
                "Handler": "app.handler",
                "CodeUri": "s3://bucket/code.zip",
            },
        }
    },
}
VALUES = {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws"}


@pytest.fixture
def translations(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Each real translation, counted, from an empty memo."""
    monkeypatch.setattr(sam, "_TRANSFORMED", {})
    made: list[dict[str, Any]] = []
    original = sam._translate

    def counting(template: dict[str, Any], values: dict[str, Any], region: str) -> Any:
        made.append(template)
        return original(template, values, region)

    monkeypatch.setattr(sam, "_translate", counting)
    return made


def test_same_template_translated_once_each_caller_gets_its_own_copy(
    translations: list[dict[str, Any]],
) -> None:
    first = sam.sam_transform(TEMPLATE, dict(VALUES), "us-east-1")
    first["Resources"].clear()  # a caller changes its copy
    again = sam.sam_transform(TEMPLATE, dict(VALUES), "us-east-1")

    assert len(translations) == 1
    assert "AWS::Lambda::Function" in {r["Type"] for r in again["Resources"].values()}
    assert TEMPLATE["Resources"]["Fn"]["Type"] == "AWS::Serverless::Function"  # input as given


def test_changed_template_parameters_or_region_translated_anew(
    translations: list[dict[str, Any]],
) -> None:
    sam.sam_transform(TEMPLATE, dict(VALUES), "us-east-1")
    sam.sam_transform({**TEMPLATE, "Description": "changed"}, dict(VALUES), "us-east-1")
    sam.sam_transform(TEMPLATE, {**VALUES, "AWS::AccountId": "111111111111"}, "us-east-1")
    sam.sam_transform(TEMPLATE, dict(VALUES), "eu-west-1")

    assert len(translations) == 4
