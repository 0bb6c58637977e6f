"""docs/setup.md "Who can do what", computed from the policies and the rules.

Each cell follows from (1) which CI role a GitLab job can assume (the trust
policies' ``sub`` conditions of setup/gitlab-oidc.yaml), (2) what that role is
granted, and (3) the start and approval functions' own rules (the app's
registered project, :func:`stackrelay.plan.is_release`,
:func:`stackrelay.approvals.may_decide`). A planted grant changes the matrix, so
the test can fail.
"""

from __future__ import annotations

import copy
import fnmatch
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from policy_helpers import as_document, as_list, statements
from stackrelay import approvals, topology
from stackrelay.config import Settings
from stackrelay.model import Source
from stackrelay.naming import execution_role_name
from stackrelay.plan import is_release
from stackrelay_local.iam_policy import Request, evaluate
from test_setup_policies import (
    APP_PARAMS,
    APPROVAL_FUNCTION_ARN,
    ARTIFACT_BUCKET,
    ORCHESTRATOR_ACCOUNT,
    REGION,
    START_FUNCTION_ARN,
    STATE_MACHINE_ARN,
    TARGET_ACCOUNT,
    render,
    rendered,
)

ROOT = Path(__file__).resolve().parents[2]
HOST = "gitlab.com"
PROJECT = "group/aws-news"
TABLE_ARN = f"arn:aws:dynamodb:{REGION}:{ORCHESTRATOR_ACCOUNT}:table/stackrelay-Table-X"
EXECUTION_ARN = STATE_MACHINE_ARN.replace(":stateMachine:", ":execution:") + ":run-1"
CI_ROLES = ("CiPublishRole", "CiApproveRole")
SETTINGS = Settings(
    topology=topology.default({"dev": "1" * 12, "staging": "2" * 12, "prod": "3" * 12}, REGION),
    region=REGION,
    deploy_role_name="d",
    execution_role_name="e",
    default_branch="main",
    stack_prefix="sr-",
    table_name="t",
    artifact_bucket=ARTIFACT_BUCKET,
)


@dataclass(frozen=True)
class Job:
    """A GitLab CI job, as its ID token's claims say."""

    project: str
    ref: str
    protected: bool

    @property
    def sub(self) -> str:
        return f"project_path:{self.project}:ref_type:branch:ref:{self.ref}"

    @property
    def source(self) -> Source:
        return Source(
            project=self.project,
            ref=self.ref,
            ref_type="branch",
            ref_protected=self.protected,
            commit="abc1234",
            pipeline_id="1",
        )

    @property
    def caller(self) -> Any:
        return type("Caller", (), {"ref_protected": self.protected, "ref_type": "branch"})()


COLUMNS = {
    "own project, feature branch": Job(PROJECT, "feature/x", False),
    "own project, protected default branch": Job(PROJECT, "main", True),
    "another project": Job("group/other", "main", True),
}


def _matches(pattern: str, value: str) -> bool:
    return fnmatch.fnmatchcase(value.lower(), pattern.lower())


def assumable(resources: dict[str, Any], job: Job) -> list[str]:
    """The CI roles whose trust policy admits ``job``'s token (aud is the AWS one)."""
    roles = []
    for role in CI_ROLES:
        for st in statements(
            as_document(resources[role]["Properties"]["AssumeRolePolicyDocument"])
        ):
            condition = st.get("Condition", {})
            equals = condition.get("StringEquals", {})
            like = condition.get("StringLike", {})
            sub_ok = (
                equals.get(f"{HOST}:sub") == job.sub
                if f"{HOST}:sub" in equals
                else _matches(like.get(f"{HOST}:sub", "\0"), job.sub)
            )
            if st["Effect"] == "Allow" and sub_ok:
                roles.append(role)
    return roles


def allowed(resources: dict[str, Any], roles: list[str], action: str, resource: str) -> bool:
    """An Allow of ``action`` on ``resource`` in any of ``roles`` (conditions aside)."""
    for role in roles:
        for policy in resources[role]["Properties"].get("Policies", []):
            for st in statements(policy["PolicyDocument"]):
                if st["Effect"] != "Allow":
                    continue
                acts = as_list(st.get("Action", []))
                res = as_list(st.get("Resource", []))
                if any(_matches(a, action) for a in acts) and any(
                    _matches(r, resource) for r in res
                ):
                    return True
    return False


def _app_execution_role() -> tuple[str, list[dict[str, Any]]]:
    """aws-news's execution role in a target account (setup/target-app.yaml): name, policies."""
    app = render("target-app.yaml", APP_PARAMS, TARGET_ACCOUNT)
    role = app["AppExecutionRole"]["Properties"]
    documents = [p["PolicyDocument"] for p in role["Policies"]]
    return role["RoleName"], [app["AppExecutionPolicy"]["Properties"]["PolicyDocument"], *documents]


