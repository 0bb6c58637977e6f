"""The state names code outside the state machines relies on, written once.

The CLI reads an execution's progress from its history by state name (which step a
stage is in, where the plan and the change-set headline come from), the benchmarks
count invocations by state, and tests park executions on a state. Each name here is
checked against the built ASL (tests/template/test_statenames.py): renaming a state
without renaming its constant fails a test, not a user's `stackrelay watch`.
"""

from __future__ import annotations

DEPLOY = "deploy"
TEARDOWN = "teardown"
RECOVER = "recover"

VALIDATE_INPUT = "Validate Input"
"""Its output carries ``plan``: the stages (targets) of the release, in order."""
DEPLOY_EACH_STAGE = "Deploy Each Stage"
"""The Map state whose iterations are the stages (waves) of a release."""
DEPLOY_EACH_REGION = "Deploy Each Region"
"""The Map state, inside a stage's iteration, whose iterations are its targets (regions)."""
JUDGE_WAVE = "Judge Wave"
"""Applies the stage's failure policy to its targets' outcome lines."""
STAGE_DONE = "Stage Done"
"""Every deploy target ends here; its input carries ``stage`` and ``recorded``."""
TEAR_DOWN_EACH_STAGE = "Tear Down Each Stage"
"""The Map state whose iterations are the stages (targets) of a teardown."""
ACQUIRE_STACK_LOCK = "Acquire Stack Lock"
PREPARE_STACK = "Prepare Stack"
CREATE_CHANGE_SET = "Create Change Set"
CHECK_CHANGE_SET = "Check Change Set"
"""Its output carries ``change_set.headline``."""
WAIT_FOR_APPROVAL = "Wait For Approval"
"""A stage parked here waits for a person's decision."""
EXECUTE_CHANGE_SET = "Execute Change Set"
AWAIT_STACK_EVENT = "Await Stack Event"
CHECK_STACK = "Check Stack"
IS_STACK_DONE = "Is Stack Done?"
WAIT_FOR_STACK = "Wait For Stack"
DELETE_STACK = "Delete Stack"
CHECK_DELETION = "Check Deletion"
CONTINUE_ROLLBACK = "Continue Rollback"

RECORD_DEPLOYMENT = "Record Deployment"
RECORD_NO_CHANGES = "Record No Changes"
RECORD_SUPERSEDED = "Record Superseded"
RECORD_FAILURE = "Record Failure"
RECORD_TEARDOWN = "Record Teardown"
RECORD_RECOVERY = "Record Recovery"

RECORD_STATES = frozenset(
    {
        RECORD_DEPLOYMENT,
        RECORD_NO_CHANGES,
        RECORD_SUPERSEDED,
        RECORD_FAILURE,
        RECORD_TEARDOWN,
        RECORD_RECOVERY,
    }
)
"""States whose output carries ``recorded``: the stage's outcome line."""

STAGE_MAPS = frozenset({DEPLOY_EACH_STAGE, TEAR_DOWN_EACH_STAGE})
"""Map states over stages. Progress follows targets by the stage their states carry; only
histories without state inputs fall back to these Maps' iteration index."""

MACHINES: dict[str, frozenset[str]] = {
    DEPLOY: frozenset(
        {
            VALIDATE_INPUT,
            DEPLOY_EACH_STAGE,
            DEPLOY_EACH_REGION,
            JUDGE_WAVE,
            STAGE_DONE,
            ACQUIRE_STACK_LOCK,
            PREPARE_STACK,
            CREATE_CHANGE_SET,
            CHECK_CHANGE_SET,
            WAIT_FOR_APPROVAL,
            EXECUTE_CHANGE_SET,
            AWAIT_STACK_EVENT,
            CHECK_STACK,
            IS_STACK_DONE,
            WAIT_FOR_STACK,
            RECORD_DEPLOYMENT,
            RECORD_NO_CHANGES,
            RECORD_SUPERSEDED,
            RECORD_FAILURE,
        }
    ),
    TEARDOWN: frozenset(
        {
            VALIDATE_INPUT,
            TEAR_DOWN_EACH_STAGE,
            ACQUIRE_STACK_LOCK,
            DELETE_STACK,
            CHECK_DELETION,
            RECORD_TEARDOWN,
            RECORD_SUPERSEDED,
            RECORD_FAILURE,
        }
    ),
    RECOVER: frozenset(
        {ACQUIRE_STACK_LOCK, CONTINUE_ROLLBACK, CHECK_STACK, RECORD_RECOVERY, RECORD_FAILURE}
    ),
}
"""Which state machine (statemachine/<name>.asl.json) must hold each name."""
