"""Releases run with exactly the roles the setup templates create (issue 7): the deploy
role of setup/target-account.yaml and the app's own execution role and boundary of
setup/target-app.yaml (issue 11, per-app isolation)."""

from __future__ import annotations

import json

from stackrelay import statenames
from stackrelay.naming import stack_name


def test_review_deploy_uses_the_setup_templates_deploy_and_execution_roles(releaser, local):
    run = releaser.deploy("feature/roles")

    assert run.status == "SUCCEEDED", run.cause
    events = releaser.sfn.get_execution_history(executionArn=run.arn, maxResults=1000)["events"]
    plan = next(
        json.loads(e["stateExitedEventDetails"]["output"])["plan"]
        for e in events
        if e.get("stateExitedEventDetails", {}).get("name") == statenames.VALIDATE_INPUT
    )
    [stage] = plan["stages"]
    roles = {**local.roles["dev"], **local.apps[releaser.app]["dev"]}
    assert stage["role_arn"] == roles["DeployRoleArn"]
    assert stage["execution_role_arn"] == roles["ExecutionRoleArn"]
    assert roles["ExecutionRoleArn"].endswith(f":role/StackRelayExecution-{releaser.app}")
    stack = releaser.stack(
        "111111111111", stack_name("sr-", releaser.app, "review", "feature/roles")
    )
    assert stack["RoleARN"] == roles["ExecutionRoleArn"]
    iam = releaser.engine.client("iam", account="dev")
    assert iam.get_role(RoleName="StackRelayDeployRole")["Role"]["Arn"]
    # The stack's own roles (CloudFormation shortens generated names: find them by resource).
    cfn = releaser.engine.client("cloudformation", account="dev")
    resources = cfn.describe_stack_resources(StackName=stack["StackName"])["StackResources"]
    roles_of_stack = [r for r in resources if r["ResourceType"] == "AWS::IAM::Role"]
    app_roles = [r["PhysicalResourceId"] for r in roles_of_stack]
    assert app_roles, "the app's function role exists in dev"
    for name in app_roles:
        boundary = iam.get_role(RoleName=name)["Role"].get("PermissionsBoundary", {})
        assert boundary.get("PermissionsBoundaryArn") == roles["AppPermissionsBoundaryArn"]
        assert roles["AppPermissionsBoundaryArn"].endswith(
            f":policy/StackRelayAppPermissionsBoundary-{releaser.app}"
        )
