"""The command that fixes a failed stage: one rule, used by error messages and events.

Error messages say what to do next in words; events and notifications carry
the command alone (``fix``), so a person can copy it from a chat message.
"""

from __future__ import annotations

import re
from typing import Any

from stackrelay.status import CONTINUE_ROLLBACK_FROM, StackState, classify

_STATUS = re.compile(r"\b([A-Z]+(?:_[A-Z]+)*_(?:FAILED|COMPLETE|IN_PROGRESS))\b")


def recover_command(app: str, stage: str, skip: bool = False) -> str:
    """``stackrelay recover``: continue a failed update rollback of a release stack."""
    return f"stackrelay recover --app {app} --stage {stage}" + (" --skip RESOURCE" * skip)


def delete_command(stack: str) -> str:
    """A stack whose first create failed can only be deleted (after protection is off)."""
    return f"aws cloudformation delete-stack --stack-name {stack}"


AFTER_CONTINUE = "after continuing its rollback"
"""How :func:`needs_operator` says a continued rollback failed again (fix_command reads it)."""


def needs_operator(
    stage: Any, status: str, reason: str | None = None, continued: bool = False
) -> str:
    """The message for a stack only an operator can repair: what it is, what to run.

    ``status`` is the stack's (NEEDS_RECREATE or NEEDS_RECOVERY); ``reason`` the first
    failure CloudFormation gave; ``continued``: a continued rollback failed again.
    """
    where = f"{stage.stack} in account {stage.account} is {status}"
    if classify(status) is StackState.NEEDS_RECREATE:
        return (
            f"{where}: its first create failed and it can only be deleted. Delete it "
            f"(`{delete_command(stage.stack)}`) after disabling termination protection, "
            "then run the pipeline again."
        )
    if continued:
        command = recover_command(stage.app, stage.stage, skip=True)
        return (
            f"{where} {AFTER_CONTINUE}: {reason or 'CloudFormation gave no reason'}. Skip the "
            f"resources that cannot roll back: `{command}`."
        )
    after = f" after {reason}" if reason else ""
    return (
        f"{where}{after}. Fix the cause, then run "
        f"`{recover_command(stage.app, stage.stage)}` (add --skip RESOURCE for resources "
        "that cannot roll back) and run the pipeline again."
    )


def not_recoverable(stage: Any, status: str | None) -> str:
    """Why ``stackrelay recover`` cannot act on a stack in ``status`` (None: no stack)."""
    shown = status or "absent"
    head = (
        f"{stage.stack} in account {stage.account} is {shown}, not {CONTINUE_ROLLBACK_FROM}: "
        "there is no failed rollback to continue. "
    )
    if status is not None and _known(status) and classify(status) is StackState.NEEDS_RECREATE:
        return head + (
            f"Its first create failed: delete it (`{delete_command(stage.stack)}`, after "
            "disabling termination protection) and run the pipeline again."
        )
    return head + "Run the pipeline again, or look at the stack in the CloudFormation console."


def status_in(text: str | None) -> str | None:
    """The first CloudFormation stack status a message names, if any."""
    for found in _STATUS.findall(text or ""):
        try:
            classify(found)
        except ValueError:
            continue  # a resource status such as CREATE_FAILED of a resource is still a status
        return str(found)
    return None


def _known(status: str | None) -> bool:
    try:
        return status is not None and classify(status) is not StackState.ABSENT
    except ValueError:
        return False


def fix_command(
    error: str | None, reason: str | None, stage: Any, stack_status: str | None = None
) -> str | None:
    """The command that fixes a stage that ended with ``error`` (None: fix the change).

    Only the errors an operator repairs have a command: a stack that needs its
    failed rollback continued, or a failed first create that must be deleted.
    A rollback, a rejected or expired approval, or a failed change set is fixed
    by changing the app and running the pipeline again: no command.
    """
    if error != "StackNeedsRecovery":
        return None
    app, name, stack = stage.app, stage.stage, stage.stack
    status = stack_status if _known(stack_status) else status_in(reason)
    if status == CONTINUE_ROLLBACK_FROM:
        skip = AFTER_CONTINUE in (reason or "")
        return recover_command(app, name, skip=skip)
    if status is not None and classify(status) is StackState.NEEDS_RECREATE:
        return delete_command(stack)
    return recover_command(app, name)
