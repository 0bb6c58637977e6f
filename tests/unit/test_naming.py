"""naming: stack, change-set and execution names are valid, unique and stable."""

from __future__ import annotations

import random
import re

import pytest
from stackrelay.naming import (
    MAX_APP_LENGTH,
    MAX_CHANGE_SET_NAME,
    MAX_EXECUTION_NAME,
    MAX_STACK_NAME,
    app_scope,
    branch_slug,
    change_set_name,
    execution_name,
    execution_role_name,
    is_review_stack,
    short_hash,
    slug,
    stack_name,
)

STACK_NAME = re.compile(r"^[A-Za-z][-A-Za-z0-9]*$")
CHANGE_SET_NAME = re.compile(r"^[a-zA-Z][-a-zA-Z0-9]*$")
EXECUTION_NAME = re.compile(r"^[A-Za-z0-9_-]+$")

ODD_BRANCHES = [
    "feature/login",
    "féature/ünïcode",
    "🚀-launch",
    "🚀",
    "123-fix",
    "b" * 255,
    "feature/" + "x" * 247,
    "///",
    "-",
    "Feature/X",
    "v1.2.3",
    "release/2024.01",
    "my branch with spaces",
    "a--b",
    "feature-",
    "-leading",
    "UPPER",
    "tab\tand\nnewline",
    "İstanbul",
    "日本語",
    "deps/@scope/pkg@1.0.0",
    "x",
]


def assert_valid_stack_name(name: str) -> None:
    assert STACK_NAME.match(name), name
    assert len(name) <= MAX_STACK_NAME, (len(name), name)


@pytest.mark.parametrize("branch", ODD_BRANCHES)
def test_stack_name_review_odd_branch_is_valid_cloudformation_name(branch: str) -> None:
    name = stack_name("sr-", "aws-news", "review", branch)

    assert_valid_stack_name(name)
    assert is_review_stack("sr-", "aws-news", "review", name)


@pytest.mark.parametrize("branch", ODD_BRANCHES)
def test_stack_name_review_longest_app_and_prefix_stays_within_limit(branch: str) -> None:
    app = "a" + "b" * 39  # the longest APP_PATTERN allows

    name = stack_name("stackrelay-prefix-", app, "review", branch)

    assert_valid_stack_name(name)


