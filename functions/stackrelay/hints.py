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
        skip = "after continuing its rollback" in (reason or "")
        return recover_command(app, name, skip=skip)
    if status is not None and classify(status) is StackState.NEEDS_RECREATE:
        return delete_command(stack)
    return recover_command(app, name)
