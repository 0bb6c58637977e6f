"""``stackrelay local release|demo --gitlab-url URL``: the whole loop, reported to a GitLab."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from gitlab_fake import GITLAB_TOKEN, FakeGitLab
from stackrelay_cli.local import PROJECT_ID

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "stackrelay_cli.main"]
SAMPLE = REPO / "examples" / "aws-news"


def _run(
    tmp_path: Path, *args: str, token: str | None = GITLAB_TOKEN
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "STACKRELAY_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "scripts"), str(REPO / "functions")])
    if token is not None:
        env["STACKRELAY_GITLAB_TOKEN"] = token
    return subprocess.run(
        [*CLI, "local", *args],
        capture_output=True,
        text=True,
        env={**env, "AWS_CONFIG_FILE": str(tmp_path / "none")},
        cwd=tmp_path,
        timeout=900,
        check=False,
    )


@pytest.mark.slow
def test_local_release_gitlab_url_reports_every_stage_environment_and_the_summary(
    tmp_path: Path, fake_gitlab: FakeGitLab
) -> None:
    fake_gitlab.project_path = "local/aws-news"
    fake_gitlab.project_id = int(PROJECT_ID)  # the project local releases run as
    fake_gitlab.pipelines = {101: "1f2e3d4c5b6a", 102: "2a3b4c5d6e7f", 103: "1f2e3d4c5b6a"}
    done = _run(
        tmp_path, "release", "--app", str(SAMPLE), "--json", "--gitlab-url", fake_gitlab.url
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["gitlab"]["events"] > 0
    assert result["gitlab"]["delivered"] == result["gitlab"]["events"]
    assert fake_gitlab.status_states("stackrelay/review") == ["running", "success"]
    assert fake_gitlab.status_states("stackrelay/staging") == ["running", "success"]
    assert fake_gitlab.status_states("stackrelay/prod") == ["running", "success"]
    assert fake_gitlab.status_states("stackrelay/prod/approval") == ["pending", "success"]
    assert fake_gitlab.status_states("stackrelay/review/teardown")[-1] == "success"
    (note,) = fake_gitlab.notes
    assert note["on"] == "2a3b4c5d6e7f" and "waits for your approval" in note["body"]
    urls = {e["name"]: e["external_url"] for e in fake_gitlab.environments.values()}
    deployed = {s["stage"]: s["url"] for s in result["stages"] if s["outcome"] == "deployed"}
    assert urls == {
        "review/feature-login": deployed["review"],
        "staging": deployed["staging"],
        "production": deployed["prod"],
    }
    assert GITLAB_TOKEN not in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("args", "token", "code", "message"),
    [
        (["--gitlab-url", "gitlab.example.com"], GITLAB_TOKEN, 8, "is not an http(s) URL"),
        (["--gitlab-url", "https://gitlab.example.com"], None, 3, "STACKRELAY_GITLAB_TOKEN"),
    ],
)
def test_local_demo_gitlab_url_bad_input_is_a_clear_error(
    tmp_path: Path, args: list[str], token: str | None, code: int, message: str
) -> None:
    done = _run(tmp_path, "demo", *args, token=token)
    assert done.returncode == code
    assert message in done.stderr and "Traceback" not in done.stderr