@pytest.mark.parametrize("prefix", ["", "sr-", "Team-"])
def test_stack_name_review_random_branches_always_valid_and_unique(prefix: str) -> None:
    rng = random.Random(20241128)
    alphabet = "abcXYZ019-_/.@ #~^:?*[]\\éü🚀\t"
    branches: set[str] = set()
    while len(branches) < 2000:
        branches.add("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 255))))

    names = {stack_name(prefix, "app", "review", b) for b in branches}

    for name in names:
        assert_valid_stack_name(name)
    assert len(names) == len(branches)


@pytest.mark.parametrize(
    "branches",
    [
        ("feature/a", "feature-a", "Feature/A", "feature_a", "feature.a", "FEATURE-A"),
        ("a" * 200 + "1", "a" * 200 + "2"),
        ("///", "---", "🚀", "🛸"),
    ],
)
def test_stack_name_review_similar_branches_get_different_names(branches: tuple[str, ...]) -> None:
    names = [stack_name("sr-", "aws-news", "review", b) for b in branches]

    assert len(set(names)) == len(branches), names


def test_stack_name_review_branch_shaped_like_a_hashed_name_gets_its_own_stack() -> None:
    # Given the stack of "feature/a" (slug + hash of the exact branch name)
    hashed = stack_name("sr-", "aws-news", "review", "feature/a")
    lookalike_branch = hashed.removeprefix("sr-aws-news-review-")
    assert lookalike_branch == f"feature-a-{short_hash('feature/a')}"

    # When a branch is literally named like that slug
    lookalike = stack_name("sr-", "aws-news", "review", lookalike_branch)

    # Then the two branches still do not share a stack
    assert lookalike != hashed
    assert_valid_stack_name(lookalike)


def test_stack_name_review_branch_named_like_bare_hash_gets_its_own_stack() -> None:
    hashed = stack_name("sr-", "aws-news", "review", "///")

    lookalike = stack_name("sr-", "aws-news", "review", short_hash("///"))

    assert lookalike != hashed


@pytest.mark.parametrize("branch", ["feature/login", "féature/ünïcode", "b" * 255])
def test_stack_name_review_same_branch_is_deterministic(branch: str) -> None:
    assert stack_name("sr-", "aws-news", "review", branch) == stack_name(
        "sr-", "aws-news", "review", branch
    )


@pytest.mark.parametrize(
    ("branch", "expected"),
    [
        ("fix-login", "sr-aws-news-review-fix-login"),
        ("dependabot-1", "sr-aws-news-review-dependabot-1"),
        ("123-fix", "sr-aws-news-review-123-fix"),
    ],
)
def test_stack_name_review_simple_branch_keeps_readable_name(branch: str, expected: str) -> None:
    assert stack_name("sr-", "aws-news", "review", branch) == expected


@pytest.mark.parametrize(
    ("branch", "readable_start"),
    [
        ("feature/login", "sr-aws-news-review-feature-login-"),
        ("Feature/X", "sr-aws-news-review-feature-x-"),
        ("féature/ünïcode", "sr-aws-news-review-f-ature-n-code-"),
    ],
)
def test_stack_name_review_odd_branch_keeps_readable_slug_before_hash(
    branch: str, readable_start: str
) -> None:
    name = stack_name("sr-", "aws-news", "review", branch)

    assert name.startswith(readable_start)
    assert name.endswith(short_hash(branch))


@pytest.mark.parametrize(
    ("stage", "expected"), [("staging", "sr-app-staging"), ("prod", "sr-app-prod")]
)
def test_stack_name_release_stage_is_prefix_app_stage(stage: str, expected: str) -> None:
    assert stack_name("sr-", "app", stage) == expected
    assert not is_review_stack("sr-", "app", "review", expected)


@pytest.mark.parametrize("stage", ["review", "dev", "preview"])
def test_stack_name_any_review_stage_with_branch_carries_the_branch(stage: str) -> None:
    # Given a review stage of any name (the topology names it, not the code)
    name = stack_name("sr-", "app", stage, "feature/x")

    assert name.startswith(f"sr-app-{stage}-feature-x-")
    assert is_review_stack("sr-", "app", stage, name)
    assert not is_review_stack("sr-", "app", "other", name)


@pytest.mark.parametrize("room", [0, 1, 5, 8, 9, 10, 20, 100])
def test_branch_slug_any_room_fits_and_is_lowercase(room: int) -> None:
    result = branch_slug("Feature/Some-Long-Branch-Name", room)

    assert len(result) <= max(room, 8)
    assert re.fullmatch(r"[a-z0-9-]+", result)
    assert not result.startswith("-")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("Feature/X", "feature-x"), ("--a__b--", "a-b"), ("///", ""), ("ünï", "n"), ("", "")],
)
def test_slug_text_gives_lowercase_single_hyphens(text: str, expected: str) -> None:
    assert slug(text) == expected


def test_change_set_name_same_inputs_same_name() -> None:
    first = change_set_name("4711", "prod", "arn:aws:states:us-east-1:1:execution:sm:run-1")
    again = change_set_name("4711", "prod", "arn:aws:states:us-east-1:1:execution:sm:run-1")

    assert first == again


@pytest.mark.parametrize(
    "other",
    [
        ("4712", "prod", "arn:aws:states:us-east-1:1:execution:sm:run-1"),
        ("4711", "staging", "arn:aws:states:us-east-1:1:execution:sm:run-1"),
        ("4711", "prod", "arn:aws:states:us-east-1:1:execution:sm:run-2"),
    ],
)
def test_change_set_name_any_input_differs_name_differs(other: tuple[str, str, str]) -> None:
    base = change_set_name("4711", "prod", "arn:aws:states:us-east-1:1:execution:sm:run-1")

    assert change_set_name(*other) != base


