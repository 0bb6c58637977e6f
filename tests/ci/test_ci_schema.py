"""Every CI file validates against GitLab's schema (check-jsonschema, offline)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ci_harness import CI_FILES, REPO


def _check(*files: Path) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("check-jsonschema") or str(Path(sys.executable).parent / "check-jsonschema")
    return subprocess.run(
        [
            tool,
            "--builtin-schema",
            "vendor.gitlab-ci",
            "--data-transform",
            "gitlab-ci",
            *map(str, files),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_ci_files_found_include_template_and_pipeline() -> None:
    names = {path.relative_to(REPO).as_posix() for path in CI_FILES}
    assert {".gitlab-ci.yml", "ci/stackrelay.gitlab-ci.yml"} <= names


@pytest.mark.parametrize("path", CI_FILES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_ci_file_gitlab_schema_valid(path: Path) -> None:
    done = _check(path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_ci_schema_check_bad_when_rejected(tmp_path: Path) -> None:
    """The check can fail: a job with an invalid ``when:`` is refused."""
    bad = tmp_path / "bad.gitlab-ci.yml"
    bad.write_text("job:\n  script: [echo]\n  when: sometimes\n")
    done = _check(bad)
    assert done.returncode != 0
    assert "bad.gitlab-ci.yml" in done.stdout + done.stderr
