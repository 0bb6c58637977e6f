"""errors: domain error names are API; throttling becomes a retryable name."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from stackrelay import errors
from stackrelay.errors import THROTTLING_CODES, StackRelayError, Throttled, retryable_throttling


def client_error(code: str, operation: str = "DescribeStacks") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code} happened"}}, operation)


@pytest.mark.parametrize("code", sorted(THROTTLING_CODES))
def test_retryable_throttling_throttling_code_raises_throttled(code: str) -> None:
    @retryable_throttling
    def call() -> None:
        raise client_error(code, "DescribeStackEvents")

    with pytest.raises(Throttled) as caught:
        call()

    assert "DescribeStackEvents" in str(caught.value)
    assert code in str(caught.value)
    assert caught.value.__cause__ is None


@pytest.mark.parametrize(
    "code", ["ValidationError", "AccessDenied", "ExecutionDoesNotExist", "Throttled", ""]
)
def test_retryable_throttling_other_code_named_aws_call_failed(code: str) -> None:
    original = client_error(code)

    @retryable_throttling
    def call() -> None:
        raise original

    with pytest.raises(errors.AwsCallFailed) as caught:
        call()

    assert caught.value.__cause__ is original
    assert f"({code or 'unknown'})" in str(caught.value)


def test_retryable_throttling_client_error_without_code_named() -> None:
    @retryable_throttling
    def call() -> None:
        raise ClientError({}, "GetItem")

    with pytest.raises(errors.AwsCallFailed, match="GetItem failed"):
        call()


def test_retryable_throttling_bug_named_task_crashed_with_its_type() -> None:
    @retryable_throttling
    def call() -> None:
        raise KeyError("stack")

    with pytest.raises(errors.TaskCrashed, match="crashed: KeyError: 'stack'"):
        call()


def test_retryable_throttling_domain_error_passes_through() -> None:
    @retryable_throttling
    def call() -> None:
        raise errors.StackBusy("busy")

    with pytest.raises(errors.StackBusy, match="busy"):
        call()


def test_retryable_throttling_success_returns_value_and_keeps_name() -> None:
    @retryable_throttling
    def answer(x: int, *, y: int) -> dict[str, Any]:
        """Docs."""
        return {"sum": x + y}

    assert answer(1, y=2) == {"sum": 3}
    assert answer.__name__ == "answer"
    assert answer.__doc__ == "Docs."


@pytest.mark.parametrize(
    "name",
    [
        "InvalidInput",
        "ConfigurationError",
        "ArtifactMismatch",
        "ChangeSetFailed",
        "ChangeSetStale",
        "StackRollback",
        "StackNeedsRecovery",
        "StackBusy",
        "DeleteFailed",
        "TeardownRefused",
        "DeploymentRejected",
        "ApprovalExpired",
        "ApprovalNotFound",
        "ApprovalAlreadyDecided",
        "Throttled",
    ],
)
def test_domain_error_name_is_stable_stackrelay_error(name: str) -> None:
    cls = getattr(errors, name)

    assert issubclass(cls, StackRelayError)
    assert cls.__name__ == name
