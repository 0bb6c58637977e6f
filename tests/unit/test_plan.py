"""plan.build_plan: routing comes from the orchestrator's settings, never the input."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from stackrelay import topology
from stackrelay.config import Settings, with_parameters
from stackrelay.errors import ConfigurationError, InvalidInput
from stackrelay.model import parse_request
from stackrelay.plan import Stage, build_plan, judge_wave, tag_value, template_url

LoadEvent = Callable[[str], dict[str, Any]]
ACCOUNTS = {"dev": "111111111111", "staging": "222222222222", "prod": "333333333333"}
ISSUE_TOPOLOGY = """
stages:
  - {name: review,  account: "111111111111", regions: [us-east-1], trust: review}
  - {name: qa,      account: "222222222222", regions: [us-east-1]}
  - {name: staging, account: "222222222222", regions: [us-west-2]}
  - {name: prod,    account: "333333333333", regions: [us-east-1, eu-west-1], approval: true,
     concurrency: 1, tolerate: 1}
"""
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:stackrelay-deploy:run-1"
TAG_VALUE = re.compile(r"^[\w\s.:/=+\-@]{0,256}$")


def plan_for(payload: dict[str, Any], settings: Settings) -> dict[str, Any]:
    return build_plan(parse_request(payload), settings, EXECUTION)


def test_build_plan_feature_branch_one_review_stage_in_dev(
    load_event: LoadEvent, settings: Settings
) -> None:
    plan = plan_for(load_event("deploy_feature.json"), settings)

    assert plan["kind"] == "review"
    assert plan["action"] == "deploy"
    assert [s["stage"] for s in plan["stages"]] == ["review"]
    stage = plan["stages"][0]
    assert stage["account"] == "111111111111"
    assert stage["approval"] is False
    assert stage["protect"] is False
    assert stage["stack"].startswith("sr-aws-news-review-feature-login-")
    assert stage["role_arn"] == "arn:aws:iam::111111111111:role/StackRelayDeployRole"
    assert stage["execution_role_arn"] == (
        "arn:aws:iam::111111111111:role/StackRelayExecution-aws-news"
    )
    assert stage["parameters"] == {"Stage": "review"}


def test_build_plan_default_branch_staging_then_prod(
    load_event: LoadEvent, settings: Settings
) -> None:
    plan = plan_for(load_event("deploy_main.json"), settings)

    assert plan["kind"] == "release"
    staging, prod = plan["stages"]
    assert (staging["stage"], prod["stage"]) == ("staging", "prod")
    assert (staging["account"], prod["account"]) == ("222222222222", "333333333333")
    assert (staging["stack"], prod["stack"]) == ("sr-aws-news-staging", "sr-aws-news-prod")
    assert staging["approval"] is False
    assert prod["approval"] is True
    assert staging["protect"] is True
    assert prod["protect"] is True
    assert prod["approval_timeout_seconds"] == 72 * 3600
    assert prod["role_arn"] == "arn:aws:iam::333333333333:role/StackRelayDeployRole"


def test_build_plan_stage_fields_carry_source_and_artifact(
    load_event: LoadEvent, settings: Settings
) -> None:
    payload = load_event("deploy_main.json")

    plan = plan_for(payload, settings)

    artifact = payload["artifact"]
    assert plan["artifact"] == artifact
    for stage in plan["stages"]:
        assert stage["template_url"] == (
            f"https://stackrelay-artifacts.s3.us-east-1.amazonaws.com/{artifact['key']}"
            f"?versionId={artifact['version']}"
        )
        assert stage["commit"] == payload["source"]["commit"]
        assert stage["pipeline_id"] == "4712"
        assert stage["user"] == "bob"
        assert stage["execution"] == EXECUTION
        assert stage["region"] == "us-east-1"
        assert stage["session"] == f"stackrelay-4712-{stage['stage']}"
        Stage(**stage)  # round-trips through the model the tasks parse


def test_build_plan_change_set_names_differ_per_stage(
    load_event: LoadEvent, settings: Settings
) -> None:
    staging, prod = plan_for(load_event("deploy_main.json"), settings)["stages"]

    assert staging["change_set"] != prod["change_set"]


def test_build_plan_same_input_same_plan(load_event: LoadEvent, settings: Settings) -> None:
    payload = load_event("deploy_main.json")

    assert plan_for(payload, settings) == plan_for(payload, settings)


def test_build_plan_default_branch_mismatch_raises(
    load_event: LoadEvent, settings: Settings
) -> None:
    payload = load_event("deploy_main.json")
    payload["source"]["default_branch"] = "master"

    with pytest.raises(InvalidInput, match=r"^source\.default_branch: .*'master'.*'main'"):
        plan_for(payload, settings)


def test_build_plan_default_branch_absent_uses_settings(
    load_event: LoadEvent, settings: Settings
) -> None:
    payload = load_event("deploy_main.json")
    del payload["source"]["default_branch"]

    assert plan_for(payload, settings)["kind"] == "release"


def test_build_plan_foreign_artifact_bucket_raises(
    load_event: LoadEvent, settings: Settings
) -> None:
    payload = load_event("deploy_main.json")
    payload["artifact"]["bucket"] = "someone-elses-bucket"

    with pytest.raises(InvalidInput, match=r"^artifact\.bucket: 'someone-elses-bucket'"):
        plan_for(payload, settings)


def test_build_plan_app_too_long_for_its_scope_raises(
    load_event: LoadEvent, settings: Settings
) -> None:
    # An app registered before the limit: its generated names would lose sr-<app>-.
    payload = load_event("deploy_main.json")
    payload["app"] = "a" * 25

    with pytest.raises(InvalidInput, match=r"^app: app 'a{25}' is too long for stack prefix"):
        plan_for(payload, settings)


def test_build_plan_each_app_gets_its_own_execution_role(
    load_event: LoadEvent, settings: Settings
) -> None:
    payload = load_event("deploy_main.json")
    roles = {}
    for app in ("aws-news", "shop"):
        payload["app"] = app
        roles[app] = {s["execution_role_arn"] for s in plan_for(payload, settings)["stages"]}

    assert roles["aws-news"] == {
        "arn:aws:iam::222222222222:role/StackRelayExecution-aws-news",
        "arn:aws:iam::333333333333:role/StackRelayExecution-aws-news",
    }
    assert roles["shop"].isdisjoint(roles["aws-news"])


def test_build_plan_teardown_default_branch_raises(
    load_event: LoadEvent, settings: Settings
) -> None:
    payload = load_event("teardown_feature.json")
    payload["source"].update(ref="main", ref_protected=True)

    with pytest.raises(InvalidInput, match=r"^source\.ref: 'main' is the protected default"):
        plan_for(payload, settings)


@pytest.mark.parametrize(
    ("ref", "ref_type", "protected", "kind"),
    [
        ("main", "branch", True, "release"),
        # Only the protected default *branch* releases: everything else is a review.
        ("main", "branch", False, "review"),
        ("main", "tag", True, "review"),
        ("feature/x", "branch", True, "review"),
        ("Main", "branch", True, "review"),
        ("main ", "branch", True, "release"),  # the model strips, as GitLab never sends it
    ],
)
def test_build_plan_route_from_verified_claims(
    load_event: LoadEvent,
    settings: Settings,
    ref: str,
    ref_type: str,
    protected: bool,
    kind: str,
) -> None:
    payload = load_event("deploy_main.json")
    payload["source"].update(ref=ref, ref_type=ref_type, ref_protected=protected)

    plan = plan_for(payload, settings)

    assert plan["kind"] == kind
    stages = [s["stage"] for s in plan["stages"]]
    assert stages == (["staging", "prod"] if kind == "release" else ["review"])


def test_build_plan_teardown_review_branch_plans_review_stage(
    load_event: LoadEvent, settings: Settings
) -> None:
    plan = plan_for(load_event("teardown_feature.json"), settings)

    assert plan["action"] == "teardown"
    assert plan["artifact"] is None
    [stage] = plan["stages"]
    assert stage["stage"] == "review"
    assert stage["template_url"] == ""
    assert (
        stage["stack"]
        == plan_for(load_event("deploy_feature.json"), settings)["stages"][0]["stack"]
    )


@pytest.mark.parametrize("field", ["accounts", "stages", "region", "approval"])
def test_build_plan_input_cannot_choose_routing(
    load_event: LoadEvent, settings: Settings, field: str
) -> None:
    payload = load_event("deploy_main.json")
    payload[field] = {"prod": "999999999999"}

    with pytest.raises(InvalidInput, match=f"{field}: is not a known field"):
        plan_for(payload, settings)


def with_topology(settings: Settings, text: str) -> Settings:
    return dataclasses.replace(settings, topology=topology.parse(yaml.safe_load(text)))


def test_build_plan_approval_stages_from_topology(
    load_event: LoadEvent, settings: Settings
) -> None:
    both = dataclasses.replace(
        settings,
        topology=topology.default(ACCOUNTS, "us-east-1", approval_stages=("staging", "prod")),
    )

    staging, prod = plan_for(load_event("deploy_main.json"), both)["stages"]

    assert staging["approval"] is True
    assert prod["approval"] is True


def test_build_plan_stage_parameters_merged_over_stage(
    load_event: LoadEvent, settings: Settings
) -> None:
    custom = dataclasses.replace(
        settings,
        topology=with_parameters(
            settings.topology, {"prod": {"LogLevel": "WARN"}, "staging": {"Stage": "stg"}}
        ),
    )

    staging, prod = plan_for(load_event("deploy_main.json"), custom)["stages"]

    assert prod["parameters"] == {"Stage": "prod", "LogLevel": "WARN"}
    assert staging["parameters"] == {"Stage": "stg"}


@pytest.mark.parametrize(
    "ref",
    [
        "feature/login",
        "féature/ünïcode",
        "🚀 launch",
        "deps/@scope/pkg@1.0.0",
        "a<b>c{d}e&f",
        "r" * 255,
    ],
)
def test_build_plan_tags_are_valid_cloudformation_tags(
    load_event: LoadEvent, settings: Settings, ref: str
) -> None:
    payload = load_event("deploy_feature.json")
    payload["source"]["ref"] = ref

    [stage] = plan_for(payload, settings)["stages"]

    assert set(stage["tags"]) == {
        "stackrelay:app",
        "stackrelay:stage",
        "stackrelay:ref",
        "stackrelay:commit",
        "stackrelay:pipeline",
    }
    for key, value in stage["tags"].items():
        assert len(key) <= 128
        assert TAG_VALUE.match(value), (key, value)
    assert stage["tags"]["stackrelay:stage"] == "review"


def test_build_plan_pipeline_tag_falls_back_to_pipeline_id(
    load_event: LoadEvent, settings: Settings
) -> None:
    plan = plan_for(load_event("teardown_feature.json"), settings)

    assert plan["stages"][0]["tags"]["stackrelay:pipeline"] == "4713"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("feature/login", "feature/login"),
        ("a<b>", "a_b_"),
        ("x" * 300, "x" * 256),
        (
            "https://gitlab.example.com/g/p/-/pipelines/1",
            "https://gitlab.example.com/g/p/-/pipelines/1",
        ),
    ],
)
def test_tag_value_any_text_gives_allowed_characters(value: str, expected: str) -> None:
    assert tag_value(value) == expected


def test_template_url_virtual_hosted_regional() -> None:
    assert template_url("b", "app/k.yaml", "eu-west-1") == (
        "https://b.s3.eu-west-1.amazonaws.com/app/k.yaml"
    )


def test_template_url_pins_the_verified_version() -> None:
    assert template_url("b", "app/k.yaml", "eu-west-1", "v.1_x") == (
        "https://b.s3.eu-west-1.amazonaws.com/app/k.yaml?versionId=v.1_x"
    )


def test_build_plan_waves_release_stages_in_order_one_target_per_region(
    load_event: LoadEvent, settings: Settings
) -> None:
    plan = plan_for(load_event("deploy_main.json"), with_topology(settings, ISSUE_TOPOLOGY))

    waves = plan["waves"]
    assert [(w["name"], w["concurrency"], w["tolerate"]) for w in waves] == [
        ("qa", 0, 0),
        ("staging", 0, 0),
        ("prod", 1, 1),
    ]
    assert [[(t["target"], t["region"]) for t in w["targets"]] for w in waves] == [
        [("qa", "us-east-1")],
        [("staging", "us-west-2")],
        [("prod.us-east-1", "us-east-1"), ("prod.eu-west-1", "eu-west-1")],
    ]
    east, west = waves[2]["targets"]
    assert east["stack"] == west["stack"] == "sr-aws-news-prod"
    assert east["account"] == west["account"] == "333333333333"
    assert east["approval"] and west["approval"]
    assert {t["trust"] for w in waves for t in w["targets"]} == {"release"}
    assert plan["stages"] == [t for w in waves for t in w["targets"]]
    # One-region stages keep today's keys; a wave's regions each get their own.
    assert [Stage.from_dict(t).place for t in plan["stages"]] == [
        None,
        None,
        "us-east-1",
        "eu-west-1",
    ]


def test_build_plan_feature_ref_deploys_only_review_stages(
    load_event: LoadEvent, settings: Settings
) -> None:
    plan = plan_for(load_event("deploy_feature.json"), with_topology(settings, ISSUE_TOPOLOGY))

    (wave,) = plan["waves"]
    assert (wave["name"], wave["trust"]) == ("review", "review")
    (target,) = wave["targets"]
    assert target["trust"] == "review" and target["protect"] is False
    assert target["stack"].startswith("sr-aws-news-review-feature-login-")


def test_build_plan_new_stage_is_configuration_only(
    load_event: LoadEvent, settings: Settings
) -> None:
    text = ISSUE_TOPOLOGY + '  - {name: canary, account: "444444444444", regions: [ap-south-1]}\n'

    plan = plan_for(load_event("deploy_main.json"), with_topology(settings, text))

    canary = plan["stages"][-1]
    assert (canary["stage"], canary["account"], canary["region"]) == (
        "canary",
        "444444444444",
        "ap-south-1",
    )
    assert canary["stack"] == "sr-aws-news-canary"
    assert canary["role_arn"] == "arn:aws:iam::444444444444:role/StackRelayDeployRole"
    assert canary["parameters"] == {"Stage": "canary"}


def test_build_plan_no_review_stage_refuses_feature_refs(
    load_event: LoadEvent, settings: Settings
) -> None:
    text = 'stages: [{name: prod, account: "333333333333", regions: [us-east-1]}]'

    with pytest.raises(InvalidInput, match="has no review stage"):
        plan_for(load_event("deploy_feature.json"), with_topology(settings, text))


def test_build_plan_account_outside_deploy_account_ids_refused(
    load_event: LoadEvent, settings: Settings
) -> None:
    custom = dataclasses.replace(
        with_topology(settings, ISSUE_TOPOLOGY),
        deploy_accounts=frozenset({"111111111111", "222222222222"}),
    )

    with pytest.raises(ConfigurationError, match=r"333333333333.*DeployAccountIds"):
        plan_for(load_event("deploy_main.json"), custom)


def test_stage_from_dict_ignores_unknown_keys_and_names_missing_ones(
    load_event: LoadEvent, settings: Settings
) -> None:
    planned = plan_for(load_event("deploy_main.json"), settings)["stages"][0]

    assert Stage.from_dict({**planned, "later": 1}).to_dict() == planned
    missing = {k: v for k, v in planned.items() if k not in ("stack", "account")}
    with pytest.raises(InvalidInput, match="missing account, stack"):
        Stage.from_dict(missing)


def _line(target: str, outcome: str, error: str | None = None) -> dict[str, Any]:
    reason = f"{target} broke" if error else None
    return {"stage": "prod", "target": target, "outcome": outcome, "error": error, "reason": reason}


@pytest.mark.parametrize(
    ("outcomes", "tolerate", "held", "failed"),
    [
        ([_line("prod.a", "deployed"), _line("prod.b", "no_changes")], 0, True, 0),
        ([_line("prod.a", "superseded")], 0, True, 0),
        ([_line("prod.a", "deployed"), _line("prod.b", "failed", "StackRollback")], 1, True, 1),
        ([_line("prod.a", "failed", "X"), _line("prod.b", "failed", "Y")], 1, False, 2),
    ],
)
def test_judge_wave_holds_while_failures_within_tolerance(
    outcomes: list[dict[str, Any]], tolerate: int, held: bool, failed: int
) -> None:
    verdict = judge_wave({"name": "prod", "tolerate": tolerate}, outcomes)

    assert (verdict["held"], verdict["failed"]) == (held, failed)
    assert (verdict["error"] is None) == held


def test_judge_wave_fails_with_first_failed_targets_error_and_cause() -> None:
    outcomes = [
        _line("prod.us-east-1", "deployed"),
        _line("prod.eu-west-1", "failed", "StackRollback"),
        _line("prod.ap-south-1", "failed", "ChangeSetFailed"),
    ]

    verdict = judge_wave({"name": "prod", "tolerate": 1}, outcomes)

    assert verdict["error"] == "StackRollback"
    assert verdict["cause"] == (
        "prod.eu-west-1: prod.eu-west-1 broke (2 of 3 regions of prod failed; it tolerates 1.)"
    )


def test_judge_wave_one_region_stage_keeps_the_targets_own_cause() -> None:
    verdict = judge_wave({"name": "staging"}, [_line("staging", "failed", "StackRollback")])

    assert (verdict["error"], verdict["cause"]) == ("StackRollback", "staging broke")


@pytest.mark.parametrize("event", ["deploy_feature.json", "deploy_main.json"])
def test_build_plan_app_named_like_a_review_stage_refused(
    load_event: LoadEvent, settings: Settings, event: str
) -> None:
    # Given a topology whose review stage is "dev" (not the default's name)
    text = (
        'stages: [{name: dev, account: "111111111111", regions: [us-east-1], trust: review},'
        ' {name: prod, account: "333333333333", regions: [us-east-1]}]'
    )
    payload = {**load_event(event), "app": "tools-dev"}

    # Then an app whose stacks sr-tools-dev-<branch> could be app "tools"'s review stacks
    with pytest.raises(InvalidInput, match="review stage"):
        plan_for(payload, with_topology(settings, text))
    # while the same app name is fine under the default topology
    assert plan_for(payload, settings)["app"] == "tools-dev"


def test_release_stage_names_a_stage_or_one_region_of_it(settings: Settings) -> None:
    from stackrelay.reviews import release_stage

    waves = with_topology(settings, ISSUE_TOPOLOGY)

    first = release_stage(waves, "aws-news", "prod", "abc1234", "recover-1", "run")
    west = release_stage(waves, "aws-news", "prod.eu-west-1", "abc1234", "recover-1", "run")

    assert (first.target, first.region) == ("prod.us-east-1", "us-east-1")
    assert (west.target, west.region, west.place) == ("prod.eu-west-1", "eu-west-1", "eu-west-1")
