"""Releases run with exactly the roles setup/target-account.yaml creates (issue 7)."""

from __future__ import annotations

import json

from stackrelay.naming import stack_name


def test_review_deploy_uses_the_setup_templates_deploy_and_execution_roles(releaser, local):
    run = releaser.deploy("feature/roles")

    assert run.status == "SUCCEEDED", run.cause
    events = releaser.sfn.get_execution_history(executionArn=run.arn, maxResults=1000)["events"]
    plan = next(
        json.loads(e["stateExitedEventDetails"]["output"])["plan"]
        for e in events
        if e.get("stateExitedEventDetails", {}).get("name") == "Validate Input"
    )
    [stage] = plan["stages"]
    roles = local.roles["dev"]
    assert stage["role_arn"] == roles["DeployRoleArn"]
    assert stage["execution_role_arn"] == roles["ExecutionRoleArn"]
    stack = releaser.stack(
        "111111111111", stack_name("sr-", releaser.app, "review", "feature/roles")
    )
    assert stack["RoleARN"] == roles["ExecutionRoleArn"]
    iam = releaser.engine.client("iam", account="dev")
    role_names = [r["RoleName"] for r in iam.list_roles()["Roles"]]
    assert "StackRelayDeployRole" in role_names
    app_roles = [
        r for r in iam.list_roles()["Roles"] if r["RoleName"].startswith(stack["StackName"])
    ]
    assert app_roles, "the app's function role exists in dev"
    for role in app_roles:
        boundary = iam.get_role(RoleName=role["RoleName"])["Role"].get("PermissionsBoundary", {})
        assert boundary.get("PermissionsBoundaryArn") == roles["AppPermissionsBoundaryArn"]
