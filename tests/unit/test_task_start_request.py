"""The start function's execution input: verified claims, plus the commit's time."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import pytest
from stackrelay.errors import InvalidInput
from stackrelay.identity import Identity
from stackrelay.model import StartCommand, parse_model

CALLER = Identity(
    issuer="https://gitlab.example.com",
    project_id="42",
    project_path="group/aws-news",
    ref="main",
    ref_type="branch",
    ref_protected=True,
    pipeline_id="4711",
    job_id="99",
    sha="abc1234",
    user_login="alice",
)
ARTIFACT = {
    "bucket": "artifacts",
    "key": "aws-news/" + "a" * 64 + "/packaged.yaml",
    "sha256": "a" * 64,
    "version": "v1",
}


def command(**extra: object) -> StartCommand:
    payload = {"id_token": "t", "app": "aws-news", "artifact": ARTIFACT, **extra}
    return parse_model(StartCommand, payload, "start command")


def test_request_for_commit_timestamp_given_reaches_source(
    task_module: Callable[[str], ModuleType],
) -> None:
    start = task_module("start")

    request = start.request_for(command(commit_timestamp="2026-11-28T15:18:18+00:00"), CALLER)

    assert request.source.commit_timestamp == "2026-11-28T15:18:18+00:00"
    assert request.source.ref == "main" and request.source.user == "alice"


def test_request_for_no_commit_timestamp_source_has_none(
    task_module: Callable[[str], ModuleType],
) -> None:
    start = task_module("start")

    assert start.request_for(command(), CALLER).source.commit_timestamp is None


@pytest.mark.parametrize("value", ["yesterday", "2026-11-28T15:18:18+00:00\n", "1" * 80])
def test_start_command_bad_commit_timestamp_refused(value: str) -> None:
    with pytest.raises(InvalidInput, match="commit_timestamp"):
        command(commit_timestamp=value)
