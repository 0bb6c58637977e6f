"""Which jobs a pipeline has, per branch, as gitlab-ci-local evaluates the rules."""

from __future__ import annotations

from typing import Any

import pytest
from ci_harness import Pipeline

# What the template gives every branch before deploying (each on unless turned off).
CHECK_JOBS = {
    "stackrelay-build": "on_success",
    "stackrelay-lint": "on_success",
    "stackrelay-unit-tests": "on_success",
    "stackrelay-pip-audit": "on_success",
    "stackrelay-npm-audit": "on_success",
}
FEATURE_JOBS = {
    **CHECK_JOBS,
    "unit-tests": "on_success",
    "review": "on_success",
    "stop-review": "manual",
}
DEFAULT_BRANCH_JOBS = {
    **CHECK_JOBS,
    "unit-tests": "on_success",
    "dependency-scan": "on_success",
    "release": "on_success",
    "approve-prod": "manual",
    "reject-prod": "manual",
}


def _active(jobs: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Jobs that are in the pipeline (``--list-json`` lists ``when: never`` ones too)."""
    return {name: job["when"] for name, job in jobs.items() if job["when"] != "never"}


@pytest.mark.slow
def test_pipeline_feature_branch_has_tests_review_and_stop(project: Pipeline) -> None:
    project.checkout("feature/login", create=True)
    assert _active(project.jobs()) == FEATURE_JOBS


@pytest.mark.slow
def test_pipeline_default_branch_has_scan_release_and_approvals(project: Pipeline) -> None:
    jobs = project.jobs()
    assert _active(jobs) == DEFAULT_BRANCH_JOBS
    assert jobs["dependency-scan"]["allow_failure"] is True
    assert jobs["approve-prod"]["allow_failure"] is True
    assert [n["job"] for n in jobs["approve-prod"]["needs"]] == ["release"]


@pytest.mark.slow
def test_pipeline_other_default_branch_follows_origin_head(project: Pipeline) -> None:
    """CI_DEFAULT_BRANCH, not the name "main", decides what releases."""
    project.checkout("trunk", create=True)
    project.set_default_branch("trunk")
    assert _active(project.jobs()) == DEFAULT_BRANCH_JOBS
    project.checkout("main")
    assert _active(project.jobs()) == FEATURE_JOBS


@pytest.mark.slow
@pytest.mark.parametrize(
    ("variable", "gone"),
    [
        ("STACKRELAY_BUILD", {"stackrelay-build"}),
        ("STACKRELAY_LINT", {"stackrelay-lint"}),
        ("STACKRELAY_TESTS", {"stackrelay-unit-tests"}),
        ("STACKRELAY_DEPENDENCY_SCAN", {"stackrelay-pip-audit", "stackrelay-npm-audit"}),
    ],
)
def test_pipeline_check_job_turned_off_by_its_variable(
    project: Pipeline, variable: str, gone: set[str]
) -> None:
    project.variables = {variable: "false"}
    active = _active(project.jobs())
    assert set(active) == set(DEFAULT_BRANCH_JOBS) - gone


@pytest.mark.slow
def test_pipeline_checks_run_in_test_stage_before_deploy(project: Pipeline) -> None:
    jobs = project.jobs()
    assert {jobs[name]["stage"] for name in CHECK_JOBS} == {"test"}
    assert {jobs[name]["stage"] for name in ("release", "approve-prod")} == {"deploy"}
