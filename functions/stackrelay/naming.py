"""Names: stacks, change sets, executions. One rule each, used everywhere."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

from stackrelay.trust import REVIEW

MAX_STACK_NAME = 128
MAX_CHANGE_SET_NAME = 128
MAX_EXECUTION_NAME = 80
_HASH_LEN = 8
_HASHED = re.compile(rf"(?:^|-)[0-9a-f]{{{_HASH_LEN}}}$")


def short_hash(text: str, length: int = _HASH_LEN) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def slug(text: str) -> str:
    """Lower-case letters, digits and single hyphens; may be empty."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def branch_slug(branch: str, room: int) -> str:
    """A slug of ``branch`` at most ``room`` characters, unique per branch.

    When the slug is not a faithful copy of the branch (other characters,
    upper case, or too long) a short hash of the exact branch name is
    appended, so ``feature/a`` and ``feature-a`` never share a stack.
    """
    base = slug(branch)
    # A faithful slug that looks like "<slug>-<hash>" could be another branch's name.
    if base == branch and len(base) <= room and not _HASHED.search(base):
        return base
    keep = max(room - _HASH_LEN - 1, 0)
    base = base[:keep].rstrip("-")
    return f"{base}-{short_hash(branch)}" if base else short_hash(branch)


def stack_name(prefix: str, app: str, stage: str, branch: str | None = None) -> str:
    """The stack for ``app`` in ``stage``; review stacks (a stack per branch) carry it.

    ``sr-aws-news-staging``, ``sr-aws-news-review-feature-login-1a2b3c4d``: ``branch``
    is given for a review stage (trust ``review``) and only then.
    Always a valid CloudFormation stack name (a letter first, then letters,
    digits and hyphens, at most 128 characters).
    """
    head = f"{prefix}{app}-{stage}"
    if branch is not None:
        room = MAX_STACK_NAME - len(head) - 1
        return f"{head}-{branch_slug(branch, room)}"
    return head


# CloudFormation shortens the stack part of a generated name to make room for the
# logical id, keeping at least half of the room (stackrelay_local.provisioning.
# generated_name). The tightest type the per-app policies scope by name is an S3 bucket
# (63 characters: (63 - 12 suffix - 2 hyphens) // 2 = 24), so "<prefix><app>-" must fit
# in 24 characters for every generated name to keep the app's own prefix.
APP_SCOPE_ROOM = 24
MAX_APP_LENGTH = APP_SCOPE_ROOM - len("sr-") - 1
"""The longest app name with the default stack prefix ``sr-`` (20)."""


def app_scope(prefix: str, app: str) -> str:
    """What every stack and generated resource name of ``app`` starts with.

    ``sr-aws-news-``: the target accounts' per-app execution policy and permissions
    boundary (setup/target-app.yaml) allow only names under it. ValueError when
    CloudFormation could shorten a generated name below it (the app name is too long
    for the prefix).
    """
    scope = f"{prefix}{app}-"
    if len(scope) > APP_SCOPE_ROOM:
        raise ValueError(
            f"app {app!r} is too long for stack prefix {prefix!r}: {scope!r} must be at most "
            f"{APP_SCOPE_ROOM} characters so the names CloudFormation generates (shortened "
            "for S3 buckets, roles, functions) keep it; choose a shorter app name."
        )
    return scope


def execution_role_name(base: str, app: str) -> str:
    """The app's own CloudFormation execution role in a target account.

    ``StackRelayExecution-aws-news`` (setup/target-app.yaml): each app's stacks run
    with a role that can touch only that app's resources.
    """
    return f"{base}-{app}"


def is_review_stack(prefix: str, app: str, stage: str, name: str) -> bool:
    """``name`` is one of ``app``'s per-branch stacks in the review stage ``stage``."""
    return name.startswith(f"{prefix}{app}-{stage}-")


def collides_with_review_stacks(app: str, review_stages: Iterable[str] = (REVIEW,)) -> bool:
    """True when ``app`` holds a review stage's name between hyphens.

    Review stacks are ``<prefix><app>-<stage>-<branch>``: such an app's stacks could
    take another app's review stack names. The default checks the default topology's
    review stage, which is named after its trust level.
    """
    segments = app.split("-")
    return any(stage in segments for stage in review_stages)


def change_set_name(pipeline_id: str, stage: str, execution: str) -> str:
    """Deterministic per execution and stage, so a retried task finds its own."""
    return f"stackrelay-{slug(pipeline_id) or 'manual'}-{stage}-{short_hash(execution)}"


def execution_name(app: str, action: str, ref: str, pipeline_id: str, nonce: str) -> str:
    """A readable, unique Step Functions execution name (<= 80, [A-Za-z0-9-_])."""
    tail = f"{slug(pipeline_id) or 'manual'}-{nonce}"
    head = f"{app}-{action}-{slug(ref) or 'ref'}"
    head = head[: MAX_EXECUTION_NAME - len(tail) - 1].rstrip("-")
    return f"{head}-{tail}"