def _other_apps_resources() -> list[Request]:
    """CloudFormation calls on another app's (``shop``'s) resources in the same account."""
    a = f"{REGION}:{TARGET_ACCOUNT}"
    role = f"arn:aws:iam::{TARGET_ACCOUNT}:role/sr-shop-prod-FnRole-X"
    return [
        Request("dynamodb:UpdateTable", f"arn:aws:dynamodb:{a}:table/sr-shop-prod-T-X"),
        Request("s3:PutBucketPolicy", "arn:aws:s3:::sr-shop-prod-bucket-x"),
        Request("lambda:AddPermission", f"arn:aws:lambda:{a}:function:sr-shop-prod-Fn-X"),
        Request("iam:PutRolePolicy", role),
        Request("iam:PassRole", role, {"iam:PassedToService": "lambda.amazonaws.com"}),
        Request(
            "apigateway:POST",
            f"arn:aws:apigateway:{REGION}::/restapis/a1b2c3/resources",
            {"aws:ResourceTag/stackrelay:app": "shop"},
        ),
        Request(
            "states:UpdateStateMachine",
            f"arn:aws:states:{a}:stateMachine:Flow-AbC",
            {"aws:ResourceTag/stackrelay:app": "shop"},
        ),
    ]


def cell(resources: dict[str, Any], action: str, job: Job) -> str:
    roles = assumable(resources, job)
    own = job.project == PROJECT  # the start/approval functions' registry check

    def can(act: str, resource: str) -> bool:
        return allowed(resources, roles, act, resource)

    def yes(value: bool) -> str:
        return "yes" if value else "no"

    starts = can("lambda:InvokeFunction", START_FUNCTION_ARN) and own
    decides = can("lambda:InvokeFunction", APPROVAL_FUNCTION_ARN) and own
    release = is_release(job.source, SETTINGS)
    role_name, role_documents = _app_execution_role()

    def runs_as() -> str:
        # The plan's role for the app (naming.execution_role_name) is the one setup creates.
        planned = execution_role_name("StackRelayExecution", "aws-news")
        if not starts or planned != role_name:
            return "no"
        where = "staging, prod" if release else "dev"
        return f"`{planned.replace('aws-news', '<app>')}` in {where}"

    def touches_other_app() -> bool:
        return starts and any(evaluate(role_documents, r).allowed for r in _other_apps_resources())

    def role_outside_boundary() -> bool:
        role = f"arn:aws:iam::{TARGET_ACCOUNT}:role/sr-aws-news-prod-FnRole-X"
        other = f"arn:aws:iam::{TARGET_ACCOUNT}:policy/StackRelayAppPermissionsBoundary-shop"
        return starts and any(
            evaluate(role_documents, Request("iam:CreateRole", role, context)).allowed
            for context in ({}, {"iam:PermissionsBoundary": other})
        )

    rules = {
        "upload artifacts under `<app>/`": lambda: yes(
            can("s3:PutObject", f"arn:aws:s3:::{ARTIFACT_BUCKET}/aws-news/x/packaged.yaml")
        ),
        "upload artifacts of another app": lambda: yes(
            can("s3:PutObject", f"arn:aws:s3:::{ARTIFACT_BUCKET}/other/x/packaged.yaml")
        ),
        "start a deployment": lambda: ("release" if release else "review") if starts else "no",
        "tear down a review stack": lambda: "its own branch's" if starts and not release else "no",
        "show the waiting prod change summary": lambda: yes(decides),
        "approve or reject prod": lambda: yes(decides and approvals.may_decide(job.caller)),
        "watch executions (DescribeExecution)": lambda: yes(
            can("states:DescribeExecution", EXECUTION_ARN)
        ),
        "start an execution directly (StartExecution)": lambda: yes(
            can("states:StartExecution", STATE_MACHINE_ARN)
        ),
        "read task tokens (execution history, table)": lambda: yes(
            can("states:GetExecutionHistory", EXECUTION_ARN)
            or any(
                can(f"dynamodb:{a}", TABLE_ARN)
                for a in ("GetItem", "Query", "Scan", "BatchGetItem", "PartiQLSelect")
            )
        ),
        "answer Step Functions (SendTaskSuccess/Failure)": lambda: yes(
            can("states:SendTaskSuccess", "*") or can("states:SendTaskFailure", "*")
        ),
        "its stacks run as (target accounts)": runs_as,
        "its stacks change another app's resources": lambda: yes(touches_other_app()),
        "its stacks create a role outside its app's boundary": lambda: yes(role_outside_boundary()),
    }
    return rules[action]()


def documented() -> dict[str, dict[str, str]]:
    text = (ROOT / "docs" / "setup.md").read_text()
    section = text.split("### Who can do what", 1)[1]
    rows: list[str] = []
    for line in section.splitlines():
        if line.startswith("|"):
            rows.append(line)
        elif rows:
            break  # the first table of the section only
    header = [c.strip() for c in rows[0].strip("|").split("|")]
    table = {}
    for row in rows[2:]:
        cells = [c.strip() for c in row.strip("|").split("|")]
        table[cells[0]] = dict(zip(header[1:], cells[1:], strict=True))
    return table


