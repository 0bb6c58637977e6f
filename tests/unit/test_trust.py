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
