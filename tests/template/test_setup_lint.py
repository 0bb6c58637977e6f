"""cfn-lint must be clean on every setup/ template (errors, warnings and informational)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SETUP_TEMPLATES = sorted((ROOT / "setup").glob("*.yaml"))
CFN_LINT = Path(sys.executable).parent / "cfn-lint"


def run_cfn_lint(template: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CFN_LINT), "--info", "--format", "parseable", "--", str(template)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_setup_directory_has_the_contract_templates() -> None:
    names = {t.name for t in SETUP_TEMPLATES}
    assert {
        "target-account.yaml",
        "target-app.yaml",
        "artifact-bucket.yaml",
        "gitlab-oidc.yaml",
    } <= names


@pytest.mark.parametrize("template", SETUP_TEMPLATES, ids=lambda p: p.name)
def test_setup_template_cfn_lint_reports_nothing(template: Path) -> None:
    result = run_cfn_lint(template)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_cfn_lint_broken_template_reports_error(tmp_path: Path) -> None:
    # Given a template with a policy Action typo, cfn-lint fails: the harness can fail.
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "Resources:\n"
        "  Role:\n"
        "    Type: AWS::IAM::Role\n"
        "    Properties:\n"
        "      AssumeRolePolicyDocument:\n"
        "        Version: '2012-10-17'\n"
        "        Statement:\n"
        "          - Effect: Allow\n"
        "            Principal: {Service: cloudformation.amazonaws.com}\n"
        "            Action: sts:AssumeRole\n"
        "      MaxSessionDuration: 10\n"
    )
    result = run_cfn_lint(broken)
    assert result.returncode != 0


@pytest.mark.parametrize("template", SETUP_TEMPLATES, ids=lambda p: p.name)
def test_setup_template_sections_in_contract_order(template: Path) -> None:
    wanted = ["Description", "Parameters", "Conditions", "Resources", "Outputs"]
    top_level = [
        line.split(":", 1)[0]
        for line in template.read_text().splitlines()
        if line and not line[0].isspace() and not line.startswith("#") and ":" in line
    ]
    present = [key for key in top_level if key in wanted]
    assert present == [key for key in wanted if key in present]
    assert {"Description", "Parameters", "Resources", "Outputs"} <= set(present)
