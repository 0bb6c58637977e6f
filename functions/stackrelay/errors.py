"""Domain errors. The class name is API: the ASL matches it in ErrorEquals.

Each message says what failed, why, and what to do next.
"""

from __future__ import annotations


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


class DeploymentRejected(StackRelayError):
    """An approver rejected the production change set."""


class ApprovalExpired(StackRelayError):
    """No one approved the production change set in time."""


class ApprovalNotFound(StackRelayError):
    """No approval is waiting for this app, pipeline and stage."""


class ApprovalAlreadyDecided(StackRelayError):
    """The approval was already approved or rejected."""
