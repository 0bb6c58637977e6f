"""Publish names unnamed SAM layers under their stack (the app's scope)."""

from __future__ import annotations

from stackrelay import layers


def test_apply_names_unnamed_sam_layer_after_its_stack_and_records_it() -> None:
    template = {
        "Resources": {
            "DepsLayer": {"Type": "AWS::Serverless::LayerVersion", "Properties": {}},
            "Named": {
                "Type": "AWS::Serverless::LayerVersion",
                "Properties": {"LayerName": "sr-app-own"},
            },
            "Raw": {"Type": "AWS::Lambda::LayerVersion", "Properties": {}},
        }
    }

    assert layers.apply(template) == ["DepsLayer"]

    props = template["Resources"]["DepsLayer"]["Properties"]
    assert props["LayerName"] == {"Fn::Sub": "${AWS::StackName}-DepsLayer"}
    assert template["Resources"]["Named"]["Properties"]["LayerName"] == "sr-app-own"
    assert "LayerName" not in template["Resources"]["Raw"]["Properties"]
    assert layers.applied(template) == ["DepsLayer"]
    note = layers.applied_note(layers.applied(template))
    assert note is not None and "DepsLayer" in note


def test_apply_nothing_to_name_changes_nothing() -> None:
    template = {"Resources": {"Fn": {"Type": "AWS::Serverless::Function"}}}

    assert layers.apply(template) == []
    assert "Metadata" not in template
    assert layers.applied_note(layers.applied(template)) is None
