"""Publish applies the target accounts' permissions boundary to roles that lack it."""

from __future__ import annotations

from pathlib import Path

from stackrelay import boundary, changeset, templates

ROOT = Path(__file__).resolve().parents[2]


def _sam_init_template() -> dict:
    return templates.load(
        (ROOT / "tests" / "fixtures" / "unseen_app" / "template.yaml").read_text()
    )


def test_apply_sets_boundary_on_function_without_one_and_records_it() -> None:
    template = _sam_init_template()

    changed = boundary.apply(template)

    assert changed == ["HelloWorldFunction"]
    props = template["Resources"]["HelloWorldFunction"]["Properties"]
    assert props["PermissionsBoundary"] == {
        "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/"
        "StackRelayAppPermissionsBoundary"
    }
    assert boundary.applied(template) == {
        "boundary": "StackRelayAppPermissionsBoundary",
        "resources": ["HelloWorldFunction"],
    }
    note = boundary.applied_note(boundary.applied(template))
    assert note is not None and "HelloWorldFunction" in note and "Globals.Function" in note


def test_apply_leaves_globals_boundary_own_role_and_other_boundary_alone() -> None:
    template = {
        "Globals": {"Function": {"PermissionsBoundary": "arn:aws:iam::1:policy/B"}},
        "Resources": {
            "Inherits": {"Type": "AWS::Serverless::Function", "Properties": {}},
            "OwnRole": {"Type": "AWS::Serverless::Function", "Properties": {"Role": "arn:r"}},
            "Other": {
                "Type": "AWS::IAM::Role",
                "Properties": {"PermissionsBoundary": "arn:aws:iam::1:policy/Other"},
            },
            "Bare": {"Type": "AWS::IAM::Role", "Properties": {}},
            "Flow": {"Type": "AWS::Serverless::StateMachine", "Properties": {}},
            "Table": {"Type": "AWS::DynamoDB::Table", "Properties": {}},
        },
    }

    assert boundary.apply(template) == ["Bare", "Flow"]
    assert template["Resources"]["Other"]["Properties"]["PermissionsBoundary"].endswith("/Other")
    assert "PermissionsBoundary" not in template["Resources"]["OwnRole"]["Properties"]


def test_apply_nothing_missing_changes_nothing() -> None:
    template = templates.load((ROOT / "examples" / "aws-news" / "template.yaml").read_text())
    assert boundary.apply(template) == []
    assert boundary.applied(template) is None
    assert "Metadata" not in template


def test_change_summary_shows_the_note_under_the_headline() -> None:
    summary = changeset.summarize(
        [
            {
                "ResourceChange": {
                    "Action": "Add",
                    "LogicalResourceId": "R",
                    "ResourceType": "AWS::IAM::Role",
                }
            }
        ],
        notes=["StackRelay added the permissions boundary X"],
    )
    lines = changeset.render(summary).splitlines()
    assert lines[1] == "note: StackRelay added the permissions boundary X"
    assert "notes" not in changeset.summarize([])


def test_apply_app_boundary_replaces_the_shared_one_and_sets_the_missing() -> None:
    # Given the sample app (Globals name the shared boundary of earlier releases) and a
    # role without any boundary
    template = templates.load((ROOT / "examples" / "aws-news" / "template.yaml").read_text())
    template["Resources"]["Extra"] = {"Type": "AWS::IAM::Role", "Properties": {}}
    template["Resources"]["Mine"] = {
        "Type": "AWS::IAM::Role",
        "Properties": {"PermissionsBoundary": "arn:aws:iam::1:policy/Mine"},
    }

    changed = boundary.apply(template, name=boundary.name_for("aws-news"))

    expected = {
        "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/"
        "StackRelayAppPermissionsBoundary-aws-news"
    }
    assert changed == ["Extra", "Globals.Function"]
    assert template["Globals"]["Function"]["PermissionsBoundary"] == expected
    assert template["Resources"]["Extra"]["Properties"]["PermissionsBoundary"] == expected
    # an explicit other boundary stays (the execution role refuses it on AWS)
    assert template["Resources"]["Mine"]["Properties"]["PermissionsBoundary"].endswith("/Mine")
    assert boundary.applied(template) == {
        "boundary": "StackRelayAppPermissionsBoundary-aws-news",
        "resources": ["Extra", "Globals.Function"],
    }
