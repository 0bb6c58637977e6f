"""Domain errors. The class name is API: the ASL matches it in ErrorEquals.

Each message says what failed, why, and what to do next.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from botocore.exceptions import ClientError


class StackRelayError(Exception):
    """Base class; never raised itself."""


class InvalidInput(StackRelayError):
    """The execution input is malformed. Nothing was deployed."""


class ConfigurationError(StackRelayError):
    """The orchestrator's own configuration is incomplete or wrong."""


class ArtifactMismatch(StackRelayError):
    """The artifact is missing or its content does not match its sha256."""


class ChangeSetFailed(StackRelayError):
    """CloudFormation could not create the change set (not a "no changes" result)."""


class ChangeSetStale(StackRelayError):
    """The change set is no longer the one that was reviewed."""


class StackRollback(StackRelayError):
    """A stack operation failed and CloudFormation rolled it back."""


class StackNeedsRecovery(StackRelayError):
    """The stack is in a state that only an operator can fix."""


class StackBusy(StackRelayError):
    """Another operation holds the stack (lock held, or CloudFormation busy)."""


class DeleteFailed(StackRelayError):
    """CloudFormation could not delete the stack."""


class TeardownRefused(StackRelayError):
    """Teardown was asked for a stack that is not a review stack."""


class StackNotRecoverable(StackRelayError):
    """Recover was asked for a stack that is not in UPDATE_ROLLBACK_FAILED."""


class DeploymentRejected(StackRelayError):
    """An approver rejected the production change set."""


class ApprovalExpired(StackRelayError):
    """No one approved the production change set in time."""


class ApprovalNotFound(StackRelayError):
    """No approval is waiting for this app, pipeline and stage."""


class ApprovalAlreadyDecided(StackRelayError):
    """The approval was already approved or rejected."""


class Throttled(StackRelayError):
    """AWS throttled a call; the state machine retries it with backoff."""


THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ProvisionedThroughputExceededException",
        "SlowDown",
    }
)

_F = TypeVar("_F", bound=Callable[..., Any])


def retryable_throttling(func: _F) -> _F:
    """Re-raise AWS throttling as :class:`Throttled`, a name the ASL can retry.

    botocore raises every unmodelled error as ``ClientError``; retrying that
    name would retry everything. The SDK's own retries still run first.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in THROTTLING_CODES:
                operation = getattr(exc, "operation_name", "an AWS call")
                raise Throttled(f"{operation} was throttled ({code}); retrying.") from None
            raise

    return wrapper  # type: ignore[return-value]
