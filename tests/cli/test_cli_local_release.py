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
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "STACKRELAY_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "scripts"), str(REPO / "functions")])
    done = subprocess.run(
        [*CLI, "local", "release", "--app", str(UNSEEN_APP), "--json", "--stack-seconds", "30"],
        capture_output=True,
        text=True,
        env={**env, "AWS_CONFIG_FILE": str(tmp_path / "none")},
        cwd=tmp_path,
        timeout=600,
        check=False,
    )
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
