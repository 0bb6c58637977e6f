"""Every fault kind x every task state it can hit, on one bootstrapped engine (issue 12).

Each cell releases its own app to a review stack with one fault rule active and
asserts what must hold whatever went wrong:

- the execution ends SUCCEEDED (transient faults) or FAILED with a *named* error
  and a reason (never ``States.Runtime``/``RuntimeError``/an empty cause);
- at most one successful CreateChangeSet and one ExecuteChangeSet per release;
- no stack lock is left behind;
- the stage's record says what the stack really is (``stack_status``), and no
  change set is left on the stack when it failed.

The counts are printed in the terminal summary (tests/workflow/conftest.py).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from review_fixtures import MATRIX_COUNTS, REVIEW_APP, lock_items, stack_status
from stackrelay import errors, records, statenames
from stackrelay.naming import stack_name
from stackrelay_cli.local import LocalOrchestrator, bootstrap
from stackrelay_local import EngineConfig, Fault, LocalEngine

NAMED_ERRORS = {
    name
    for name, cls in inspect.getmembers(errors, inspect.isclass)
    if issubclass(cls, errors.StackRelayError) and cls is not errors.StackRelayError
} | {"Sandbox.Timedout", "States.Timeout", "LockNotReleased"}
_SUMMARY = MATRIX_COUNTS

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Cell:
    kind: str
    state: str
    fault: Callable[[], Fault]
    succeeds: bool
    record: bool = True  # False: the fault takes the recording function itself down

    @property
    def id(self) -> str:
        return f"{self.kind}-{self.state}"


@pytest.fixture(scope="module")
def local() -> Iterator[LocalOrchestrator]:
    """The matrix drives the polling path (StackCompletion=poll), where every task state in
    the table runs on each release. The event path's own faults (lost, delayed, duplicated
    events, the fallback) are in test_completion_modes.py."""
    with LocalEngine(EngineConfig(stack_seconds=20.0)) as engine:
        yield bootstrap(engine, parameters={"StackCompletion": "poll"})


# Task state -> (short id, function-name glob of the Lambda behind it).
_TASKS = {
    statenames.ACQUIRE_STACK_LOCK: ("lock", "*-LockFunction-*"),
    statenames.PREPARE_STACK: ("prepare", "*PrepareStack*"),
    statenames.CREATE_CHANGE_SET: ("create", "*CreateChangeSet*"),
    statenames.CHECK_CHANGE_SET: ("checkcs", "*CheckChangeSet*"),
    statenames.EXECUTE_CHANGE_SET: ("execute", "*ExecuteChangeSet*"),
    statenames.CHECK_STACK: ("checkstack", "*CheckStack*"),
    statenames.RECORD_DEPLOYMENT: ("record", "*RecordOutcome*"),
}


def _crash(glob: str, times: int | None) -> Callable[[], Fault]:
    return lambda: Fault.lambda_crash(
        function=glob, error_type="TaskCrashed", message="injected crash", times=times
    )


def _timeout(glob: str, times: int | None) -> Callable[[], Fault]:
    return lambda: Fault.lambda_timeout(function=glob, times=times)


def _throttle(operation: str, times: int | None) -> Callable[[], Fault]:
    return lambda: Fault.throttle(
        service="cloudformation", operation=operation, share=1.0, account="dev", times=times
    )


def _cells() -> list[Cell]:
    cells: list[Cell] = []
    for state, (short, glob) in _TASKS.items():
        record = state != statenames.RECORD_DEPLOYMENT  # the recording function itself is down
        cells += [
            Cell("crash", short, _crash(glob, None), succeeds=False, record=record),
            Cell("crash1", short, _crash(glob, 1), succeeds=True),
        ]
    for short in ("create", "execute", "checkstack", "record"):
        glob = next(g for s, g in _TASKS.values() if s == short)
        record = short != "record"
        cells.append(Cell("timeout", short, _timeout(glob, None), succeeds=False, record=record))
    # Five Check Stack timeouts while the stack deploys: the release still succeeds.
    cells.append(Cell("timeout5", "checkstack", _timeout("*CheckStack*", 5), succeeds=True))
    cells += [
        Cell("throttle", "create", _throttle("CreateChangeSet", None), succeeds=False),
        # DescribeStacks throttled for good: Prepare Stack fails, and the record cannot read
        # the stack either (it says so: UNKNOWN).
        Cell("throttle", "describe", _throttle("DescribeStacks", None), succeeds=False),
        Cell("throttle3", "execute", _throttle("ExecuteChangeSet", 3), succeeds=True),
        Cell(
            "csfailed",
            "checkcs",
            lambda: Fault.change_set_failed(stack="sr-*", account="dev", reason="injected"),
            succeeds=False,
        ),
        Cell(
            "resfailed",
            "checkstack",
            lambda: Fault.resource_failed(
                stack="sr-*", account="dev", resource="NotesTable", reason="injected"
            ),
            succeeds=False,
        ),
        Cell(
            "s3throttle",
            "verify",
            lambda: Fault.throttle(service="s3", operation="GetObject", share=1.0),
            succeeds=False,
        ),
    ]
    return cells


CELLS = _cells()


@pytest.mark.parametrize("cell", CELLS, ids=[c.id for c in CELLS])
def test_cell(releaser: Any, cell: Cell) -> None:
    """One fault kind in one task state: the release ends clean (see the module doc)."""
    engine = releaser.engine
    artifact = releaser.publish(REVIEW_APP)
    ref = "feature/matrix"
    name = stack_name("sr-", releaser.app, "review", ref)
    dev = str(engine.config.accounts["dev"])
    created_before = engine.api_calls("cloudformation", "CreateChangeSet", "dev")
    executed_before = engine.api_calls("cloudformation", "ExecuteChangeSet", "dev")
    engine.faults.add(cell.fault())

    run = releaser.deploy(ref, artifact)
    engine.faults.clear()

    _SUMMARY["cells"] += 1
    _SUMMARY[run.status] += 1
    if cell.succeeds:
        assert run.status == "SUCCEEDED", f"{run.error}: {run.cause}"
    else:
        assert run.status == "FAILED"
        assert run.error in NAMED_ERRORS, f"unnamed final error {run.error}: {run.cause}"
        assert run.cause.strip(), "a failure says why"
        _SUMMARY[f"error:{run.error}"] += 1
    created = engine.api_calls("cloudformation", "CreateChangeSet", "dev") - created_before
    executed = engine.api_calls("cloudformation", "ExecuteChangeSet", "dev") - executed_before
    assert created <= 1, f"{created} change sets created"
    assert executed <= 1, f"{executed} change sets executed"
    _SUMMARY["create_change_set"] += created
    _SUMMARY["execute_change_set"] += executed

    assert lock_items(releaser) == []

    real = stack_status(releaser, dev, name)
    history = records.history(releaser.table(), releaser.app)
    if cell.state == "verify":
        assert history == [] and real == "DELETE_COMPLETE"  # nothing started, nothing to record
    elif cell.record:
        assert history, "every stage that started has a record"
        recorded = history[0].get("stack_status")
        honest = {real, "ABSENT" if real == "DELETE_COMPLETE" else real}
        if cell.state == "describe":
            honest.add("UNKNOWN (could not describe the stack)")
        assert recorded in honest, f"record says {recorded}, the stack is {real}"
        _SUMMARY["records_matching"] += 1
    if run.status == "FAILED" and real != "DELETE_COMPLETE":
        cfn = engine.client("cloudformation", "dev")
        pending = cfn.list_change_sets(StackName=name)["Summaries"]
        assert pending == [], f"orphan change set(s): {[p['ChangeSetName'] for p in pending]}"
