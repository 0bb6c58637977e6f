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


class IdentityRejected(StackRelayError):
    """The caller's GitLab ID token is missing, forged, expired or for someone else.

    Signature (against the issuer's JWKS), issuer, audience, expiry and not-before
    are checked; nothing was started or decided.
    """


class AppNotRegistered(StackRelayError):
    """The app is not registered to any GitLab project (``stackrelay register``)."""


class ProjectMismatch(StackRelayError):
    """The caller's GitLab project is not the one the app is registered to."""


class ApproverNotAllowed(StackRelayError):
    """The approver's job does not run on the protected default branch of the app's project."""


class SummaryMismatch(StackRelayError):
    """The approver saw a different change summary than the one waiting (digest differs)."""


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


class AwsCallFailed(StackRelayError):
    """An AWS call failed with an error the task does not handle (its code and message
    say which call and why). Idempotent tasks retry it a bounded number of times."""


class TaskCrashed(StackRelayError):
    """The task failed for a reason it did not expect (a bug, bad data): the message
    names the task and the exception. Idempotent tasks retry it a bounded number of
    times; a plain ``RuntimeError``/``KeyError`` never reaches the state machine."""


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


def _task_name(func: Callable[..., Any]) -> str:
    module = getattr(func, "__module__", "") or ""
    words = module.rsplit(".", 1)[-1].split("_")
    return " ".join(w.capitalize() for w in words if w) or getattr(func, "__name__", "task")


def retryable_throttling(func: _F) -> _F:
    """Every error a task lets out has a name the ASL can match, and says what failed.

    - AWS throttling becomes :class:`Throttled` (retried with backoff);
    - any other AWS error becomes :class:`AwsCallFailed` (code, call, message);
    - anything else that is not a domain error becomes :class:`TaskCrashed`.
    botocore raises every unmodelled error as ``ClientError``, and a bug as a bare
    ``KeyError``: retrying those names would retry everything or nothing. The SDK's
    own retries still run first.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except StackRelayError:
            raise
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = error.get("Code", "") or "unknown"
            operation = getattr(exc, "operation_name", "an AWS call")
            if code in THROTTLING_CODES:
                raise Throttled(f"{operation} was throttled ({code}); retrying.") from None
            raise AwsCallFailed(
                f"{_task_name(func)}: {operation} failed ({code}): "
                f"{error.get('Message') or 'no message'}"
            ) from exc
        except Exception as exc:
            raise TaskCrashed(
                f"{_task_name(func)} crashed: {type(exc).__name__}: {exc or 'no message'}"
            ) from exc

    return wrapper  # type: ignore[return-value]