def computed(resources: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {
        action: {column: cell(resources, action, job) for column, job in COLUMNS.items()}
        for action in documented()
    }


def test_setup_doc_who_can_do_what_matches_policies_and_rules() -> None:
    assert computed(rendered("gitlab-new-provider")) == documented()


def test_setup_doc_table_covers_token_read_and_use() -> None:
    actions = set(documented())
    assert "read task tokens (execution history, table)" in actions
    assert "answer Step Functions (SendTaskSuccess/Failure)" in actions


@pytest.mark.parametrize(
    ("role", "grant"),
    [
        ("CiPublishRole", ("states:StartExecution", STATE_MACHINE_ARN)),
        ("CiPublishRole", ("states:GetExecutionHistory", EXECUTION_ARN)),
        ("CiApproveRole", ("dynamodb:GetItem", TABLE_ARN)),
        ("CiApproveRole", ("states:SendTaskSuccess", "*")),
        ("CiPublishRole", ("s3:PutObject", f"arn:aws:s3:::{ARTIFACT_BUCKET}/*")),
    ],
)
def test_trust_matrix_planted_grant_detected(role: str, grant: tuple[str, str]) -> None:
    resources = copy.deepcopy(rendered("gitlab-new-provider"))
    policy = resources[role]["Properties"]["Policies"][0]["PolicyDocument"]
    policy["Statement"].append({"Effect": "Allow", "Action": grant[0], "Resource": grant[1]})

    assert computed(resources) != documented()


# -- the token read/use rule, on its own -------------------------------------------------
READ_TOKEN = ("states:GetExecutionHistory", "dynamodb:GetItem", "dynamodb:Scan", "dynamodb:Query")
USE_TOKEN = ("states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat")


def token_violations(resources: dict[str, Any]) -> list[str]:
    """CI roles that can both read a task token and use it."""
    found = []
    for role in CI_ROLES:
        reads = [
            a
            for a in READ_TOKEN
            if any(allowed(resources, [role], a, r) for r in (EXECUTION_ARN, TABLE_ARN))
        ]
        uses = [a for a in USE_TOKEN if allowed(resources, [role], a, "*")]
        if reads and uses:
            found.append(f"{role}: reads with {reads}, answers with {uses}")
    return found


@pytest.mark.parametrize(
    "scenario", ["gitlab-new-provider", "gitlab-existing-provider-self-managed"]
)
def test_no_ci_role_can_both_read_and_use_a_task_token(scenario: str) -> None:
    assert token_violations(rendered(scenario)) == []


def test_token_rule_planted_violation_detected() -> None:
    resources = copy.deepcopy(rendered("gitlab-new-provider"))
    policy = resources["CiApproveRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    policy["Statement"] += [
        {"Effect": "Allow", "Action": "states:Get*", "Resource": "*"},
        {"Effect": "Allow", "Action": "states:SendTask*", "Resource": "*"},
    ]
    assert token_violations(resources) == [
        "CiApproveRole: reads with ['states:GetExecutionHistory'], answers with "
        "['states:SendTaskSuccess', 'states:SendTaskFailure', 'states:SendTaskHeartbeat']"
    ]


def test_identity_audience_differs_from_aws_audience() -> None:
    template = (ROOT / "template.yaml").read_text()
    ci = (ROOT / "ci" / "stackrelay.gitlab-ci.yml").read_text()
    token_audience = re.search(r"TokenAudience:\n(?:\s+.*\n)*?\s+Default: (\S+)", template)
    aws_audience = re.search(r"STACKRELAY_OIDC_AUDIENCE: (\S+)", ci)
    assert token_audience and aws_audience
    assert token_audience.group(1) != aws_audience.group(1)
    assert "STACKRELAY_IDENTITY_TOKEN:\n      aud: $STACKRELAY_TOKEN_AUDIENCE" in ci


@pytest.mark.parametrize(
    "statement",
    [
        # the shared prefix of before: every app's resources
        {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "arn:aws:dynamodb:*:*:table/sr-*"},
        # roles without the app's boundary
        {"Effect": "Allow", "Action": "iam:CreateRole", "Resource": "arn:aws:iam::*:role/sr-*"},
    ],
    ids=["shared-prefix", "any-role"],
)
def test_trust_matrix_planted_app_grant_detected(
    monkeypatch: pytest.MonkeyPatch, statement: dict[str, Any]
) -> None:
    name, documents = _app_execution_role()
    planted = [*documents, {"Statement": [statement]}]
    monkeypatch.setattr(sys.modules[__name__], "_app_execution_role", lambda: (name, planted))

    assert computed(rendered("gitlab-new-provider")) != documented()
