"""Completion by event: the target account's forward rule and the orchestrator's bus."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cfnlint.decode import cfn_yaml
from stackrelay.status import TERMINAL_STATUSES

ROOT = Path(__file__).resolve().parents[2]


def _load(path: Path) -> dict[str, Any]:
    return dict(cfn_yaml.load(str(path)))


def forward_rule_statuses(setup: dict[str, Any]) -> set[str]:
    rule = setup["Resources"]["StackStatusForwardRule"]["Properties"]
    return set(rule["EventPattern"]["detail"]["status-details"]["status"])


def test_forward_rule_matches_exactly_the_terminal_statuses() -> None:
    setup = _load(ROOT / "setup" / "target-account.yaml")

    assert forward_rule_statuses(setup) == set(TERMINAL_STATUSES)


def test_further_region_forward_rule_same_statuses_to_the_orchestrator_region() -> None:
    # setup/target-region.yaml: the same rule in a region other than the orchestrator's.
    region = _load(ROOT / "setup" / "target-region.yaml")
    rule = region["Resources"]["StackStatusForwardRule"]["Properties"]
    [target] = rule["Targets"]

    assert forward_rule_statuses(region) == set(TERMINAL_STATUSES)
    assert "${OrchestratorRegion}:${OrchestratorAccountId}" in target["Arn"]["Fn::Sub"]
    assert set(region["Resources"]) == {"StackStatusForwardRole", "StackStatusForwardRule"}


def test_forward_rule_check_fails_on_a_missing_status() -> None:
    setup = _load(ROOT / "setup" / "target-account.yaml")
    rule = setup["Resources"]["StackStatusForwardRule"]["Properties"]
    rule["EventPattern"]["detail"]["status-details"]["status"].remove("UPDATE_ROLLBACK_COMPLETE")

    assert forward_rule_statuses(setup) != set(TERMINAL_STATUSES)


def test_forward_rule_only_prefixed_stacks_to_the_orchestrator_bus() -> None:
    setup = _load(ROOT / "setup" / "target-account.yaml")
    rule = setup["Resources"]["StackStatusForwardRule"]["Properties"]
    prefix = rule["EventPattern"]["detail"]["stack-id"][0]["prefix"]
    [target] = rule["Targets"]

    assert rule["EventBusName"] == "default"
    assert rule["EventPattern"]["source"] == ["aws.cloudformation"]
    assert prefix["Fn::Sub"].endswith(":stack/${StackPrefix}")
    assert target["Arn"]["Fn::Sub"].endswith(
        ":${OrchestratorAccountId}:event-bus/${CompletionBusName}"
    )
    assert "RoleArn" in target


def test_completion_bus_admits_only_target_accounts_and_cloudformation_events() -> None:
    template = _load(ROOT / "template.yaml")
    policy = template["Resources"]["CompletionBus"]["Properties"]["Policy"]
    [statement] = policy["Statement"]
    condition, with_ids, without = statement["Principal"]["AWS"]["Fn::If"]
    principals = [p["Fn::Sub"] for p in without]

    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "events:PutEvents"
    assert sorted(principals) == sorted(
        f"arn:${{AWS::Partition}}:iam::${{{name}}}:root"
        for name in ("DevAccountId", "StagingAccountId", "ProdAccountId")
    )
    # With DeployAccountIds (a topology's accounts): exactly those accounts.
    assert (condition, with_ids) == ("HasDeployAccountIds", {"Ref": "DeployAccountIds"})
    assert statement["Condition"] == {"StringEquals": {"events:source": "aws.cloudformation"}}
