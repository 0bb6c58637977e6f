"""The topology: one definition of stages, accounts and regions, with clear refusals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from stackrelay import topology
from stackrelay.errors import ConfigurationError

ISSUE_YAML = """
stages:
  - {name: review,  account: "111111111111", regions: [us-east-1], trust: review}
  - {name: qa,      account: "222222222222", regions: [us-east-1]}
  - {name: staging, account: "222222222222", regions: [us-west-2]}
  - {name: prod,    account: "333333333333", regions: [us-east-1, eu-west-1], approval: true}
"""


def _one(**stage: Any) -> dict[str, Any]:
    base = {"name": "prod", "account": "333333333333", "regions": ["us-east-1"]}
    return {"stages": [{**base, **stage}]}


def test_parse_issue_yaml_accepted_as_is() -> None:
    topo = topology.parse(yaml.safe_load(ISSUE_YAML))

    assert [s.name for s in topo.stages] == ["review", "qa", "staging", "prod"]
    assert [s.name for s in topo.review_stages()] == ["review"]
    assert [s.name for s in topo.release_stages()] == ["qa", "staging", "prod"]
    prod = topo.stage("prod")
    assert prod.regions == ("us-east-1", "eu-west-1")
    assert prod.approval and prod.protected and prod.trust == "release"
    assert not topo.stage("review").protected
    assert topo.accounts() == ("111111111111", "222222222222", "333333333333")
    assert topo.regions() == ("us-east-1", "us-west-2", "eu-west-1")
    assert topo.places() == (
        ("111111111111", "us-east-1"),
        ("222222222222", "us-east-1"),
        ("222222222222", "us-west-2"),
        ("333333333333", "us-east-1"),
        ("333333333333", "eu-west-1"),
    )


def test_target_ids_stage_name_for_one_region_stage_dotted_for_a_wave() -> None:
    topo = topology.parse(yaml.safe_load(ISSUE_YAML))

    assert topo.stage("qa").target("us-east-1") == "qa"
    assert topo.stage("prod").target("eu-west-1") == "prod.eu-west-1"


def test_dumps_loads_round_trip() -> None:
    topo = topology.parse(yaml.safe_load(ISSUE_YAML))
    tuned = topology.parse(
        _one(
            parameters={"LogLevel": "WARN", "Replicas": 3},
            url_output="WebUrl",
            protect=False,
            concurrency=1,
            regions=["us-east-1", "eu-west-1"],
            tolerate=1,
        )
    )

    assert topology.loads(topo.dumps()) == topo
    assert topology.loads(tuned.dumps()) == tuned
    assert tuned.stages[0].parameters == {"LogLevel": "WARN", "Replicas": "3"}
    assert not tuned.stages[0].protected


def test_default_is_todays_three_stages() -> None:
    topo = topology.default(
        {"dev": "111111111111", "staging": "222222222222", "prod": "333333333333"},
        "us-east-1",
        parameters={"prod": {"LogLevel": "WARN"}},
    )

    assert [(s.name, s.account, s.regions, s.trust, s.approval) for s in topo.stages] == [
        ("review", "111111111111", ("us-east-1",), "review", False),
        ("staging", "222222222222", ("us-east-1",), "release", False),
        ("prod", "333333333333", ("us-east-1",), "release", True),
    ]
    assert topo.stage("prod").parameters == {"LogLevel": "WARN"}


def test_default_approval_stages_configurable() -> None:
    accounts = {"dev": "111111111111", "staging": "222222222222", "prod": "333333333333"}

    topo = topology.default(accounts, "eu-west-1", approval_stages=("staging", "prod"))

    assert [s.approval for s in topo.stages] == [False, True, True]


def test_stage_unknown_name_lists_the_stages() -> None:
    topo = topology.parse(yaml.safe_load(ISSUE_YAML))

    with pytest.raises(ConfigurationError, match="review, qa, staging, prod"):
        topo.stage("canary")


@pytest.mark.parametrize(
    ("data", "path", "says"),
    [
        ([], r"\(top\)", "mapping with a 'stages' list"),
        ({"stages": [], "extra": 1}, r"\(top\)", "unknown key 'extra'; the known keys are stages"),
        ({"stages": []}, "stages", "at least one stage"),
        ({"stages": "prod"}, "stages", "at least one stage"),
        ({"stages": ["prod"]}, r"stages\[0\]", "is a mapping"),
        (_one(colour="red"), r"stages\[0\]", "unknown key 'colour'; the known keys are name"),
        ({"stages": [{"name": "prod", "regions": ["us-east-1"]}]}, r"stages\[0\]", "no 'account'"),
        ({"stages": [{"account": "1" * 12, "regions": ["x"]}]}, r"stages\[0\]", "no 'name'"),
        ({"stages": [{"name": "prod", "account": "1" * 12}]}, r"stages\[0\]", "no 'regions'"),
        (_one(name="Prod"), r"stages\[0\]\.name", "not a stage name"),
        (_one(name="a" * 21), r"stages\[0\]\.name", "not a stage name"),
        (_one(account="12345"), r"stages\[0\]\.account", "not a 12-digit account id"),
        (_one(account=333333333333), r"stages\[0\]\.account", "write it as a quoted string"),
        (_one(regions=[]), r"stages\[0\]\.regions", "at least one region"),
        (_one(regions="us-east-1"), r"stages\[0\]\.regions", "list of at least one region"),
        (_one(regions=["us-east-1", "US-WEST-2"]), r"regions\[1\]", "not an AWS region"),
        (_one(regions=["us-east-1", "us-east-1"]), r"regions\[1\]", "listed twice"),
        (_one(trust="admin"), r"stages\[0\]\.trust", "not one of review, release"),
        (_one(approval="yes"), r"stages\[0\]\.approval", "not true or false"),
        (_one(protect=1), r"stages\[0\]\.protect", "not true or false"),
        (_one(parameters=["a"]), r"stages\[0\]\.parameters", "mapping of stack parameter"),
        (_one(parameters={"Log-Level": "x"}), r"parameters\.Log-Level", "letters and digits"),
        (_one(parameters={"Level": None}), r"parameters\.Level", "not a string or a number"),
        (_one(url_output="Api Url"), r"stages\[0\]\.url_output", "not an Output name"),
        (_one(concurrency=-1), r"stages\[0\]\.concurrency", "whole number"),
        (_one(tolerate=True), r"stages\[0\]\.tolerate", "whole number"),
        (_one(tolerate=1), r"stages\[0\]\.tolerate", "use at most 0"),
        (_one(trust="review"), "stages", "no release stage"),
    ],
)
def test_parse_refuses_with_path_and_fix(data: Any, path: str, says: str) -> None:
    with pytest.raises(ConfigurationError, match=rf"^topology (stages\[0\]\.)?{path}: .*{says}"):
        topology.parse(data)


def test_parse_refuses_approval_on_review_stage() -> None:
    data = yaml.safe_load(ISSUE_YAML)
    data["stages"][0]["approval"] = True

    with pytest.raises(ConfigurationError, match=r"stages\[0\]\.approval: a review stage"):
        topology.parse(data)


def test_parse_refuses_duplicate_stage_name() -> None:
    data = yaml.safe_load(ISSUE_YAML)
    data["stages"][2]["name"] = "qa"

    with pytest.raises(ConfigurationError, match=r"stages\[2\]\.name: 'qa' names two stages"):
        topology.parse(data)


def test_loads_not_json_says_how_to_make_the_value() -> None:
    with pytest.raises(ConfigurationError, match="stackrelay topology check FILE"):
        topology.loads("stages: [")


def test_loads_accepts_json_of_the_issue_yaml() -> None:
    text = json.dumps(yaml.safe_load(ISSUE_YAML))

    assert topology.loads(text).stage("prod").regions == ("us-east-1", "eu-west-1")


SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "topology.schema.json"


def test_editor_schema_has_the_parsers_keys_and_accepts_the_issue_yaml() -> None:
    import jsonschema

    schema = json.loads(SCHEMA.read_text())
    stage = schema["properties"]["stages"]["items"]

    assert tuple(schema["properties"]) == topology._TOP_KEYS
    assert tuple(stage["properties"]) == topology._STAGE_KEYS
    assert stage["properties"]["name"]["pattern"] == topology.STAGE_NAME.pattern
    assert stage["properties"]["account"]["pattern"] == topology.ACCOUNT_ID.pattern
    assert stage["properties"]["regions"]["items"]["pattern"] == topology.REGION.pattern
    jsonschema.validate(yaml.safe_load(ISSUE_YAML), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(_one(colour="red"), schema)
