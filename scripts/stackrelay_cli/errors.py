"""What the CLI says when it cannot do what was asked, and its exit codes.

| code | meaning |
|------|---------|
| 0 | done (a release succeeded, an approval was sent, ...) |
| 1 | the release or teardown failed (the execution FAILED, TIMED_OUT or ABORTED) |
| 2 | the command line is wrong (usage) |
| 3 | configuration or AWS access problem (no credentials, no orchestrator, ...) |
| 4 | no such approval |
| 5 | the approval was already decided |
| 6 | the approval expired |
| 7 | the change set is stale (it changed after review) |
| 8 | invalid input (the app folder, the artifact, the CI variables) |
| 9 | refused (teardown of staging or prod, recover of a stack with no failed rollback) |
| 10 | not allowed: the GitLab ID token was refused, or its project, branch or user may not |
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_CONFIG = 3
EXIT_NOT_FOUND = 4
EXIT_DECIDED = 5
EXIT_EXPIRED = 6
EXIT_STALE = 7
EXIT_INVALID = 8
EXIT_REFUSED = 9
EXIT_DENIED = 10

# Domain error names (the core's exception classes) to exit codes.
ERROR_EXIT = {
    "ApprovalNotFound": EXIT_NOT_FOUND,
    "ApprovalAlreadyDecided": EXIT_DECIDED,
    "ApprovalExpired": EXIT_EXPIRED,
    "ChangeSetStale": EXIT_STALE,
    "InvalidInput": EXIT_INVALID,
    "TeardownRefused": EXIT_REFUSED,
    "StackNotRecoverable": EXIT_REFUSED,
    "ConfigurationError": EXIT_CONFIG,
    "SummaryMismatch": EXIT_STALE,
    "IdentityRejected": EXIT_DENIED,
    "AppNotRegistered": EXIT_DENIED,
    "ProjectMismatch": EXIT_DENIED,
    "ApproverNotAllowed": EXIT_DENIED,
}


class CliError(Exception):
    """A failure the CLI explains in one message and an exit code."""

    def __init__(self, message: str, code: int = EXIT_CONFIG) -> None:
        super().__init__(message)
        self.code = code
