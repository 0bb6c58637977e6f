"""The house rules for CI files (STYLE.md): rules: not only:, id_tokens, pinned images,
and the environments the issue asks for."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from ci_harness import CI_FILES, REPO

TEMPLATE = REPO / "ci" / "stackrelay.gitlab-ci.yml"
PINNED_IMAGE = re.compile(r"^[a-z0-9./-]+:\d+(\.\d+)+[a-z0-9.-]*(@sha256:[0-9a-f]{64})?$")


def _jobs(path: Path) -> dict[str, dict[str, Any]]:
    data = yaml.safe_load(path.read_text())
    reserved = {"include", "stages", "variables", "workflow", "default"}
    return {k: v for k, v in data.items() if k not in reserved and isinstance(v, dict)}


def _merged(path: Path, name: str) -> dict[str, Any]:
    """A job with its ``extends:`` chain applied (shallow, as far as the tests need)."""
    jobs = {**_jobs(TEMPLATE), **_jobs(path)}
    job = jobs[name]
    parent = job.get("extends")
    base = _merged(path, parent) if parent else {}
    return {**base, **{k: v for k, v in job.items() if k != "extends"}}


@pytest.mark.parametrize("path", CI_FILES, ids=lambda p: p.name)
def test_ci_file_no_only_except_or_job_jwt(path: Path) -> None:
    text = path.read_text()
    assert not re.search(r"\$\{?CI_JOB_JWT", text)
    for name, job in _jobs(path).items():
        assert "only" not in job and "except" not in job, name


@pytest.mark.parametrize("path", CI_FILES, ids=lambda p: p.name)
def test_ci_file_images_pinned_to_versions(path: Path) -> None:
    images = [job["image"] for job in _jobs(path).values() if "image" in job]
    assert images
    # An image may be a variable (the app chooses its build image); its default is pinned.
    defaults = {
        **(yaml.safe_load(TEMPLATE.read_text()).get("variables") or {}),
        **(yaml.safe_load(path.read_text()).get("variables") or {}),
    }
    for image in images:
        name = image if isinstance(image, str) else image["name"]
        if name.startswith("$"):
            name = str(defaults[name.lstrip("$").strip("{}")])
        assert PINNED_IMAGE.match(name), f"{name} is not pinned to a version"


def test_template_build_runs_in_sam_build_image_and_hands_build_to_publish() -> None:
    build = _merged(TEMPLATE, "stackrelay-build")
    variables = yaml.safe_load(TEMPLATE.read_text())["variables"]
    assert build["image"] == "$STACKRELAY_BUILD_IMAGE"
    assert variables["STACKRELAY_BUILD_IMAGE"].startswith("public.ecr.aws/sam/build-")
    assert build["stage"] == "test"  # review/release (deploy stage) get its artifacts
    assert build["artifacts"]["paths"] == ["$STACKRELAY_APP_DIR/.aws-sam/build"]
    assert any("build $STACKRELAY_BUILD_ARGS" in line for line in build["script"])
    for job in ("review", "release"):
        merged = _merged(TEMPLATE, job)
        assert "needs" not in merged and "dependencies" not in merged  # all earlier artifacts
        assert merged["image"] == "$STACKRELAY_PUBLISH_IMAGE"


@pytest.mark.parametrize("job", ["review", "stop-review", "release", "approve-prod", "reject-prod"])
def test_template_aws_jobs_use_id_tokens_and_stackrelay_bin(job: str) -> None:
    merged = _merged(TEMPLATE, job)
    assert merged["id_tokens"]["STACKRELAY_ID_TOKEN"]["aud"]
    setup = "\n".join(merged["before_script"])
    assert "AWS_WEB_IDENTITY_TOKEN_FILE" in setup and "AWS_ROLE_ARN" in setup
    assert all(line.startswith("$STACKRELAY_BIN ") for line in merged["script"])


def test_template_release_jobs_thin_publish_then_start_without_wait() -> None:
    for job in ("review", "release"):
        script = _merged(TEMPLATE, job)["script"]
        assert [line.split()[1] for line in script] == ["publish", "start"]
        assert not any("--wait" in line for line in script)


def test_template_review_environment_stops_through_manual_stop_job() -> None:
    review, stop = _merged(TEMPLATE, "review"), _merged(TEMPLATE, "stop-review")
    assert review["environment"]["name"] == "review/$CI_COMMIT_REF_SLUG"
    assert stop["environment"] == {"name": "review/$CI_COMMIT_REF_SLUG", "action": "stop"}
    assert stop["rules"][0]["when"] == "manual"
    assert "teardown" in stop["script"][0]


def test_template_staging_and_production_environments_and_approval_roles() -> None:
    assert _merged(TEMPLATE, "release")["environment"]["name"] == "staging"
    approve, reject = _merged(TEMPLATE, "approve-prod"), _merged(TEMPLATE, "reject-prod")
    assert approve["environment"]["name"] == reject["environment"]["name"] == "production"
    assert approve["variables"]["STACKRELAY_ROLE"] == reject["variables"]["STACKRELAY_ROLE"]
    assert approve["variables"]["STACKRELAY_ROLE"] == "approve"
    assert [r["when"] for r in approve["rules"] + reject["rules"]] == ["manual", "manual"]


@pytest.mark.parametrize("job", ["review", "release", "approve-prod"])
def test_template_deploy_jobs_only_prepare_their_environment(job: str) -> None:
    """A job that only starts an execution must not mark the environment deployed, nor
    point it at the console: the GitLab reporter creates the deployment when the stage
    really starts, ends it with the stage's real outcome and sets the app's URL."""
    environment = _merged(TEMPLATE, job)["environment"]
    assert environment["action"] == "prepare"
    assert "url" not in environment
    assert "on_stop" not in environment and "auto_stop_in" not in environment


@pytest.mark.parametrize("job", ["approve-prod", "reject-prod"])
def test_template_decision_jobs_wait_for_an_early_click(job: str) -> None:
    (line,) = _merged(TEMPLATE, job)["script"]
    assert '--wait "$STACKRELAY_APPROVE_WAIT"' in line
    assert float(yaml.safe_load(TEMPLATE.read_text())["variables"]["STACKRELAY_APPROVE_WAIT"]) > 0
