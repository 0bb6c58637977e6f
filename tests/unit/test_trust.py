"""stackrelay.trust: what a stage may do follows its trust, never its name."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from stackrelay import naming, trust


@pytest.mark.parametrize(
    ("stage", "review"),
    [
        ({"stage": "dev", "trust": "review"}, True),
        ({"stage": "review", "trust": "release"}, False),  # the name decides nothing
        (SimpleNamespace(stage="qa", trust="release"), False),
        (SimpleNamespace(stage="preview", trust="review"), True),
    ],
)
def test_is_review_reads_trust_not_name(stage: object, review: bool) -> None:
    assert trust.is_review(stage) is review


@pytest.mark.parametrize("stage", [{"stage": "review"}, {"trust": "prod"}, SimpleNamespace()])
def test_is_review_without_a_trust_level_raises(stage: object) -> None:
    with pytest.raises(ValueError, match="trust"):
        trust.is_review(stage)


def test_plan_stage_carries_trust(make_stage) -> None:  # type: ignore[no-untyped-def]
    assert trust.is_review(make_stage("deploy_feature.json"))
    assert not trust.is_review(make_stage("deploy_main.json", index=1))


@pytest.mark.parametrize(
    ("app", "stages", "collides"),
    [
        ("aws-review", ("review",), True),
        ("aws-news", ("review",), False),
        ("dev-tools", ("dev",), True),
        ("reviewer", ("review",), False),
    ],
)
def test_collides_with_review_stacks(app: str, stages: tuple[str, ...], collides: bool) -> None:
    assert naming.collides_with_review_stacks(app, stages) is collides


def test_environment_is_the_topologys_default_its_name() -> None:
    from stackrelay import topology

    parsed = topology.parse(
        {
            "stages": [
                {"name": "dev", "account": "111111111111", "regions": ["us-east-1"]},
                {
                    "name": "live",
                    "account": "222222222222",
                    "regions": ["us-east-1"],
                    "environment": "production",
                },
            ]
        }
    )
    assert [s.environment for s in parsed.stages] == [None, "production"]
    assert topology.parse(parsed.to_dict()) == parsed
    with pytest.raises(topology.ConfigurationError, match=r"stages\[0\].environment"):
        topology.parse(
            {
                "stages": [
                    {
                        "name": "a",
                        "account": "1" * 12,
                        "regions": ["us-east-1"],
                        "environment": "/x",
                    }
                ]
            }
        )


def test_plan_stage_carries_environment(make_stage) -> None:  # type: ignore[no-untyped-def]
    # The default topology declares what ci/stackrelay.gitlab-ci.yml names its environments.
    staging, prod = make_stage("deploy_main.json", 0), make_stage("deploy_main.json", 1)
    assert (staging.environment, prod.environment) == ("staging", "production")


# -- what a stack's status means for the next change (stackcheck), by trust ------------


@pytest.mark.parametrize(
    ("status", "review", "expected"),
    [
        (None, False, ("CREATE", False)),
        ("REVIEW_IN_PROGRESS", False, ("CREATE", False)),
        ("CREATE_COMPLETE", False, ("UPDATE", False)),
        ("UPDATE_ROLLBACK_COMPLETE", True, ("UPDATE", False)),
        ("ROLLBACK_COMPLETE", True, ("CREATE", True)),  # a review stack is recreated
    ],
)
def test_next_change(make_stage, status: str | None, review: bool, expected: tuple) -> None:  # type: ignore[no-untyped-def]
    from stackrelay import stackcheck

    stage = make_stage("deploy_feature.json" if review else "deploy_main.json")
    assert stackcheck.next_change(stage, status) == expected


@pytest.mark.parametrize(
    ("status", "review", "error"),
    [
        ("UPDATE_IN_PROGRESS", False, "StackBusy"),
        ("ROLLBACK_COMPLETE", False, "StackNeedsRecovery"),  # a release stack is never deleted
        ("UPDATE_ROLLBACK_FAILED", True, "StackNeedsRecovery"),
        ("DELETE_FAILED", False, "StackNeedsRecovery"),
    ],
)
def test_next_change_planted_refusals(make_stage, status: str, review: bool, error: str) -> None:  # type: ignore[no-untyped-def]
    from stackrelay import stackcheck

    stage = make_stage("deploy_feature.json" if review else "deploy_main.json")
    with pytest.raises(Exception) as refused:
        stackcheck.next_change(stage, status)
    assert type(refused.value).__name__ == error
    assert stage.stack in str(refused.value)


@pytest.mark.parametrize("status", [None, "UPDATE_ROLLBACK_COMPLETE", "ROLLBACK_COMPLETE"])
def test_check_recoverable_refuses_all_but_a_failed_rollback(make_stage, status) -> None:  # type: ignore[no-untyped-def]
    from stackrelay import stackcheck
    from stackrelay.errors import StackNotRecoverable

    stage = make_stage("deploy_main.json", 1)
    with pytest.raises(StackNotRecoverable, match="not UPDATE_ROLLBACK_FAILED"):
        stackcheck.check_recoverable(stage, status)
    stackcheck.check_recoverable(stage, "UPDATE_ROLLBACK_FAILED")  # no error
