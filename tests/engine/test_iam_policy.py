"""The engine's IAM evaluator and CloudFormation's generated names (pure)."""

from __future__ import annotations

import re

import pytest
from stackrelay_local.iam_policy import Request, evaluate
from stackrelay_local.provisioning import NAME_LIMITS, Target, generated_name, requests_for

BOUNDARY = "arn:aws:iam::111111111111:policy/StackRelayAppPermissionsBoundary"
ROLES_WITH_BOUNDARY = {
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["iam:CreateRole", "iam:PutRolePolicy"],
            "Resource": "arn:aws:iam::111111111111:role/sr-*",
            "Condition": {"StringEquals": {"iam:PermissionsBoundary": BOUNDARY}},
        },
        {
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": "arn:aws:iam::111111111111:role/sr-*",
            "Condition": {"StringEquals": {"iam:PassedToService": ["lambda.amazonaws.com"]}},
        },
    ]
}
ROLE = "arn:aws:iam::111111111111:role/sr-app-FnRole-ABC"


@pytest.mark.parametrize(
    ("request_", "allowed"),
    [
        (Request("iam:CreateRole", ROLE, {"iam:PermissionsBoundary": BOUNDARY}), True),
        (Request("IAM:createrole", ROLE, {"iam:PermissionsBoundary": BOUNDARY}), True),
        (Request("iam:CreateRole", ROLE, {}), False),  # missing key: StringEquals fails
        (Request("iam:CreateRole", ROLE, {"iam:PermissionsBoundary": BOUNDARY + "x"}), False),
        (Request("iam:CreateRole", ROLE.replace("sr-", "xx-"), {}), False),
        (Request("iam:PassRole", ROLE, {"iam:PassedToService": "lambda.amazonaws.com"}), True),
        (Request("iam:PassRole", ROLE, {"iam:PassedToService": "ec2.amazonaws.com"}), False),
    ],
)
def test_evaluate_conditions_as_aws(request_: Request, allowed: bool) -> None:
    assert evaluate([ROLES_WITH_BOUNDARY], request_).allowed is allowed


def test_evaluate_failed_allow_condition_does_not_deny_another_allow() -> None:
    other = {"Statement": [{"Effect": "Allow", "Action": "iam:CreateRole", "Resource": "*"}]}
    assert evaluate([ROLES_WITH_BOUNDARY, other], Request("iam:CreateRole", ROLE)).allowed


def test_evaluate_explicit_deny_wins_and_not_resource() -> None:
    deny = {
        "Statement": [
            {"Effect": "Allow", "Action": "*", "Resource": "*"},
            {"Effect": "Deny", "Action": "iam:*", "NotResource": "arn:aws:iam::*:role/sr-*"},
        ]
    }
    assert evaluate([deny], Request("iam:CreateRole", ROLE)).allowed
    verdict = evaluate([deny], Request("iam:CreateRole", "arn:aws:iam::1:role/admin"))
    assert verdict.decision == "explicit_deny"


@pytest.mark.parametrize(
    ("operator", "value", "context", "allowed"),
    [
        (
            "ArnLike",
            "arn:aws:lambda:*:1:function:sr-*",
            "arn:aws:lambda:eu-west-1:1:function:sr-a",
            True,
        ),
        (
            "ArnLike",
            "arn:aws:lambda:*:1:function:sr-*",
            "arn:aws:lambda:eu-west-1:1:function:x",
            False,
        ),
        ("StringNotEquals", "a", None, True),  # negated operator: a missing key matches
        ("StringEqualsIfExists", "a", None, True),
        ("StringLike", "sr-?", "sr-1", True),
        ("Null", "true", None, True),
        ("Null", "false", None, False),
        ("NumericLessThan", "5", "3", True),
    ],
)
def test_evaluate_condition_operators(
    operator: str, value: str, context: str | None, allowed: bool
) -> None:
    policy = {
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "x:Y",
                "Resource": "*",
                "Condition": {operator: {"k:k": value}},
            }
        ]
    }
    ctx = {} if context is None else {"k:k": context}
    assert evaluate([policy], Request("x:Y", "r", ctx)).allowed is allowed


def test_evaluate_unsupported_operator_fails_closed_and_says_so() -> None:
    policy = {
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "x:Y",
                "Resource": "*",
                "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
            }
        ]
    }
    verdict = evaluate([policy], Request("x:Y", "r", {"aws:SourceIp": "10.1.1.1"}))
    assert not verdict.allowed
    assert verdict.unevaluated == ["IpAddress"]


def test_moto_policy_evaluator_still_passes_missing_condition_keys() -> None:
    """Why the engine has its own evaluator; if this starts failing, moto fixed it."""
    from moto.iam.access_control import IAMPolicy, PermissionResult

    doc = '{"Statement": ' + str(ROLES_WITH_BOUNDARY["Statement"][:1]).replace("'", '"') + "}"
    result = IAMPolicy(doc).is_action_permitted("iam:CreateRole", ROLE, None, {})
    assert result == PermissionResult.PERMITTED


@pytest.mark.parametrize("kind", sorted(NAME_LIMITS))
def test_generated_name_fits_the_type_limit(kind: str) -> None:
    stack = "sr-" + "verylongappname-review-feature-" * 6
    name = generated_name(kind, stack, "SomeVeryLongLogicalIdentifierForThisResource")
    assert len(name) <= NAME_LIMITS[kind]
    assert "--" not in name


def test_generated_name_short_is_stack_logical_suffix() -> None:
    name = generated_name("AWS::Lambda::Function", "sr-app-review", "HelloFunction")
    assert re.fullmatch(r"sr-app-review-HelloFunction-[A-Z0-9]{12}", name)
    machine = generated_name("AWS::StepFunctions::StateMachine", "sr-app", "Flow")
    assert re.fullmatch(r"Flow-[A-Za-z0-9]{12}", machine)
    bucket = generated_name("AWS::S3::Bucket", "sr-App", "Assets")
    assert bucket == bucket.lower()


def test_generated_name_long_keeps_both_parts() -> None:
    stack = "sr-" + "x" * 100
    name = generated_name("AWS::IAM::Role", stack, "HelloWorldFunctionRole")
    assert len(name) == 64
    assert name.startswith("sr-xxx") and "-HelloWorldFunctionRole-" in name


def test_requests_for_function_passes_its_role_to_lambda() -> None:
    target = Target(
        "Fn",
        "AWS::Lambda::Function",
        {"Role": ROLE, "Code": {"S3Bucket": "b", "S3Key": "k.zip"}},
        "sr-app-Fn-ABC",
        "111111111111",
        "us-east-1",
        "sr-app",
    )
    actions = [(r.action, r.resource, dict(r.context)) for r in requests_for(target, "create")]
    assert ("iam:PassRole", ROLE, {"iam:PassedToService": "lambda.amazonaws.com"}) in actions
    assert ("s3:GetObject", "arn:aws:s3:::b/k.zip", {}) in actions
    assert actions[0][:2] == (
        "lambda:CreateFunction",
        "arn:aws:lambda:us-east-1:111111111111:function:sr-app-Fn-ABC",
    )
    updates = [r.action for r in requests_for(target, "update")]
    assert "lambda:UpdateFunctionConfiguration" in updates and "iam:PassRole" in updates
