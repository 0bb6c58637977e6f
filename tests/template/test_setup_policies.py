"""Least-privilege rules for every IAM policy the setup/ templates create.

Each template is rendered with concrete parameter values (a small resolver for the
intrinsics the templates use), then every role trust policy, role policy, managed
policy and bucket policy is checked. The checker functions are also run against
planted violations, so each rule is shown to be able to fail.

The last section runs the rendered CI and deploy role policies on moto with IAM
enforcement on, to show deny paths.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import cfnlint
import pytest
from botocore.exceptions import ClientError
from cfnlint.decode import cfn_yaml
from moto import mock_aws
from moto.core.authorization import enable_iam_authentication
from policy_helpers import (
    as_document,
    as_list,
    passrole_violations,
    policies,
    statements,
    wildcard_action_violations,
)
from policy_helpers import resource_star_violations as shared_resource_star_violations

ROOT = Path(__file__).resolve().parents[2]
SETUP = ROOT / "setup"

PARTITION = "aws"
REGION = "us-east-1"
ORCHESTRATOR_ACCOUNT = "111111111111"
TARGET_ACCOUNT = "222222222222"
ARTIFACT_BUCKET = "stackrelay-artifacts-test"
STATE_MACHINE_ARN = f"arn:aws:states:{REGION}:{ORCHESTRATOR_ACCOUNT}:stateMachine:StackRelayDeploy"
TEARDOWN_STATE_MACHINE_ARN = (
    f"arn:aws:states:{REGION}:{ORCHESTRATOR_ACCOUNT}:stateMachine:StackRelayTeardown"
)
APPROVAL_FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ORCHESTRATOR_ACCOUNT}:function:sr-approval"
START_FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ORCHESTRATOR_ACCOUNT}:function:sr-start"

# Allow statements may use Resource "*" only for these actions. Each one has no
# resource-level permissions (checked against cfn-lint's IAM action data below).
RESOURCE_STAR_EXCEPTIONS = {
    "cloudformation:ListStacks",
    "lambda:CreateEventSourceMapping",
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:DescribeLogGroups",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
}

# Condition keys IAM populates for a generic (GitLab) OIDC provider. GitLab's custom
# claims (project_id, ref_protected, ...) are not among them.
SUPPORTED_OIDC_CLAIM_KEYS = {"aud", "sub"}


# --------------------------------------------------------------------------- render
NO_VALUE = object()


class Renderer:
    """Resolves the CloudFormation intrinsics used by setup/ for given parameters."""

    def __init__(self, template: dict[str, Any], params: dict[str, str], account: str):
        self.template = template
        self.account = account
        self.params: dict[str, Any] = {}
        for name, spec in template.get("Parameters", {}).items():
            value = params.get(name, spec.get("Default"))
            if value is None:
                raise KeyError(f"parameter {name} needs a value")
            if spec["Type"] == "CommaDelimitedList":
                value = value if isinstance(value, list) else str(value).split(",")
            self.params[name] = value
        self.pseudo = {
            "AWS::Partition": PARTITION,
            "AWS::Region": REGION,
            "AWS::AccountId": account,
            "AWS::StackName": "stack",
            "AWS::NoValue": NO_VALUE,
        }
        self.conditions = {
            name: self.resolve(expr) for name, expr in template.get("Conditions", {}).items()
        }

    def resources(self) -> dict[str, dict[str, Any]]:
        out = {}
        for name, res in self.template["Resources"].items():
            if "Condition" in res and not self.conditions[res["Condition"]]:
                continue
            out[name] = {"Type": res["Type"], "Properties": self.resolve(res["Properties"])}
        return out

    def ref(self, name: str) -> Any:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.params:
            return self.params[name]
        res = self.template["Resources"][name]
        props = res["Properties"]
        if res["Type"] == "AWS::IAM::ManagedPolicy":
            policy_name = self.resolve(props["ManagedPolicyName"])
            return f"arn:{PARTITION}:iam::{self.account}:policy/{policy_name}"
        if res["Type"] == "AWS::S3::Bucket":
            bucket = self.resolve(props.get("BucketName", NO_VALUE))
            return "generated-bucket" if bucket is NO_VALUE else bucket
        return name

    def get_att(self, name: str, attribute: str) -> str:
        res = self.template["Resources"][name]
        assert attribute == "Arn", attribute
        props = res["Properties"]
        if res["Type"] == "AWS::IAM::Role":
            return f"arn:{PARTITION}:iam::{self.account}:role/{self.resolve(props['RoleName'])}"
        if res["Type"] == "AWS::IAM::OIDCProvider":
            host = self.resolve(props["Url"]).split("//", 1)[1]
            return f"arn:{PARTITION}:iam::{self.account}:oidc-provider/{host}"
        if res["Type"] == "AWS::S3::Bucket":
            return f"arn:{PARTITION}:s3:::{self.ref(name)}"
        raise NotImplementedError(res["Type"])

    def sub(self, text: str, variables: dict[str, Any]) -> str:
        def replace(match: re.Match[str]) -> str:
            key = match.group(1)
            if key in variables:
                return str(variables[key])
            if "." in key and key not in self.pseudo:
                return self.get_att(*key.split(".", 1))
            return str(self.ref(key))

        return re.sub(r"\$\{([^}!]+)\}", replace, text)

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            items = [self.resolve(item) for item in node]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                name, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.get_att(name, attribute)
            if key == "Fn::Sub":
                if isinstance(arg, str):
                    return self.sub(arg, {})
                return self.sub(arg[0], {k: self.resolve(v) for k, v in arg[1].items()})
            if key == "Fn::If":
                name, when_true, when_false = arg
                return self.resolve(when_true if self.conditions[name] else when_false)
            if key == "Fn::Select":
                return self.resolve(arg[1])[int(self.resolve(arg[0]))]
            if key == "Fn::Split":
                return self.resolve(arg[1]).split(arg[0])
            if key == "Fn::Join":
                return arg[0].join(self.resolve(arg[1]))
            if key == "Fn::Equals":
                return self.resolve(arg[0]) == self.resolve(arg[1])
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::Contains":
                return self.resolve(arg[1]) in self.resolve(arg[0])
            if key == "Condition":
                return self.conditions[arg]
        resolved = {k: self.resolve(v) for k, v in node.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}


def load(name: str) -> dict[str, Any]:
    return cfn_yaml.load(str(SETUP / name))


def render(name: str, params: dict[str, str], account: str) -> dict[str, dict[str, Any]]:
    return Renderer(load(name), params, account).resources()


TARGET_PARAMS = {
    "OrchestratorAccountId": ORCHESTRATOR_ACCOUNT,
    "ArtifactBucketName": ARTIFACT_BUCKET,
}
APP_PARAMS = {"AppName": "aws-news", "ArtifactBucketName": ARTIFACT_BUCKET}
BUCKET_ACCOUNTS = ["222222222222", "333333333333", "444444444444", "555555555555"]
BUCKET_PARAMS = {"DeployAccountIds": ",".join(BUCKET_ACCOUNTS)}
GITLAB_PARAMS = {
    "ProjectPath": "group/aws-news",
    "ProjectId": "4711",
    "ArtifactBucketName": ARTIFACT_BUCKET,
    "AppName": "aws-news",
    "DeployStateMachineArn": STATE_MACHINE_ARN,
    "TeardownStateMachineArn": TEARDOWN_STATE_MACHINE_ARN,
    "ApprovalFunctionArn": APPROVAL_FUNCTION_ARN,
    "StartFunctionArn": START_FUNCTION_ARN,
}

# Every template in every parameter shape that changes which policies exist.
SCENARIOS: dict[str, tuple[str, dict[str, str], str]] = {
    "target-default": ("target-account.yaml", TARGET_PARAMS, TARGET_ACCOUNT),
    "target-org": (
        "target-account.yaml",
        {**TARGET_PARAMS, "OrganizationId": "o-abcdefghij"},
        TARGET_ACCOUNT,
    ),
    "app-default": ("target-app.yaml", APP_PARAMS, TARGET_ACCOUNT),
    "app-custom-policy": (
        "target-app.yaml",
        {**APP_PARAMS, "ExecutionPolicyArns": f"arn:aws:iam::{TARGET_ACCOUNT}:policy/AppPolicy"},
        TARGET_ACCOUNT,
    ),
    "bucket": ("artifact-bucket.yaml", BUCKET_PARAMS, ORCHESTRATOR_ACCOUNT),
    "gitlab-new-provider": ("gitlab-oidc.yaml", GITLAB_PARAMS, ORCHESTRATOR_ACCOUNT),
    "gitlab-existing-provider-self-managed": (
        "gitlab-oidc.yaml",
        {
            **GITLAB_PARAMS,
            "CreateOidcProvider": "false",
            "GitLabUrl": "https://gitlab.example.com",
            "GitLabAudience": "https://gitlab.example.com",
        },
        ORCHESTRATOR_ACCOUNT,
    ),
}


def rendered(scenario: str) -> dict[str, dict[str, Any]]:
    name, params, account = SCENARIOS[scenario]
    return render(name, params, account)


# --------------------------------------------------------------------------- walk
# as_list, as_document, policies, statements and the generic checkers live in
# policy_helpers (shared with test_template.py).
def all_policies() -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    for scenario in SCENARIOS:
        for where, kind, document in policies(rendered(scenario)):
            yield scenario, where, kind, document


# --------------------------------------------------------------------------- checks
def resource_star_violations(document: dict[str, Any]) -> list[str]:
    return shared_resource_star_violations(document, RESOURCE_STAR_EXCEPTIONS)


def oidc_trust_violations(document: dict[str, Any], host: str) -> list[str]:
    """GitLab web-identity trust: aud StringEquals, sub pinned, only aud/sub keys."""
    found = []
    for st in statements(document):
        if st.get("Action") != "sts:AssumeRoleWithWebIdentity":
            continue
        condition = st.get("Condition", {})
        for operator, keys in condition.items():
            if operator.startswith(("ForAllValues:", "ForAnyValue:")):
                found.append(f"set operator {operator}")
            if operator not in {"StringEquals", "StringLike"}:
                found.append(f"operator {operator}")
            for key in keys:
                claim = key.removeprefix(f"{host}:")
                if claim == key or claim not in SUPPORTED_OIDC_CLAIM_KEYS:
                    found.append(f"key {key} is not an IAM condition key for {host}")
        if condition.get("StringEquals", {}).get(f"{host}:aud") is None:
            found.append("aud not StringEquals")
        sub = condition.get("StringEquals", {}).get(f"{host}:sub") or condition.get(
            "StringLike", {}
        ).get(f"{host}:sub")
        if not isinstance(sub, str) or not re.fullmatch(r"project_path:[^*?:]+:ref_type:.+", sub):
            found.append(f"sub not pinned to one project path: {sub!r}")
    return found


# --------------------------------------------------------------------------- rules
ALL_POLICIES = list(all_policies())
POLICY_IDS = [f"{s}:{w}" for s, w, _, _ in ALL_POLICIES]


@pytest.mark.parametrize(("scenario", "where", "kind", "document"), ALL_POLICIES, ids=POLICY_IDS)
def test_policy_allow_statements_no_wildcard_actions(
    scenario: str, where: str, kind: str, document: dict[str, Any]
) -> None:
    assert wildcard_action_violations(document) == []


@pytest.mark.parametrize(("scenario", "where", "kind", "document"), ALL_POLICIES, ids=POLICY_IDS)
def test_policy_resource_star_only_named_exceptions(
    scenario: str, where: str, kind: str, document: dict[str, Any]
) -> None:
    assert resource_star_violations(document) == []


@pytest.mark.parametrize(("scenario", "where", "kind", "document"), ALL_POLICIES, ids=POLICY_IDS)
def test_policy_passrole_always_has_passed_to_service(
    scenario: str, where: str, kind: str, document: dict[str, Any]
) -> None:
    assert passrole_violations(document) == []


@pytest.mark.parametrize(("scenario", "where", "kind", "document"), ALL_POLICIES, ids=POLICY_IDS)
def test_policy_size_within_iam_limits(
    scenario: str, where: str, kind: str, document: dict[str, Any]
) -> None:
    # Managed policies: 6,144 characters without whitespace; inline role policies
    # 10,240 in total per role; bucket policies 20 KB.
    limit = {"identity": 6144, "trust": 2048, "resource": 20480}[kind]
    assert len(re.sub(r"\s", "", json.dumps(document))) <= limit


@pytest.mark.parametrize("action", sorted(RESOURCE_STAR_EXCEPTIONS))
def test_resource_star_exception_has_no_resource_level_permissions(action: str) -> None:
    # cfn-lint ships IAM's action data; an action with resource types must be scoped.
    data = json.loads(
        (Path(cfnlint.__file__).parent / "data/AdditionalSpecs/Policies.json").read_text()
    )
    service, name = action.split(":")
    actions = {k.lower(): v for k, v in data[service]["Actions"].items()}
    assert name.lower() in actions
    assert not actions[name.lower()].get("Resources")


# Checkers catch planted violations (each rule can fail).
PLANTED_ALLOW = {"Sid": "Planted", "Effect": "Allow"}


@pytest.mark.parametrize(
    ("checker", "statement"),
    [
        (wildcard_action_violations, {"Action": "*", "Resource": "arn:aws:s3:::b"}),
        (wildcard_action_violations, {"Action": ["s3:*"], "Resource": "*"}),
        (wildcard_action_violations, {"NotAction": "iam:*", "Resource": "*"}),
        (resource_star_violations, {"Action": "s3:GetObject", "Resource": "*"}),
        (passrole_violations, {"Action": "iam:PassRole", "Resource": "arn:aws:iam::1:role/x"}),
        (
            passrole_violations,
            {
                "Action": "iam:PassRole",
                "Resource": "*",
                "Condition": {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}},
            },
        ),
    ],
    ids=[
        "action-star",
        "service-star-on-star",
        "not-action",
        "star-resource",
        "passrole",
        "pr-star",
    ],
)
def test_policy_checker_planted_violation_detected(
    checker: Callable[[dict[str, Any]], list[str]], statement: dict[str, Any]
) -> None:
    document = {"Version": "2012-10-17", "Statement": [{**PLANTED_ALLOW, **statement}]}
    assert checker(document) != []


# --------------------------------------------------------------------------- target account
def target(scenario: str = "target-default") -> dict[str, dict[str, Any]]:
    return rendered(scenario)


def role_statements(resources: dict[str, dict[str, Any]], role: str) -> list[dict[str, Any]]:
    return [
        st
        for p in resources[role]["Properties"]["Policies"]
        for st in statements(p["PolicyDocument"])
    ]


TASK_ROLE_ARN = f"arn:aws:iam::{ORCHESTRATOR_ACCOUNT}:role/StackRelayTaskRole"
# The deploy role may pass any app's execution role (which app's goes with which stack is
# the plan's: naming.execution_role_name); each app's role is its own (target-app.yaml).
EXECUTION_ROLES = f"arn:aws:iam::{TARGET_ACCOUNT}:role/StackRelayExecution-*"
APP_EXECUTION_ROLE_ARN = f"arn:aws:iam::{TARGET_ACCOUNT}:role/StackRelayExecution-aws-news"
STACK_ARN = f"arn:aws:cloudformation:*:{TARGET_ACCOUNT}:stack/sr-*/*"
TRANSFORM_ARN = "arn:aws:cloudformation:*:aws:transform/Serverless-2016-10-31"


@pytest.mark.parametrize(
    ("scenario", "expected_condition"),
    [
        ("target-default", None),
        ("target-org", {"StringEquals": {"aws:PrincipalOrgID": "o-abcdefghij"}}),
    ],
)
def test_deploy_role_trust_only_orchestrator_task_role(
    scenario: str, expected_condition: dict[str, Any] | None
) -> None:
    trust = target(scenario)["DeployRole"]["Properties"]["AssumeRolePolicyDocument"]
    (statement,) = statements(trust)
    assert statement["Principal"] == {"AWS": TASK_ROLE_ARN}
    assert statement["Action"] == "sts:AssumeRole"
    assert statement.get("Condition") == expected_condition


def test_deploy_role_cloudformation_only_on_prefixed_stacks() -> None:
    for st in role_statements(target(), "DeployRole"):
        actions = as_list(st["Action"])
        if not any(a.startswith("cloudformation:") for a in actions):
            continue
        if actions == ["cloudformation:ListStacks"]:
            assert st["Resource"] == "*"
            continue
        allowed = (
            {STACK_ARN, TRANSFORM_ARN}
            if "cloudformation:CreateChangeSet" in actions
            else {STACK_ARN}
        )
        assert set(as_list(st["Resource"])) <= allowed, st["Sid"]


def test_deploy_role_create_change_set_requires_execution_role() -> None:
    (st,) = [
        s
        for s in role_statements(target(), "DeployRole")
        if "cloudformation:CreateChangeSet" in as_list(s["Action"])
    ]
    assert st["Condition"] == {"ArnLike": {"cloudformation:RoleArn": EXECUTION_ROLES}}
    assert set(st["Resource"]) == {STACK_ARN, TRANSFORM_ARN}


def test_deploy_role_passrole_only_execution_role_to_cloudformation() -> None:
    passrole = [
        s for s in role_statements(target(), "DeployRole") if "iam:PassRole" in as_list(s["Action"])
    ]
    assert passrole == [
        {
            "Sid": "PassOnlyAppExecutionRolesToCloudFormation",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": EXECUTION_ROLES,
            "Condition": {"StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}},
        }
    ]


def test_deploy_role_actions_exactly_the_contract() -> None:
    actions = {a for s in role_statements(target(), "DeployRole") for a in as_list(s["Action"])}
    assert actions == {
        *(
            f"cloudformation:{a}"
            for a in [
                "CreateChangeSet",
                "DescribeChangeSet",
                "ExecuteChangeSet",
                "DeleteChangeSet",
                "ListChangeSets",
                "DescribeStacks",
                "DescribeStackEvents",
                "DescribeStackResources",
                "GetTemplate",
                "DeleteStack",
                "ContinueUpdateRollback",
                "UpdateTerminationProtection",
                "TagResource",
                "ListStacks",
            ]
        ),
        "iam:PassRole",
        "s3:GetObject",
        "s3:GetObjectVersion",  # pinned template and code versions (artifacts.py)
    }


def test_execution_role_trusted_only_by_cloudformation() -> None:
    role = rendered("app-default")["AppExecutionRole"]["Properties"]
    assert f"arn:aws:iam::{TARGET_ACCOUNT}:role/{role['RoleName']}" == APP_EXECUTION_ROLE_ARN
    trust = role["AssumeRolePolicyDocument"]
    (statement,) = statements(trust)
    assert statement["Principal"] == {"Service": "cloudformation.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        (
            "app-default",
            [f"arn:aws:iam::{TARGET_ACCOUNT}:policy/StackRelayExecutionPolicy-aws-news"],
        ),
        ("app-custom-policy", [f"arn:aws:iam::{TARGET_ACCOUNT}:policy/AppPolicy"]),
    ],
)
def test_execution_role_policy_parameter_default_not_admin(
    scenario: str, expected: list[str]
) -> None:
    resources = rendered(scenario)
    arns = resources["AppExecutionRole"]["Properties"]["ManagedPolicyArns"]
    assert arns == expected
    assert not any(a.endswith(("/AdministratorAccess", "/PowerUserAccess")) for a in arns)
    # The target account itself holds no execution role or policy any app could share.
    assert not {r["Type"] for r in target().values()} & {"AWS::IAM::ManagedPolicy"}
    assert [n for n, r in target().items() if r["Type"] == "AWS::IAM::Role"] == [
        "StackStatusForwardRole",
        "DeployRole",
    ]


@pytest.mark.parametrize(
    ("value", "rejected"),
    [
        ("arn:aws:iam::aws:policy/AdministratorAccess", True),
        (f"arn:aws:iam::{TARGET_ACCOUNT}:policy/AppPolicy", False),
        ("", False),
    ],
)
def test_execution_policy_rule_administrator_access_rejected(value: str, rejected: bool) -> None:
    template = load("target-app.yaml")
    renderer = Renderer(template, {**APP_PARAMS, "ExecutionPolicyArns": value}, TARGET_ACCOUNT)
    assertions = template["Rules"]["ExecutionPolicyIsNotAdministratorAccess"]["Assertions"]
    assert all(renderer.resolve(a["Assert"]) for a in assertions) is not rejected


def test_execution_policy_app_roles_require_the_apps_own_boundary() -> None:
    resources = rendered("app-default")
    boundary = f"arn:aws:iam::{TARGET_ACCOUNT}:policy/StackRelayAppPermissionsBoundary-aws-news"
    writes = {
        "iam:CreateRole",
        "iam:PutRolePolicy",
        "iam:AttachRolePolicy",
        "iam:DetachRolePolicy",
        "iam:DeleteRolePolicy",
        "iam:PutRolePermissionsBoundary",
    }
    document = resources["AppExecutionPolicy"]["Properties"]["PolicyDocument"]
    seen = set()
    for st in statements(document):
        iam_actions = {a for a in as_list(st["Action"]) if a.startswith("iam:")}
        assert "iam:DeleteRolePermissionsBoundary" not in iam_actions
        assert not any("*" in a for a in iam_actions)
        if iam_actions & writes:
            assert st["Condition"] == {"StringEquals": {"iam:PermissionsBoundary": boundary}}
            seen |= iam_actions & writes
        for resource in as_list(st["Resource"]) if iam_actions else []:
            assert resource == f"arn:aws:iam::{TARGET_ACCOUNT}:role/sr-aws-news-*"
    assert seen == writes


def test_execution_policy_service_wildcards_scoped_to_the_app() -> None:
    document = rendered("app-default")["AppExecutionPolicy"]["Properties"]["PolicyDocument"]
    for st in statements(document):
        if any(a.endswith(":*") for a in as_list(st["Action"])):
            for resource in as_list(st["Resource"]):
                assert re.search(r"sr-aws-news-\*$", resource), resource


# --------------------------------------------------------------------------- artifact bucket
def test_artifact_bucket_versioned_encrypted_private_expiring() -> None:
    props = rendered("bucket")["ArtifactBucket"]["Properties"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert set(props["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(props["PublicAccessBlockConfiguration"]) == 4
    expiring = [r for r in props["LifecycleConfiguration"]["Rules"] if "ExpirationInDays" in r]
    assert expiring and expiring[0]["ExpirationInDays"] == "90"
    assert expiring[0]["NoncurrentVersionExpiration"]["NoncurrentDays"] == "90"


def test_artifact_bucket_policy_denies_non_tls() -> None:
    document = rendered("bucket")["ArtifactBucketPolicy"]["Properties"]["PolicyDocument"]
    deny = [
        s
        for s in statements(document)
        if s["Effect"] == "Deny"
        and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
    ]
    assert len(deny) == 1
    assert deny[0]["Principal"] == "*"
    assert deny[0]["Action"] == "s3:*"
    assert set(deny[0]["Resource"]) == {
        "arn:aws:s3:::generated-bucket",
        "arn:aws:s3:::generated-bucket/*",
    }


def test_artifact_bucket_policy_read_only_by_target_stackrelay_roles() -> None:
    document = rendered("bucket")["ArtifactBucketPolicy"]["Properties"]["PolicyDocument"]
    allows = [s for s in statements(document) if s["Effect"] == "Allow"]
    (allow,) = allows
    # GetObjectVersion: templates and code are read at their pinned versions (artifacts.py)
    assert sorted(as_list(allow["Action"])) == ["s3:GetObject", "s3:GetObjectVersion"]
    # Every account of the list (four here: not a fixed three), as a fixed-value
    # condition (so S3 does not count the policy as public), narrowed to the two roles.
    assert allow["Principal"] == "*"
    assert allow["Condition"]["StringEquals"] == {"aws:PrincipalAccount": BUCKET_ACCOUNTS}
    assert set(allow["Condition"]["ArnLike"]["aws:PrincipalArn"]) == {
        f"arn:aws:iam::*:role/{role}" for role in ("StackRelayDeployRole", "StackRelayExecution-*")
    }
    assert allow["Condition"].keys() == {"StringEquals", "ArnLike"}


def test_app_and_deploy_roles_read_the_regional_copies() -> None:
    # artifacts.regional_bucket: <bucket>-<region> holds a further region's copies.
    app = {
        r
        for st in role_statements(rendered("app-default"), "AppExecutionRole")
        if "s3:GetObjectVersion" in as_list(st["Action"])
        for r in as_list(st["Resource"])
    }
    assert app == {
        f"arn:aws:s3:::{ARTIFACT_BUCKET}/aws-news/*",
        f"arn:aws:s3:::{ARTIFACT_BUCKET}-*/aws-news/*",
    }
    deploy = {
        r
        for st in role_statements(rendered("target-default"), "DeployRole")
        if "s3:GetObjectVersion" in as_list(st["Action"])
        for r in as_list(st["Resource"])
    }
    assert deploy == {f"arn:aws:s3:::{ARTIFACT_BUCKET}/*", f"arn:aws:s3:::{ARTIFACT_BUCKET}-*/*"}


# --------------------------------------------------------------------------- gitlab oidc
GITLAB_SCENARIOS = {
    "gitlab-new-provider": "gitlab.com",
    "gitlab-existing-provider-self-managed": "gitlab.example.com",
}


def gitlab_trust(scenario: str, role: str) -> dict[str, Any]:
    return as_document(rendered(scenario)[role]["Properties"]["AssumeRolePolicyDocument"])


@pytest.mark.parametrize("role", ["CiPublishRole", "CiApproveRole"])
@pytest.mark.parametrize("scenario", GITLAB_SCENARIOS)
def test_gitlab_role_trust_pins_audience_and_project(scenario: str, role: str) -> None:
    host = GITLAB_SCENARIOS[scenario]
    trust = gitlab_trust(scenario, role)
    assert oidc_trust_violations(trust, host) == []
    (statement,) = statements(trust)
    provider = f"arn:aws:iam::{ORCHESTRATOR_ACCOUNT}:oidc-provider/{host}"
    assert statement["Principal"] == {"Federated": provider}
    assert statement["Condition"]["StringEquals"][f"{host}:aud"] == f"https://{host}"


@pytest.mark.parametrize("scenario", GITLAB_SCENARIOS)
def test_gitlab_publish_trust_any_ref_of_the_project(scenario: str) -> None:
    host = GITLAB_SCENARIOS[scenario]
    condition = statements(gitlab_trust(scenario, "CiPublishRole"))[0]["Condition"]
    pattern = "project_path:group/aws-news:ref_type:*:ref:*"
    assert condition["StringLike"] == {f"{host}:sub": pattern}
    # IAM StringLike: "*" matches any characters; the project path stays exact.
    regex = re.escape(pattern).replace(r"\*", ".*")
    assert re.fullmatch(regex, "project_path:group/aws-news:ref_type:branch:ref:feature/x")
    assert re.fullmatch(regex, "project_path:group/aws-news:ref_type:tag:ref:v1.0.0")
    for other in (
        "project_path:group/aws-news-evil:ref_type:branch:ref:main",
        "project_path:group/aws-news/fork:ref_type:branch:ref:main",
        "project_path:evil/aws-news:ref_type:branch:ref:main",
    ):
        assert not re.fullmatch(regex, other)


@pytest.mark.parametrize("scenario", GITLAB_SCENARIOS)
def test_gitlab_approve_trust_only_approval_branch(scenario: str) -> None:
    host = GITLAB_SCENARIOS[scenario]
    condition = statements(gitlab_trust(scenario, "CiApproveRole"))[0]["Condition"]
    assert condition.keys() == {"StringEquals"}
    assert condition["StringEquals"][f"{host}:sub"] == (
        "project_path:group/aws-news:ref_type:branch:ref:main"
    )


@pytest.mark.parametrize(
    "mutate",
    [
        lambda c: c.update({"ForAllValues:StringEquals": c.pop("StringEquals")}),
        lambda c: c["StringEquals"].update({"gitlab.com:project_id": "4711"}),
        lambda c: c["StringEquals"].update({"gitlab.com:ref_protected": "true"}),
        lambda c: c["StringEquals"].pop("gitlab.com:aud"),
        lambda c: c["StringEquals"].update({"gitlab.com:sub": "project_path:group/*:ref_type:*"}),
        lambda c: c["StringEquals"].pop("gitlab.com:sub"),
    ],
    ids=["for-all-values", "project-id-key", "ref-protected-key", "no-aud", "wild-path", "no-sub"],
)
def test_gitlab_trust_checker_planted_violation_detected(
    mutate: Callable[[dict[str, Any]], None],
) -> None:
    trust = copy.deepcopy(gitlab_trust("gitlab-new-provider", "CiApproveRole"))
    mutate(statements(trust)[0]["Condition"])
    assert oidc_trust_violations(trust, "gitlab.com") != []


def test_gitlab_publish_role_permissions_exactly_the_contract() -> None:
    resources = rendered("gitlab-new-provider")
    grants = {
        (a, r)
        for st in role_statements(resources, "CiPublishRole")
        for a in as_list(st["Action"])
        for r in as_list(st["Resource"])
    }
    executions = f"arn:aws:states:{REGION}:{ORCHESTRATOR_ACCOUNT}:execution:StackRelayDeploy:*"
    teardowns = f"arn:aws:states:{REGION}:{ORCHESTRATOR_ACCOUNT}:execution:StackRelayTeardown:*"
    objects = f"arn:aws:s3:::{ARTIFACT_BUCKET}/aws-news/*"
    assert grants == {
        ("s3:PutObject", objects),
        ("s3:GetObject", objects),
        ("s3:ListBucket", f"arn:aws:s3:::{ARTIFACT_BUCKET}"),
        ("lambda:InvokeFunction", START_FUNCTION_ARN),
        ("states:DescribeExecution", executions),
        ("states:DescribeExecution", teardowns),
    }
    (listing,) = [
        s for s in role_statements(resources, "CiPublishRole") if s["Action"] == "s3:ListBucket"
    ]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["aws-news/", "aws-news/*"]}}


def test_gitlab_approve_role_permissions_exactly_the_contract() -> None:
    grants = {
        (a, r)
        for st in role_statements(rendered("gitlab-new-provider"), "CiApproveRole")
        for a in as_list(st["Action"])
        for r in as_list(st["Resource"])
    }
    executions = f"arn:aws:states:{REGION}:{ORCHESTRATOR_ACCOUNT}:execution:StackRelayDeploy:*"
    assert grants == {
        ("lambda:InvokeFunction", APPROVAL_FUNCTION_ARN),
        ("states:DescribeExecution", executions),
    }


@pytest.mark.parametrize(("value", "created"), [("true", True), ("false", False)])
def test_gitlab_oidc_provider_created_only_when_asked(value: str, created: bool) -> None:
    resources = render(
        "gitlab-oidc.yaml", {**GITLAB_PARAMS, "CreateOidcProvider": value}, ORCHESTRATOR_ACCOUNT
    )
    assert ("GitLabOidcProvider" in resources) is created
    if created:
        props = resources["GitLabOidcProvider"]["Properties"]
        assert props["Url"] == "https://gitlab.com"
        assert props["ClientIdList"] == ["https://gitlab.com"]
        assert "ThumbprintList" not in props


# --------------------------------------------------------------------------- moto deny paths
# moto enforces identity policies once IAM authentication is enabled, with limits
# that decide what these tests can show (moto 5.2.5, moto/iam/access_control.py):
# - Only S3 passes the real resource ARN; other services are authorized against
#   Resource "*", so a resource-scoped Allow for CloudFormation or Step Functions is
#   always denied on moto. A CloudFormation denial is therefore only meaningful
#   together with the control test below, which shows the harness allows
#   CloudFormation when a policy grants it.
# - An Allow statement with a Condition is treated as a deny when its action matches
#   (conditions are evaluated without request context), so conditioned grants
#   (s3:ListBucket with s3:prefix, CreateChangeSet with RoleArn) are not exercised.
# - Trust policies of web-identity roles are not evaluated; the roles here trust the
#   test account so that sts:AssumeRole yields the role's session.
def assumed_session(role_name: str, inline_policies: dict[str, dict[str, Any]]) -> boto3.Session:
    iam = boto3.client("iam", region_name=REGION)
    account = boto3.client("sts", region_name=REGION).get_caller_identity()["Account"]
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps(trust))
    for name, document in inline_policies.items():
        iam.put_role_policy(
            RoleName=role_name, PolicyName=name, PolicyDocument=json.dumps(document)
        )
    creds = boto3.client("sts", region_name=REGION).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{role_name}", RoleSessionName="test"
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=REGION,
    )


def inline_policies(resources: dict[str, dict[str, Any]], role: str) -> dict[str, dict[str, Any]]:
    return {p["PolicyName"]: p["PolicyDocument"] for p in resources[role]["Properties"]["Policies"]}


def denied(call: Callable[[], Any]) -> bool:
    """True when the call fails with AccessDenied; any other error is re-raised."""
    try:
        call()
    except ClientError as error:
        if error.response["Error"]["Code"] == "AccessDenied":
            return True
        raise
    return False


KEY = "aws-news/abc/packaged.yaml"


TEMPLATE_BODY = json.dumps({"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}})


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        boto3.client("s3", region_name=REGION).create_bucket(Bucket=ARTIFACT_BUCKET)
        yield


def test_ci_publish_role_moto_cloudformation_denied_app_prefix_write_allowed(aws: None) -> None:
    session = assumed_session(
        "StackRelayCiPublish-aws-news",
        inline_policies(rendered("gitlab-new-provider"), "CiPublishRole"),
    )
    s3 = session.client("s3")
    cfn = session.client("cloudformation")
    with enable_iam_authentication():
        assert s3.put_object(Bucket=ARTIFACT_BUCKET, Key=KEY, Body=b"x")
        assert s3.get_object(Bucket=ARTIFACT_BUCKET, Key=KEY)
        assert denied(
            lambda: s3.put_object(
                Bucket=ARTIFACT_BUCKET, Key="other-app/abc/packaged.yaml", Body=b"x"
            )
        )
        assert denied(lambda: s3.delete_object(Bucket=ARTIFACT_BUCKET, Key=KEY))
        assert denied(
            lambda: cfn.create_stack(StackName="sr-aws-news-prod", TemplateBody=TEMPLATE_BODY)
        )
        assert denied(lambda: cfn.delete_stack(StackName="sr-aws-news-prod"))
        assert denied(lambda: session.client("iam").list_roles())


def test_ci_approve_role_moto_artifact_write_and_cloudformation_denied(aws: None) -> None:
    session = assumed_session(
        "StackRelayCiApprove-aws-news",
        inline_policies(rendered("gitlab-new-provider"), "CiApproveRole"),
    )
    with enable_iam_authentication():
        assert denied(
            lambda: session.client("s3").put_object(Bucket=ARTIFACT_BUCKET, Key=KEY, Body=b"x")
        )
        assert denied(
            lambda: session.client("cloudformation").create_stack(
                StackName="sr-aws-news-prod", TemplateBody=TEMPLATE_BODY
            )
        )


def test_deploy_role_moto_artifact_read_only_and_no_direct_stack_creation(aws: None) -> None:
    boto3.client("s3", region_name=REGION).put_object(Bucket=ARTIFACT_BUCKET, Key=KEY, Body=b"x")
    session = assumed_session("StackRelayDeployRole", inline_policies(target(), "DeployRole"))
    s3 = session.client("s3")
    with enable_iam_authentication():
        assert s3.get_object(Bucket=ARTIFACT_BUCKET, Key=KEY)
        assert denied(lambda: s3.put_object(Bucket=ARTIFACT_BUCKET, Key=KEY, Body=b"y"))
        # CreateStack is not granted at all: stacks change only through change sets.
        assert denied(
            lambda: session.client("cloudformation").create_stack(
                StackName="sr-aws-news-prod", TemplateBody=TEMPLATE_BODY
            )
        )


def test_moto_harness_control_granted_cloudformation_allowed(aws: None) -> None:
    # Control: the same harness lets a role that *is* granted CloudFormation through,
    # so the denials above come from the StackRelay policies, not from the harness.
    granted = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "cloudformation:CreateStack", "Resource": "*"}],
    }
    session = assumed_session("Control", {"control": granted})
    with enable_iam_authentication():
        cfn = session.client("cloudformation")
        assert cfn.create_stack(StackName="sr-control", TemplateBody=TEMPLATE_BODY)["StackId"]
