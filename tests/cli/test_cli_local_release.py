"""``stackrelay local release --app DIR``: an app StackRelay has never seen, end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "stackrelay_cli.main"]
UNSEEN_APP = REPO / "tests" / "fixtures" / "unseen_app"  # what `sam init` makes (hello world)


@pytest.mark.slow
def test_local_release_unseen_sam_init_app_deploys_every_stage(tmp_path: Path) -> None:
    done = _release_subprocess(UNSEEN_APP, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    result = json.loads(done.stdout)  # stdout is the JSON alone (handler logs go to stderr)
    assert result["app"] == "unseen-app"
    # review deployed, staging, prod (approved), then the merged branch's review torn down
    assert [(s["stage"], s["account"], s["outcome"]) for s in result["stages"]] == [
        ("review", "111111111111", "deployed"),
        ("staging", "222222222222", "deployed"),
        ("prod", "333333333333", "deployed"),
        ("review", "111111111111", "deleted"),
    ]
    stacks = [s["stack"] for s in result["stages"]]
    assert stacks[1].endswith("unseen-app-staging") and stacks[2].endswith("unseen-app-prod")
    assert "unseen-app-review-" in stacks[0] and stacks[3] == stacks[0]
    # sam init calls its URL output HelloWorldApi: the release still shows each stage's URL
    assert all(".execute-api." in s["url"] for s in result["stages"][:3])


NO_DEFAULT_APP = REPO / "tests" / "fixtures" / "apps" / "no-codeuri"  # Greeting has no Default


def _local_release(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    from stackrelay_cli.main import main

    code = main(["local", "release", *args])
    err = " ".join(capsys.readouterr().err.split())
    assert "Traceback" not in err and "unexpected" not in err
    return code, err


def test_local_release_parameter_without_default_names_stageparameters_and_flag(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, err = _local_release(capsys, "--app", str(NO_DEFAULT_APP))
    assert code == 8
    assert "Greeting" in err and "--parameter Greeting=VALUE" in err
    assert "StageParameters" in err


@pytest.mark.parametrize("bad", ["Greeting", "=x", "qa:Greeting=x"])
def test_local_release_parameter_malformed_is_refused(
    capsys: pytest.CaptureFixture[str], bad: str
) -> None:
    code, err = _local_release(capsys, "--app", str(NO_DEFAULT_APP), "--parameter", bad)
    assert code == 8
    assert "KEY=VALUE" in err


def test_local_release_parameters_map_to_stage_parameters() -> None:
    from stackrelay_cli.local import parse_parameters

    assert parse_parameters(["A=1", "prod:B=2=3"]) == {
        "review": {"A": "1"},
        "staging": {"A": "1"},
        "prod": {"A": "1", "B": "2=3"},
    }


def _release_subprocess(app: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "STACKRELAY_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "scripts"), str(REPO / "functions")])
    return subprocess.run(
        [*CLI, "local", "release", "--app", str(app), "--json", "--stack-seconds", "30"],
        capture_output=True,
        text=True,
        env={**env, "AWS_CONFIG_FILE": str(tmp_path / "none")},
        cwd=tmp_path,
        timeout=600,
        check=False,
    )


@pytest.mark.slow
def test_local_release_role_outside_the_boundary_fails_with_aws_reason(tmp_path: Path) -> None:
    done = _release_subprocess(REPO / "tests" / "fixtures" / "outside_boundary_app", tmp_path)

    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "WorkerRole" in done.stderr
    assert (
        "StackRelayExecution-outside-boundary-app/AWSCloudFormation is not authorized to "
        "perform: "
        "iam:CreateRole on resource: arn:aws:iam::111111111111:role/my-app-worker"
    ) in " ".join(done.stderr.split())


@pytest.mark.slow
def test_local_release_http_api_app_shows_its_api_url(tmp_path: Path) -> None:
    done = _release_subprocess(REPO / "tests" / "fixtures" / "http_api_app", tmp_path)

    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    urls = [s["url"] for s in result["stages"][:3]]
    assert all(u.startswith("https://") and ".execute-api." in u for u in urls), urls
    assert all(u.endswith("/hello") for u in urls)
