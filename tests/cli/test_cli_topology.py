"""stackrelay topology check: a YAML topology file to the orchestrator's Topology value."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from stackrelay import topology
from stackrelay_cli.errors import EXIT_INVALID
from stackrelay_cli.main import main

REPO = Path(__file__).resolve().parents[2]
FOUR_STAGES = REPO / "examples" / "topologies" / "four-stages.yaml"


def test_topology_check_prints_the_parameter_value(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["topology", "check", str(FOUR_STAGES)]) == 0

    out, err = capsys.readouterr()
    value = out.strip()
    assert topology.loads(value).stage("prod").regions == ("us-east-1", "eu-west-1")
    assert "DeployAccountIds=111111111111,222222222222,333333333333" in err
    assert "prod: 333333333333 us-east-1, eu-west-1 (release, approval, protected)" in err


def test_topology_check_json_lists_stages_and_parameter(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["topology", "check", "--json", str(FOUR_STAGES)]) == 0

    result = json.loads(capsys.readouterr().out)
    assert [s["name"] for s in result["stages"]] == ["review", "qa", "staging", "prod"]
    assert json.loads(result["parameter"]) == {"stages": result["stages"]}


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("stages: [", "not valid YAML or JSON"),
        ("stages: [{name: qa, account: 1, regions: [us-east-1]}]", "stages[0].account"),
        ('stages: [{name: qa, account: "111111111111", regions: [us-east-1], x: 1}]', "'x'"),
    ],
)
def test_topology_check_bad_file_one_message_exit_invalid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, says: str
) -> None:
    path = tmp_path / "topology.yaml"
    path.write_text(text)

    assert main(["topology", "check", "--json", str(path)]) == EXIT_INVALID

    err = json.loads(capsys.readouterr().err)
    assert says in err["error"] and str(path) in err["error"]


def test_topology_check_missing_file_exit_invalid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["topology", "check", str(tmp_path / "nope.yaml")]) == EXIT_INVALID
    assert "cannot read the topology file" in capsys.readouterr().err
