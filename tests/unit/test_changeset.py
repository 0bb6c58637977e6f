"""changeset: the summary an approver reads and the digest the approval binds to."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from stackrelay import changeset
from stackrelay.changeset import digest, headline, render, summarize
from stackrelay.records import clean, plain


def rc(
    action: str,
    logical_id: str,
    rtype: str = "AWS::SNS::Topic",
    replacement: str | None = None,
    details: list[dict[str, Any]] | None = None,
    scope: list[str] | None = None,
) -> dict[str, Any]:
    """One entry of DescribeChangeSet's Changes."""
    change: dict[str, Any] = {
        "Action": action,
        "LogicalResourceId": logical_id,
        "ResourceType": rtype,
    }
    if replacement is not None:
        change["Replacement"] = replacement
    if details is not None:
        change["Details"] = details
    if scope is not None:
        change["Scope"] = scope
    return {"Type": "Resource", "ResourceChange": change}


CHANGES = [
    rc("Add", "Queue", "AWS::SQS::Queue"),
    rc("Add", "FunctionRole", "AWS::IAM::Role"),
    rc("Modify", "Function", "AWS::Lambda::Function", "False", scope=["Properties"]),
    rc("Modify", "Table", "AWS::DynamoDB::Table", "True", scope=["Properties"]),
    rc("Modify", "Bucket", "AWS::S3::Bucket", "Conditional"),
    rc("Remove", "OldTopic", "AWS::SNS::Topic"),
]


def test_summarize_mixed_changes_counts_each_kind() -> None:
    summary = summarize(CHANGES)

    assert summary["counts"] == {"add": 2, "modify": 3, "remove": 1, "replace": 2, "iam": 1}
    assert len(summary["rows"]) == 6


def test_summarize_rows_removes_first_then_replacements_then_adds() -> None:
    rows = summarize(CHANGES)["rows"]

    assert [r["logical_id"] for r in rows] == [
        "OldTopic",
        "Table",
        "Bucket",
        "Function",
        "FunctionRole",
        "Queue",
    ]
    assert [r["action"] for r in rows] == ["remove", "modify", "modify", "modify", "add", "add"]


def test_summarize_order_independent_of_input_order() -> None:
    assert summarize(CHANGES) == summarize(list(reversed(CHANGES)))


def test_summarize_replacement_only_reported_for_modify() -> None:
    summary = summarize([rc("Add", "A", replacement="True"), rc("Remove", "B", replacement="True")])

    assert [r["replacement"] for r in summary["rows"]] == [None, None]
    assert summary["counts"]["replace"] == 0


def test_summarize_row_fields_from_resource_change() -> None:
    [row] = summarize(
        [rc("Modify", "Fn", "AWS::Lambda::Function", "False", scope=["Tags", "Properties"])]
    )["rows"]

    assert row == {
        "action": "modify",
        "logical_id": "Fn",
        "type": "AWS::Lambda::Function",
        "replacement": "False",
        "scope": ["Properties", "Tags"],
        "iam": False,
    }


@pytest.mark.parametrize(
    ("change", "iam"),
    [
        (rc("Add", "R", "AWS::IAM::Role"), True),
        (rc("Add", "P", "AWS::IAM::ManagedPolicy"), True),
        (rc("Add", "S", "AWS::SSO::PermissionSet"), True),
        (rc("Add", "L", "AWS::Lambda::Permission"), True),
        (rc("Add", "K", "AWS::KMS::Key"), True),
        (rc("Add", "B", "AWS::S3::BucketPolicy"), True),
        (rc("Add", "T", "AWS::SNS::Topic"), False),
        (
            rc("Modify", "F", "AWS::Lambda::Function", "False", [{"Target": {"Name": "Role"}}]),
            True,
        ),
        (
            rc("Modify", "F", "AWS::Lambda::Function", "False", [{"Target": {"Name": "Timeout"}}]),
            False,
        ),
        (rc("Modify", "F", "AWS::Lambda::Function", "False", [{"Target": {}}]), False),
    ],
)
def test_summarize_iam_flag_set_for_iam_types_and_role_details(
    change: dict[str, Any], iam: bool
) -> None:
    summary = summarize([change])

    assert summary["rows"][0]["iam"] is iam
    assert summary["counts"]["iam"] == int(iam)


def test_summarize_bare_resource_change_accepted() -> None:
    summary = summarize([{"Action": "Add", "LogicalResourceId": "X", "ResourceType": "T"}])

    assert summary["rows"][0]["logical_id"] == "X"


def test_summarize_unknown_action_lowercased_and_last() -> None:
    summary = summarize([rc("Dynamic", "D"), rc("Add", "A"), rc("Import", "I")])

    assert [r["action"] for r in summary["rows"]] == ["add", "dynamic", "import"]


def test_summarize_empty_changes_all_zero() -> None:
    assert summarize([]) == {
        "counts": {"add": 0, "modify": 0, "remove": 0, "replace": 0, "iam": 0},
        "rows": [],
    }


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ([], "0 to add, 0 to modify, 0 to remove"),
        ([rc("Add", "A")], "1 to add, 0 to modify, 0 to remove"),
        (
            CHANGES,
            "2 to add, 3 to modify, 1 to remove (2 replacements, 1 deletion, 1 IAM-affecting)",
        ),
        (
            [rc("Modify", "T", replacement="True")],
            "0 to add, 1 to modify, 0 to remove (1 replacement)",
        ),
        (
            [rc("Remove", "A"), rc("Remove", "B")],
            "0 to add, 0 to modify, 2 to remove (2 deletions)",
        ),
    ],
)
def test_headline_counts_and_notes(changes: list[dict[str, Any]], expected: str) -> None:
    assert headline(summarize(changes)) == expected


