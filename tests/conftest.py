"""Fixtures every test folder may use (this folder is on sys.path through this file).

``sam_build(app_dir)`` returns a copy of the app folder that has ``.aws-sam/build``
(what a CI build job hands to publish), built by the SAM CLI once per content hash
and test run: every xdist worker shares the cache (a file lock per build), so
`make test` builds each fixture app once.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from gitlab_fake import FakeGitLab
from stackrelay_cli import build


@pytest.fixture(scope="session")
def _gitlab_server() -> Iterator[FakeGitLab]:
    fake = FakeGitLab().start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def fake_gitlab(_gitlab_server: FakeGitLab) -> FakeGitLab:
    """A GitLab on 127.0.0.1 answering the API paths the reporter uses (tests/gitlab_fake.py)."""
    _gitlab_server.reset()
    return _gitlab_server


REPO = Path(__file__).resolve().parents[1]
_SKIP = {".aws-sam", "__pycache__", "node_modules", ".pytest_cache"}


def sam_cli() -> str:
    """This checkout's SAM CLI (make tools); a skip where missing, a failure in CI."""
    found = os.environ.get("STACKRELAY_SAM_CLI") or str(REPO / ".sam-venv" / "bin" / "sam")
    if Path(found).exists():
        return found
    message = "the SAM CLI is not installed: run `make tools`"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def content_hash(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if any(part in _SKIP for part in relative.parts) or not path.is_file():
            continue
        digest.update(relative.as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:24]


@pytest.fixture(scope="session")
def sam_cli_path() -> str:
    return sam_cli()


@pytest.fixture(scope="session")
def sam_build(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Path], Path]:
    root = tmp_path_factory.getbasetemp().parent / "sam-builds"
    root.mkdir(parents=True, exist_ok=True)

    def build_once(app_dir: Path) -> Path:
        sam = sam_cli()
        target = root / f"{app_dir.name}-{content_hash(app_dir)}"
        with (root / f"{target.name}.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (target / ".aws-sam" / "build" / "template.yaml").is_file():
                shutil.rmtree(target, ignore_errors=True)
                shutil.copytree(app_dir, target, ignore=shutil.ignore_patterns(*_SKIP))
                os.environ.setdefault("STACKRELAY_SAM_CLI", sam)
                try:
                    build.sam_build(target)
                except build.BuildError as exc:
                    shutil.rmtree(target / ".aws-sam", ignore_errors=True)
                    raise AssertionError(str(exc)) from None
        return target

    return build_once