@pytest.mark.parametrize(
    "pipeline_id", ["4711", "", "---", "A" * 40, "Z-9", "ünïcode", "1" * 40, "manual run"]
)
@pytest.mark.parametrize("stage", ["review", "staging", "prod"])
def test_change_set_name_any_pipeline_is_valid(pipeline_id: str, stage: str) -> None:
    name = change_set_name(pipeline_id, stage, "x" * 500)

    assert CHANGE_SET_NAME.match(name), name
    assert len(name) <= MAX_CHANGE_SET_NAME


@pytest.mark.parametrize(
    ("app", "action", "ref", "pipeline_id", "nonce"),
    [
        ("aws-news", "deploy", "main", "4711", "a1b2c3d4"),
        ("aws-news", "teardown", "feature/login", "4711", "a1b2c3d4"),
        ("a" + "b" * 39, "teardown", "x" * 255, "1" * 40, "a1b2c3d4e5f6"),
        ("app", "deploy", "///", "", "n"),
        ("app", "deploy", "🚀/ünïcode", "---", "0000"),
    ],
)
def test_execution_name_any_input_is_valid_step_functions_name(
    app: str, action: str, ref: str, pipeline_id: str, nonce: str
) -> None:
    name = execution_name(app, action, ref, pipeline_id, nonce)

    assert EXECUTION_NAME.match(name), name
    assert len(name) <= MAX_EXECUTION_NAME
    assert name.startswith(app[:10])
    assert name.endswith(nonce)


def test_execution_name_readable_parts_are_kept() -> None:
    assert execution_name("aws-news", "deploy", "feature/login", "4711", "ab12") == (
        "aws-news-deploy-feature-login-4711-ab12"
    )


def test_execution_name_no_pipeline_says_manual() -> None:
    assert execution_name("app", "deploy", "main", "", "ab12").endswith("-manual-ab12")


# -- per-app scope (issue 11: the target accounts allow each app only sr-<app>-*) ------

# Types the per-app execution policy and boundary scope by name (setup/target-app.yaml).
SCOPED_BY_NAME = (
    "AWS::S3::Bucket",
    "AWS::IAM::Role",
    "AWS::Lambda::Function",
    "AWS::Events::Rule",
    "AWS::SQS::Queue",
    "AWS::SNS::Topic",
    "AWS::DynamoDB::Table",
    "AWS::Logs::LogGroup",
    "AWS::CloudWatch::Alarm",
)
LONG_LOGICAL_ID = "A" * 200
LONG_BRANCH = "feature/" + "x" * 200


def _generated(kind: str, prefix: str, app: str) -> list[str]:
    from stackrelay_local.provisioning import generated_name

    stacks = [stack_name(prefix, app, "staging"), stack_name(prefix, app, "review", LONG_BRANCH)]
    return [generated_name(kind, s, lid) for s in stacks for lid in ("Fn", LONG_LOGICAL_ID)]


@pytest.mark.parametrize("kind", SCOPED_BY_NAME)
def test_app_scope_longest_app_survives_every_generated_name(kind: str) -> None:
    app = "a" * MAX_APP_LENGTH
    scope = app_scope("sr-", app)

    for name in _generated(kind, "sr-", app):
        assert name.lower().startswith(scope), name


def test_app_scope_longer_app_is_cut_and_refused() -> None:
    # Planted violation: the S3 bucket name loses the app's scope. (At +1 the cut falls
    # on the hyphen, which the generated name adds back: the limit keeps that margin.)
    app = "a" * (MAX_APP_LENGTH + 2)
    names = _generated("AWS::S3::Bucket", "sr-", app)
    assert not all(n.startswith(f"sr-{app}-") for n in names)
    for too_long in (app, app[:-1]):
        with pytest.raises(ValueError, match="too long for stack prefix"):
            app_scope("sr-", too_long)


def test_execution_role_name_is_per_app() -> None:
    assert execution_role_name("StackRelayExecution", "aws-news") == (
        "StackRelayExecution-aws-news"
    )
    assert len(execution_role_name("StackRelayExecution", "a" * MAX_APP_LENGTH)) <= 64
