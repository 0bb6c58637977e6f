"""Issue 11's attacks, replayed on the local engine: each fails with a named error.

The attacker holds a feature-branch CI job of their own project (its ID tokens,
and the publish role of setup/gitlab-oidc.yaml); tokens come from the engine's
own GitLab issuer, signed and verified for real. Where the rule is IAM's, moto's
IAM enforcement runs the setup template's real role policies. Each test also
shows that nothing was deployed; the legitimate review, release and approval
paths succeed in the same engine (test_deploy, test_approval, and the last test).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.core.authorization import enable_iam_authentication
from stackrelay.naming import stack_name

ROOT = Path(__file__).resolve().parents[2]
DEV, STAGING, PROD = "111111111111", "222222222222", "333333333333"


def stacks_of(releaser: Any) -> dict[str, list[str]]:
    return {a: releaser.stacks(a) for a in (DEV, STAGING, PROD)}


# -- route: any branch reaches staging --------------------------------------------


def test_feature_branch_job_sending_ref_main_gets_a_review_not_staging(releaser):
    # The start command has no ref field at all; a forged one is refused by the model.
    artifact = releaser.publish()
    forged = releaser.invoke(
        "StartFunctionName",
        {
            "id_token": releaser.token("feature/evil", ref_protected=False),
            "app": releaser.app,
            "artifact": artifact,
            "source": {"ref": "main"},
        },
    )
    assert forged["errorType"] == "InvalidInput"
    assert "source: is not a known field" in forged["errorMessage"]

    started = releaser.invoke(
        "StartFunctionName",
        {"id_token": releaser.token("feature/evil"), "app": releaser.app, "artifact": artifact},
    )
    assert started["route"] == "review"
    run = releaser.finish(started["executionArn"])
    assert run.status == "SUCCEEDED", run.cause
    assert stacks_of(releaser)[STAGING] == [] and stacks_of(releaser)[PROD] == []


@pytest.mark.parametrize(
    "claims",
    [
        {"ref": "main", "ref_protected": False},  # main, but not protected (a fork's?)
        {"ref": "main", "ref_type": "tag"},  # a protected *tag* named main
        {"ref": "feature/x", "ref_protected": True},  # protected, not the default branch
    ],
    ids=["unprotected-main", "tag-main", "protected-feature"],
)
def test_only_the_protected_default_branch_releases(releaser, claims):
    started = releaser.invoke(
        "StartFunctionName",
        {
            "id_token": releaser.token(**claims),
            "app": releaser.app,
            "artifact": releaser.publish(),
        },
    )

    assert started["route"] == "review"
    releaser.finish(started["executionArn"])
    assert stacks_of(releaser)[STAGING] == [] and stacks_of(releaser)[PROD] == []


# -- identity: forged, expired, foreign tokens ------------------------------------


def _signed(releaser: Any, **overrides: Any) -> str:
    issuer = releaser.engine.runtime.issuer
    claims = issuer.claims(
        project_path=releaser.project,
        project_id=releaser.project_id,
        ref="main",
        pipeline_id=releaser.pipeline_id,
        sha="abc1234def5678",
    )
    claims.update(overrides)
    return str(issuer.sign(claims))


def _other_key_token(releaser: Any) -> str:
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    issuer = releaser.engine.runtime.issuer
    claims = issuer.claims(
        project_path=releaser.project,
        project_id=releaser.project_id,
        ref="main",
        pipeline_id=1,
        sha="abc1234",
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": issuer.kid})


@pytest.mark.parametrize(
    "make",
    [
        lambda r: "",
        lambda r: "not-a-token",
        _other_key_token,
        lambda r: _signed(r, aud="https://gitlab.com"),  # the AWS audience's token
        lambda r: _signed(r, iss="https://gitlab.com"),
        lambda r: _signed(r, exp=int(r.engine.clock.now()) - 3600),
        lambda r: _signed(r, nbf=int(r.engine.clock.now()) + 3600),
        lambda r: _signed(r, ref="main\x00"),
        lambda r: _signed(r, ref="main\u202e"),
    ],
    ids=[
        "empty",
        "garbage",
        "other-key",
        "aws-audience",
        "other-issuer",
        "expired",
        "not-yet",
        "nul-in-ref",
        "bidi-in-ref",
    ],
)
def test_bad_token_refused_identity_rejected_nothing_started(releaser, make):
    machine = releaser.local.outputs["DeployStateMachineArn"]
    before = len(releaser.sfn.list_executions(stateMachineArn=machine)["executions"])
    answer = releaser.invoke(
        "StartFunctionName",
        {"id_token": make(releaser), "app": releaser.app, "artifact": releaser.publish()},
    )

    assert answer["errorType"] in ("IdentityRejected", "InvalidInput"), answer
    assert len(releaser.sfn.list_executions(stateMachineArn=machine)["executions"]) == before
    assert stacks_of(releaser) == {DEV: [], STAGING: [], PROD: []}


# -- cross-app: app ↔ project binding --------------------------------------------


def test_other_projects_job_cannot_start_publish_or_teardown_victim(releaser, local):
    victim = "victim-" + releaser.app[-6:]
    local.register(victim, f"group/{victim}", "987654")
    attacker_token = releaser.token("main")  # a real token of the attacker's own project
    artifact = releaser.publish()

    for action, body in (
        ("deploy", {"artifact": {**artifact, "key": artifact["key"]}}),
        ("teardown", {}),
    ):
        answer = releaser.invoke(
            "StartFunctionName",
            {"id_token": attacker_token, "app": victim, "action": action, **body},
        )
        assert answer["errorType"] == "ProjectMismatch", answer
        assert "Nothing was started" in answer["errorMessage"]
    unregistered = releaser.invoke(
        "StartFunctionName",
        {"id_token": attacker_token, "app": "never-registered", "artifact": artifact},
    )
    assert unregistered["errorType"] == "AppNotRegistered"
    for account in (DEV, STAGING, PROD):
        cfn = releaser.engine.client("cloudformation", account=account)
        names = [s["StackName"] for s in cfn.list_stacks()["StackSummaries"]]
        assert not [n for n in names if n.startswith(f"sr-{victim}-")]


def test_teardown_from_protected_default_branch_refused(releaser):
    answer = releaser.invoke(
        "StartFunctionName",
        {"id_token": releaser.token("main"), "app": releaser.app, "action": "teardown"},
    )

    assert answer["errorType"] == "InvalidInput"
    assert "never release stacks" in answer["errorMessage"]


# -- approvals ---------------------------------------------------------------------


def _approval(releaser: Any, action: str, token: str, **extra: Any) -> dict[str, Any]:
    body = {"action": action, "app": releaser.app, "id_token": token, **extra}
    return releaser.invoke("ApprovalFunctionName", body)


@pytest.fixture
def parked(releaser):
    arn = releaser.start(releaser.request("main", releaser.publish()))
    releaser.wait_approval(arn)
    approver = releaser.token("main", user_login="carol", environment="production")
    shown = _approval(releaser, "show", approver)["approval"]
    yield arn, shown
    with contextlib.suppress(Exception):
        releaser.engine.drain()


def test_approval_from_other_project_refused_project_mismatch(releaser, local, parked):
    arn, shown = parked
    other = "other-" + releaser.app[-6:]
    local.register(other, f"group/{other}", "123123")
    outsider = local.token(
        project_path=f"group/{other}",
        project_id="123123",
        ref="main",
        pipeline_id=releaser.pipeline_id,
        sha="abc1234",
        user_login="mallory",
    )

    for action in ("show", "approve"):
        answer = _approval(
            releaser, action, outsider, execution=shown["execution"], digest=shown["digest"]
        )
        assert answer["errorType"] == "ProjectMismatch", answer
    # Naming its own app and the victim's execution finds nothing either.
    answer = releaser.invoke(
        "ApprovalFunctionName",
        {
            "action": "approve",
            "app": other,
            "id_token": outsider,
            "execution": shown["execution"],
            "digest": shown["digest"],
        },
    )
    assert answer["errorType"] == "ApprovalNotFound"
    assert releaser.sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"
    assert releaser.stacks(PROD) == [] or all(
        releaser.stack(PROD, s)["StackStatus"] == "REVIEW_IN_PROGRESS"
        for s in releaser.stacks(PROD)
    )


def test_approval_from_feature_branch_refused_approver_not_allowed(releaser, parked):
    arn, shown = parked
    feature = releaser.token("feature/x", user_login="mallory")

    answer = _approval(
        releaser, "approve", feature, execution=shown["execution"], digest=shown["digest"]
    )

    assert answer["errorType"] == "ApproverNotAllowed"
    assert releaser.sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"


def test_approve_with_other_digest_refused_summary_mismatch(releaser, parked):
    arn, shown = parked
    approver = releaser.token("main", user_login="carol")

    answer = _approval(releaser, "approve", approver, execution=shown["execution"], digest="f" * 64)

    assert answer["errorType"] == "SummaryMismatch"
    assert releaser.sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"


def test_approver_is_the_token_user_not_a_field(releaser, parked):
    arn, shown = parked
    answer = _approval(
        releaser,
        "approve",
        releaser.token("main", user_login="carol"),
        execution=shown["execution"],
        digest=shown["digest"],
        approver="the-ceo",
    )
    assert answer["errorType"] == "InvalidInput"  # no such field

    decided = _approval(
        releaser,
        "approve",
        releaser.token("main", user_login="carol"),
        execution=shown["execution"],
        digest=shown["digest"],
    )["approval"]
    run = releaser.finish(arn)

    assert decided["decided_by"] == "carol"
    assert decided["decision_job_url"].startswith(releaser.engine.issuer_url)
    assert run.status == "SUCCEEDED", run.cause
    assert run.output["stages"][1]["approver"] == "carol"


def test_forged_execution_with_real_pipeline_id_cannot_hijack_approval(releaser, parked):
    # An administrator-only StartExecution stands in for the forger (CI roles cannot
    # start executions at all: test_ci_publish_role_cannot_start_or_read_tokens).
    arn, shown = parked
    forged = releaser.start_raw(releaser.request("main", releaser.publish()))
    forged_payload = json.loads(releaser.sfn.describe_execution(executionArn=forged)["input"])
    forged_payload["source"]["pipeline_id"] = shown["pipeline_id"]
    second = releaser.start_raw(forged_payload)
    releaser.finish(forged)
    releaser.finish(second)

    # The real approval is untouched: still pending, still the reviewed change set.
    approver = releaser.token("main", user_login="carol")
    again = _approval(releaser, "show", approver, execution=shown["execution"])["approval"]
    assert (again["status"], again["digest"]) == ("pending", shown["digest"])
    _approval(releaser, "approve", approver, execution=shown["execution"], digest=shown["digest"])
    assert releaser.finish(arn).status == "SUCCEEDED"


# -- IAM: what the CI roles of setup/gitlab-oidc.yaml may do -----------------------


@pytest.fixture(scope="module")
def ci_roles(local) -> dict[str, str]:
    """The CI roles of setup/gitlab-oidc.yaml, for one app, in the orchestrator account.

    The template is rendered by the template tests' resolver and its roles are made
    through the IAM API: moto's CloudFormation stores inline role policies in a shape
    its own IAM enforcement cannot read (KeyError 'policy_document').
    """
    import sys

    sys.path.insert(0, str(ROOT / "tests" / "template"))
    from test_setup_policies import render

    outputs = local.outputs
    account = local.engine.config.orchestrator_account
    lam = local.engine.client("lambda")

    def arn_of(name: str) -> str:
        return lam.get_function(FunctionName=outputs[name])["Configuration"]["FunctionArn"]

    resources = render(
        "gitlab-oidc.yaml",
        {
            "ProjectPath": "group/iamtest",
            "ProjectId": "777",
            "ArtifactBucketName": local.bucket,
            "AppName": "iamtest",
            "DeployStateMachineArn": outputs["DeployStateMachineArn"],
            "TeardownStateMachineArn": outputs["TeardownStateMachineArn"],
            "StartFunctionArn": arn_of("StartFunctionName"),
            "ApprovalFunctionArn": arn_of("ApprovalFunctionName"),
            "CreateOidcProvider": "false",
        },
        account,
    )
    iam = local.engine.client("iam")
    roles = {}
    for key, logical in (("publish", "CiPublishRole"), ("approve", "CiApproveRole")):
        props = resources[logical]["Properties"]
        roles[key] = iam.create_role(
            RoleName=props["RoleName"],
            AssumeRolePolicyDocument=json.dumps(_trust_this_account(account)),
        )["Role"]["Arn"]
        for policy in props["Policies"]:
            iam.put_role_policy(
                RoleName=props["RoleName"],
                PolicyName=policy["PolicyName"],
                PolicyDocument=json.dumps(policy["PolicyDocument"]),
            )
    return roles


def _trust_this_account(account: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }


def _as_role(local: Any, role_arn: str) -> boto3.Session:
    creds = local.engine.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="ci")[
        "Credentials"
    ]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=local.engine.config.region,
    )


def _denied(call: Any) -> bool:
    try:
        call()
    except ClientError as error:
        return error.response["Error"]["Code"] in ("AccessDenied", "AccessDeniedException")
    return False


@contextlib.contextmanager
def iam_enforced() -> Iterator[None]:
    with enable_iam_authentication():
        yield


def _policies(local: Any, role_arn: str) -> list[Any]:
    iam = local.engine.client("iam")
    name = role_arn.rsplit("/", 1)[-1]
    return [
        iam.get_role_policy(RoleName=name, PolicyName=p)["PolicyDocument"]
        for p in iam.list_role_policies(RoleName=name)["PolicyNames"]
    ]


@pytest.mark.parametrize("role", ["publish", "approve"])
def test_ci_role_cannot_start_executions_or_read_task_tokens(local, ci_roles, role):
    # moto's Step Functions (the ASL interpreter's API) and DynamoDB do not run its IAM
    # enforcement, so these requests are judged by the engine's own evaluator (the one
    # that enforces the execution role), on the role's real policies and real ARNs.
    from stackrelay_local.iam_policy import Request, evaluate

    documents = _policies(local, ci_roles[role])
    machine = local.outputs["DeployStateMachineArn"]
    execution = machine.replace(":stateMachine:", ":execution:") + ":any"
    cfg = local.engine.config
    table = (
        f"arn:aws:dynamodb:{cfg.region}:{cfg.orchestrator_account}:table/"
        + (local.outputs["TableName"])
    )
    denied = [
        ("states:StartExecution", machine),
        ("states:GetExecutionHistory", execution),
        ("states:SendTaskSuccess", "*"),
        ("states:SendTaskFailure", "*"),
        ("dynamodb:GetItem", table),
        ("dynamodb:Scan", table),
        ("dynamodb:Query", table),
    ]
    for action, resource in denied:
        assert not evaluate(documents, Request(action, resource)).allowed, (action, resource)
    # Control: what the role is for is allowed by the same evaluator.
    assert evaluate(documents, Request("states:DescribeExecution", execution)).allowed


def test_ci_publish_role_writes_only_its_own_app_prefix(local, ci_roles):
    s3 = _as_role(local, ci_roles["publish"]).client("s3")
    with iam_enforced():
        # Control: its own prefix is allowed (so the denials are the policy's).
        assert s3.put_object(Bucket=local.bucket, Key="iamtest/x/packaged.yaml", Body=b"x")
        assert _denied(
            lambda: s3.put_object(Bucket=local.bucket, Key="victim/x/packaged.yaml", Body=b"x")
        )
        assert _denied(lambda: s3.delete_object(Bucket=local.bucket, Key="iamtest/x/packaged.yaml"))


# -- the legitimate path, end to end -------------------------------------------------


def test_legitimate_review_release_and_approval_succeed(releaser):
    artifact = releaser.publish()
    review = releaser.deploy("feature/ok", artifact)
    assert review.status == "SUCCEEDED", review.cause

    arn = releaser.start(releaser.request("main", artifact))
    releaser.wait_approval(arn)
    approver = releaser.token("main", user_login="carol", environment="production")
    shown = _approval(releaser, "show", approver)["approval"]
    _approval(releaser, "approve", approver, execution=shown["execution"], digest=shown["digest"])
    run = releaser.finish(arn)

    assert run.status == "SUCCEEDED", run.cause
    assert [s["outcome"] for s in run.output["stages"]] == ["deployed", "deployed"]
    assert releaser.stacks(STAGING) == [stack_name("sr-", releaser.app, "staging")]
    assert releaser.stacks(PROD) == [stack_name("sr-", releaser.app, "prod")]
