"""templates: JSON and YAML (with short tags) load the same way CloudFormation reads them."""

from __future__ import annotations

import json

import pytest
from stackrelay.templates import declared_parameters, dump, load

YAML = """\
AWSTemplateFormatVersion: 2010-09-09
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage:
    Type: String
  LogLevel:
    Type: String
Resources:
  Topic:
    Type: AWS::SNS::Topic
    Properties:
      TopicName: !Sub "${AWS::StackName}-topic"
      Tags:
        - Key: arn
          Value: !GetAtt Queue.Arn
        - Key: ref
          Value: !Ref Stage
        - Key: joined
          Value: !Join ["-", [a, !Ref Stage]]
        - Key: sel
          Value: !Select [0, !GetAZs ""]
        - Key: mapped
          Value: !FindInMap {MapName: M, Key: K}
Outputs:
  Url:
    Value: !GetAtt [Topic, TopicName]
"""


def test_load_yaml_short_tags_become_long_form() -> None:
    template = load(YAML)

    props = template["Resources"]["Topic"]["Properties"]
    assert props["TopicName"] == {"Fn::Sub": "${AWS::StackName}-topic"}
    tags = {t["Key"]: t["Value"] for t in props["Tags"]}
    assert tags["arn"] == {"Fn::GetAtt": ["Queue", "Arn"]}
    assert tags["ref"] == {"Ref": "Stage"}
    assert tags["joined"] == {"Fn::Join": ["-", ["a", {"Ref": "Stage"}]]}
    assert tags["sel"] == {"Fn::Select": [0, {"Fn::GetAZs": ""}]}
    assert tags["mapped"] == {"Fn::FindInMap": {"MapName": "M", "Key": "K"}}
    assert template["Outputs"]["Url"]["Value"] == {"Fn::GetAtt": ["Topic", "TopicName"]}


def test_load_yaml_date_version_stays_string() -> None:
    assert load(YAML)["AWSTemplateFormatVersion"] == "2010-09-09"


def test_load_json_template_parsed() -> None:
    text = json.dumps({"Resources": {"T": {"Type": "AWS::SNS::Topic"}}})

    assert load("  \n" + text) == {"Resources": {"T": {"Type": "AWS::SNS::Topic"}}}


@pytest.mark.parametrize(
    "text",
    [
        "",
        "just a string",
        "- a\n- list",
        "Parameters: {}\n",
        '{"Parameters": {}}',
        "{not json",
        "Resources: [unclosed",
        "key: : :\n  bad: indent\n bad",
    ],
)
def test_load_not_a_template_raises_value_error(text: str) -> None:
    with pytest.raises(ValueError, match=r"^not a CloudFormation template"):
        load(text)


def test_dump_then_load_round_trips_long_form() -> None:
    template = load(YAML)

    again = load(dump(template))

    assert again == template
    assert "Fn::Sub" in dump(template)
    assert "!Sub" not in dump(template)


def test_dump_keeps_key_order() -> None:
    text = dump({"Resources": {}, "AWSTemplateFormatVersion": "2010-09-09"})

    assert text.index("Resources") < text.index("AWSTemplateFormatVersion")


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ({"Resources": {}}, []),
        ({"Parameters": None, "Resources": {}}, []),
        ({"Parameters": {"Stage": {}, "B": {}, "A": {}}, "Resources": {}}, ["A", "B", "Stage"]),
    ],
)
def test_declared_parameters_sorted_names(template: dict, expected: list[str]) -> None:
    assert declared_parameters(template) == expected


def test_declared_parameters_from_yaml() -> None:
    assert declared_parameters(load(YAML)) == ["LogLevel", "Stage"]
