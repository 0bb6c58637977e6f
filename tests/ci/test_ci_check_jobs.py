"""The template's test-stage jobs, run by gitlab-ci-local in shell mode.

stackrelay-lint runs the real SAM CLI (.sam-venv); stackrelay-unit-tests runs the
sample app's tests with this repo's Python; the scans run recording stand-ins for
pip-audit and npm (the real ones need their vulnerability services), so the tests
assert which files each job scans and that a finding fails the job.
"""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import pytest
from ci_harness import REPO, Pipeline, require_tool

pytestmark = pytest.mark.slow

SAM = REPO / ".sam-venv" / "bin" / "sam"
APP = Path("examples") / "aws-news"


def _stub(path: Path, log: Path, exit_code: int = 0) -> str:
    """An executable that appends its arguments (as JSON) and working folder to ``log``."""
    path.write_text(
        "#!/bin/sh\n"
        f'printf \'{{"cwd": "%s", "args": "%s"}}\\n\' "$(pwd)" "$*" >> {log}\n'
        f"exit {exit_code}\n"
    )
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def _calls(log: Path) -> list[dict[str, str]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


@pytest.fixture
def checks(project: Pipeline, rsync: str) -> Pipeline:
    project.variables = {
        "STACKRELAY_APP_DIR": str(APP),
        "STACKRELAY_SAM_BIN": require_tool(str(SAM), "the SAM CLI (.sam-venv/bin/sam)"),
        "STACKRELAY_TEST_COMMAND": f"{sys.executable} -m pytest -q -p no:cacheprovider tests",
    }
    return project


def test_lint_job_valid_template_passes(checks: Pipeline) -> None:
    job = checks.run_job("stackrelay-lint")
    assert "PASS  stackrelay-lint" in job.stdout
    assert "is a valid SAM Template" in job.stdout


def test_lint_job_broken_template_fails_before_deploy(checks: Pipeline) -> None:
    template = checks.root / APP / "template.yaml"
    template.write_text(template.read_text().replace("Handler: app.lambda_handler", "Handlr: x"))
    checks.commit("typo")
    job = checks.run_job("stackrelay-lint", check=False)
    assert job.returncode != 0
    assert "FAIL  stackrelay-lint" in job.stdout


def test_unit_tests_job_runs_the_named_command(checks: Pipeline) -> None:
    job = checks.run_job("stackrelay-unit-tests")
    assert "PASS  stackrelay-unit-tests" in job.stdout
    assert "1 passed" in job.stdout


def test_unit_tests_job_failing_test_fails_the_job(checks: Pipeline) -> None:
    test = checks.root / APP / "tests" / "test_app.py"
    test.write_text(test.read_text().replace('== ["SAM 2"]', '== ["SAM 3"]'))
    checks.commit("break a test")
    job = checks.run_job("stackrelay-unit-tests", check=False)
    assert job.returncode != 0 and "1 failed" in job.stdout


def test_unit_tests_job_without_command_says_what_to_set(checks: Pipeline) -> None:
    checks.variables["STACKRELAY_TEST_COMMAND"] = ""
    job = checks.run_job("stackrelay-unit-tests", check=False)
    assert job.returncode != 0
    assert "set STACKRELAY_TEST_COMMAND" in job.stdout + job.stderr


@pytest.mark.parametrize(("exit_code", "passes"), [(0, True), (1, False)])
def test_pip_audit_job_scans_every_requirements_file(
    checks: Pipeline, tmp_path: Path, exit_code: int, passes: bool
) -> None:
    app = checks.root / APP
    (app / "src" / "requirements.txt").write_text("requests==2.19.0\n")
    (app / "tests" / "requirements.txt").write_text("pytest==9.2.0\n")
    (app / ".aws-sam" / "build").mkdir(parents=True)
    (app / ".aws-sam" / "build" / "requirements.txt").write_text("left==1.0\n")
    checks.commit("dependencies")
    log = tmp_path / "pip-audit.log"
    checks.variables["STACKRELAY_PIP_AUDIT_BIN"] = _stub(tmp_path / "pip-audit", log, exit_code)
    job = checks.run_job("stackrelay-pip-audit", check=False)
    assert (job.returncode == 0) is passes, job.stdout
    assert [c["args"] for c in _calls(log)] == [
        "--requirement ./src/requirements.txt",
        "--requirement ./tests/requirements.txt",
    ]


def test_pip_audit_job_without_python_dependencies_passes_and_says_so(
    checks: Pipeline, tmp_path: Path
) -> None:
    log = tmp_path / "pip-audit.log"
    checks.variables["STACKRELAY_PIP_AUDIT_BIN"] = _stub(tmp_path / "pip-audit", log, 1)
    job = checks.run_job("stackrelay-pip-audit")
    assert "no Python dependencies to scan" in job.stdout
    assert _calls(log) == []


def test_npm_audit_job_locks_then_audits_each_node_function(
    checks: Pipeline, tmp_path: Path
) -> None:
    fn = checks.root / APP / "node-fn"
    fn.mkdir()
    (fn / "package.json").write_text(json.dumps({"name": "fn", "dependencies": {}}))
    checks.commit("a node function")
    log = tmp_path / "npm.log"
    checks.variables["STACKRELAY_NPM_BIN"] = _stub(tmp_path / "npm", log, 0)
    job = checks.run_job("stackrelay-npm-audit")
    assert "PASS  stackrelay-npm-audit" in job.stdout
    calls = _calls(log)
    assert [c["args"] for c in calls] == [
        "install --package-lock-only --ignore-scripts --no-audit --no-fund",
        "audit --omit=dev --audit-level=high",
    ]
    assert all(c["cwd"].endswith("/node-fn") for c in calls)