def test_render_table_flags_and_columns() -> None:
    text = render(summarize(CHANGES))
    lines = text.splitlines()

    assert lines[0] == headline(summarize(CHANGES))
    assert lines[1] == ""
    assert lines[2].split() == ["ACTION", "RESOURCE", "TYPE", "REPLACEMENT", "FLAGS"]
    rows = {line.split()[1]: line.split() for line in lines[3:]}
    assert rows["OldTopic"][-1] == "DELETES"
    assert rows["Table"][-1] == "REPLACES"
    assert rows["Bucket"][-2:] == ["Conditional", "REPLACES"]
    assert rows["FunctionRole"][-2:] == ["-", "IAM"]
    assert rows["Queue"][-2:] == ["-", "-"]


def test_render_columns_aligned() -> None:
    header, *rows = render(summarize(CHANGES)).splitlines()[2:]

    for column in ("RESOURCE", "TYPE", "REPLACEMENT", "FLAGS"):
        at = header.index(column)
        for row in rows:
            assert row[at - 2 : at] == "  ", (column, row)
            assert row[at] != " ", (column, row)


def test_render_no_changes_only_headline() -> None:
    assert render(summarize([])) == "0 to add, 0 to modify, 0 to remove"


def change_set(**overrides: Any) -> dict[str, Any]:
    base = {
        "ChangeSetId": "arn:aws:cloudformation:us-east-1:1:changeSet/cs/1",
        "CreationTime": "2026-01-01T00:00:00Z",
        "StackName": "sr-aws-news-prod",
        "Changes": copy.deepcopy(CHANGES),
        "Parameters": [
            {"ParameterKey": "Stage", "ParameterValue": "prod"},
            {"ParameterKey": "LogLevel", "ParameterValue": "WARN"},
        ],
    }
    return {**base, **overrides}


def test_digest_is_sha256_hex() -> None:
    value = digest(change_set())

    assert len(value) == 64
    assert int(value, 16) >= 0


def test_digest_parameter_order_does_not_matter() -> None:
    reordered = change_set(Parameters=list(reversed(change_set()["Parameters"])))

    assert digest(reordered) == digest(change_set())


def test_digest_ids_and_timestamps_ignored() -> None:
    other = change_set(ChangeSetId="arn:other", CreationTime="2030-01-01T00:00:00Z", NextToken=None)

    assert digest(other) == digest(change_set())


def test_digest_bare_and_wrapped_changes_same() -> None:
    bare = change_set(Changes=[c["ResourceChange"] for c in CHANGES])

    assert digest(bare) == digest(change_set())


def _modified(path: str, value: Any) -> dict[str, Any]:
    cs = change_set()
    if path == "replacement":
        cs["Changes"][3]["ResourceChange"]["Replacement"] = value
    elif path == "action":
        cs["Changes"][0]["ResourceChange"]["Action"] = value
    elif path == "extra":
        cs["Changes"].append(rc("Add", "Extra"))
    elif path == "dropped":
        cs["Changes"].pop()
    elif path == "parameter":
        cs["Parameters"][0]["ParameterValue"] = value
    elif path == "stack":
        cs["StackName"] = value
    return cs


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("replacement", "False"),
        ("action", "Remove"),
        ("extra", None),
        ("dropped", None),
        ("parameter", "staging"),
        ("stack", "sr-aws-news-staging"),
    ],
)
def test_digest_content_changes_digest_changes(path: str, value: Any) -> None:
    assert digest(_modified(path, value)) != digest(change_set())


def test_digest_missing_changes_and_parameters_is_stable() -> None:
    assert digest({"StackName": "s"}) == digest({"StackName": "s", "Changes": [], "Parameters": []})


def test_render_summary_stored_in_dynamodb_renders_same() -> None:
    # The approval keeps the summary in the table, where None values are dropped.
    summary = summarize(CHANGES)
    stored = plain(clean(summary))
    assert "replacement" not in stored["rows"][0]  # the removed topic: no replacement

    assert render(stored) == render(summary)


# -- is this still the reviewed change set? (changeset.stale_reason) -----------------


def _found(status: str = "AVAILABLE", value: str = "1") -> dict:
    return {
        "StackName": "sr-app-prod",
        "ExecutionStatus": status,
        "Changes": [{"ResourceChange": {"Action": "Add", "LogicalResourceId": "Fn"}}],
        "Parameters": [{"ParameterKey": "Stage", "ParameterValue": value}],
    }


def test_stale_reason_reviewed_and_available_may_run() -> None:
    assert changeset.stale_reason(_found(), changeset.digest(_found())) is None


@pytest.mark.parametrize(
    ("found", "reason", "discard"),
    [
        (None, "no longer exists", False),
        (_found("EXECUTE_FAILED"), "EXECUTE_FAILED, not AVAILABLE", False),
        (_found("OBSOLETE"), "OBSOLETE, not AVAILABLE", False),
        (_found(value="2"), "content changed", True),
    ],
)
def test_stale_reason_planted_changes_are_stale(
    found: dict | None, reason: str, discard: bool
) -> None:
    stale = changeset.stale_reason(found, changeset.digest(_found()))
    assert stale is not None
    assert reason in stale.reason
    assert stale.discard is discard


@pytest.mark.parametrize(
    ("found", "executed"),
    [
        (None, False),
        (_found(), False),
        (_found("EXECUTE_IN_PROGRESS"), True),
        (_found("EXECUTE_COMPLETE"), True),
        (_found("EXECUTE_FAILED"), False),
    ],
)
def test_already_executed(found: dict | None, executed: bool) -> None:
    assert changeset.already_executed(found) is executed
