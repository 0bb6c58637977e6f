"""Fixtures every test folder may use (this folder is on sys.path through this file)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from gitlab_fake import FakeGitLab


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
