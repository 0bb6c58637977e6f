"""`sam validate` (plain, and with --lint) on the orchestrator's and the example apps' templates.

The SAM CLI lives in its own virtual environment, .sam-venv (it pins its own
boto3); `make tools` installs it. SAM_CLI overrides the path. Without it the
tests skip, except in CI (CI=true), where they fail.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from policy_helpers import ROOT, require_tool

SAM_CLI = os.environ.get("SAM_CLI") or str(ROOT / ".sam-venv" / "bin" / "sam")
TEMPLATES = [ROOT / "template.yaml", *sorted(ROOT.glob("examples/*/template.yaml"))]
TEMPLATE_IDS = [str(p.relative_to(ROOT)) for p in TEMPLATES]
MODES = {"lint": ["--lint"], "plain": []}

pytestmark = pytest.mark.slow


def sam_validate(template: Path, extra: list[str]) -> subprocess.CompletedProcess[str]:
    sam = require_tool(SAM_CLI, "the SAM CLI (.sam-venv/bin/sam)")
    # Fake credentials and a region: sam validate must not need (or find) real ones.
    leaks = ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE")
    env = {k: v for k, v in os.environ.items() if k not in leaks}
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_REGION="us-east-1",
        SAM_CLI_TELEMETRY="0",
    )
    return subprocess.run(
        [sam, "validate", *extra, "--region", "us-east-1", "--template-file", str(template)],
        capture_output=True,
        text=True,
        check=False,
        cwd=template.parent,
        env=env,
        timeout=300,
    )


def test_examples_have_a_template_to_validate() -> None:
    assert len(TEMPLATES) >= 2


@pytest.mark.parametrize("mode", MODES, ids=MODES.keys())
@pytest.mark.parametrize("template", TEMPLATES, ids=TEMPLATE_IDS)
def test_sam_validate_template_is_valid(template: Path, mode: str) -> None:
    result = sam_validate(template, MODES[mode])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout


BROKEN = {
    # cfn-lint (E3012 type): --lint reports it; SAM's own checks do not.
    "lint": """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: app.handler
      CodeUri: s3://bucket/code.zip
      MemorySize: lots
""",
    # The SAM translator rejects an unknown event source type.
    "plain": """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: app.handler
      CodeUri: s3://bucket/code.zip
      Events:
        Tick:
          Type: NoSuchEventSource
""",
}


EXPECTED = {"lint": "E3012", "plain": "NoSuchEventSource"}


@pytest.mark.parametrize("mode", MODES, ids=MODES.keys())
def test_sam_validate_planted_error_rejected(mode: str, tmp_path: Path) -> None:
    broken = tmp_path / "template.yaml"
    broken.write_text(BROKEN[mode])
    result = sam_validate(broken, MODES[mode])
    assert result.returncode != 0
    assert "is a valid SAM Template" not in result.stdout
    assert EXPECTED[mode] in result.stdout + result.stderr


def test_require_tool_missing_in_ci_fails_not_skips(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception):
        require_tool(ROOT / ".sam-venv" / "bin" / "no-such-tool", "no-such-tool")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        require_tool(ROOT / ".sam-venv" / "bin" / "no-such-tool", "no-such-tool")
