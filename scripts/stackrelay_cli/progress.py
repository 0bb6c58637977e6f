"""An execution's progress, read from its Step Functions history.

Pure: takes the history events (as ``get_execution_history`` returns them)
and says, per target (a stage in one region), which step runs and how it ended.
Targets of a wave run concurrently, so each event is matched to its target by
the planned stage its state's input or output carries, never by event order. The CLI's ``status``,
``watch`` and ``start --wait`` all read progress through here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from stackrelay import statenames

WAITING_STEPS = {statenames.WAIT_FOR_APPROVAL: "waiting for approval"}


@dataclass
class StageProgress:
    stage: str
    stack: str
    account: str
    region: str = ""
    target: str = ""
    """The stage name for a one-region stage, ``<stage>.<region>`` in a wave."""
    step: str = "queued"
    state: str = "queued"  # queued | running | succeeded | failed
    outcome: str | None = None
    headline: str | None = None
    url: str | None = None
    error: str | None = None
    reason: str | None = None
    approver: str | None = None


@dataclass
class Progress:
    status: str
    app: str | None = None
    kind: str | None = None
    stages: list[StageProgress] = field(default_factory=list)
    error: str | None = None
    cause: str | None = None
    output: dict[str, Any] | None = None

    @property
    def done(self) -> bool:
        return self.status != "RUNNING"

    def stage(self, name: str) -> StageProgress | None:
        """The first target of stage (or the target) ``name``."""
        return next((s for s in self.stages if name in (s.stage, s.target)), None)

    def targets(self, name: str) -> list[StageProgress]:
        """Every target of stage ``name`` (one per region), or the target ``name``."""
        return [s for s in self.stages if name in (s.stage, s.target)]


def _json(text: str | None) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def clean_cause(cause: str | None) -> str | None:
    """A Lambda error's Cause is JSON; people want its message only."""
    parsed = _json(cause)
    if isinstance(parsed, dict) and "errorMessage" in parsed:
        return str(parsed["errorMessage"])
    return cause


def _stage_iteration(event: dict[str, Any]) -> bool:
    """A MapIteration* event of the Map over stages (statenames.STAGE_MAPS)."""
    kind = event["type"]
    details = event.get(kind[0].lower() + kind[1:] + "EventDetails") or {}
    return details.get("name", statenames.DEPLOY_EACH_STAGE) in statenames.STAGE_MAPS


def _target_of(planned: Any) -> str | None:
    if isinstance(planned, dict):
        return planned.get("target") or planned.get("stage")
    return None


def read(execution: dict[str, Any], events: list[dict[str, Any]]) -> Progress:
    """Progress of one execution from ``describe_execution`` and its history."""
    progress = Progress(status=execution["status"])
    by_target: dict[str, StageProgress] = {}
    # Histories without state inputs (trimmed recordings of the one-Map machine before
    # waves) are followed by Map iteration instead: one target at a time.
    by_inputs, iterating = False, None
    for event in sorted(events, key=lambda e: e["id"]):
        kind = event["type"]
        if kind.startswith("MapIteration") and not _stage_iteration(event):
            continue  # an inner Map's iteration (a wave's regions), not a stage
        if kind == "MapIterationStarted" and not by_inputs:
            index = (event.get("mapIterationStartedEventDetails") or {}).get("index", 0)
            iterating = progress.stages[index] if index < len(progress.stages) else None
            if iterating is not None:
                iterating.state, iterating.step = "running", "starting"
        elif kind in ("MapIterationSucceeded", "MapIterationFailed", "MapIterationAborted"):
            if iterating is not None and not by_inputs:
                failed = kind != "MapIterationSucceeded"
                iterating.state = "failed" if failed else "succeeded"
                iterating.step = (
                    (iterating.error or "failed") if failed else (iterating.outcome or "done")
                )
        elif kind.endswith("StateExited"):
            details = event.get("stateExitedEventDetails") or {}
            name, output = details.get("name"), _json(details.get("output"))
            if not isinstance(output, dict):
                continue
            if name == statenames.VALIDATE_INPUT and "plan" in output:
                plan = output["plan"]
                progress.app, progress.kind = plan.get("app"), plan.get("kind")
                progress.stages = [
                    StageProgress(
                        stage=s["stage"],
                        stack=s["stack"],
                        account=s["account"],
                        region=s.get("region", ""),
                        target=s.get("target") or s["stage"],
                    )
                    for s in plan.get("stages", [])
                ]
                by_target = {s.target: s for s in progress.stages}
                continue
            current = by_target.get(_target_of(output.get("stage")) or "") or iterating
            if current is None:
                continue
            if name in statenames.RECORD_STATES:
                recorded = output.get("recorded") or {}
                current.outcome = recorded.get("outcome")
                current.headline = recorded.get("headline") or current.headline
                current.url = recorded.get("url")
                current.error = recorded.get("error")
                current.reason = recorded.get("reason")
                current.approver = recorded.get("approver")
            elif name == statenames.CHECK_CHANGE_SET:
                current.headline = (output.get("change_set") or {}).get(
                    "headline"
                ) or current.headline
        elif kind.endswith("StateEntered"):
            details = event.get("stateEnteredEventDetails") or {}
            name = details.get("name", "")
            state_input = _json(details.get("input"))
            planned = state_input.get("stage") if isinstance(state_input, dict) else None
            current = by_target.get(_target_of(planned) or "")
            by_inputs = by_inputs or current is not None
            if current is None:
                if iterating is not None and not by_inputs and iterating.state == "running":
                    iterating.step = WAITING_STEPS.get(name, name)
                continue
            if name == statenames.STAGE_DONE:
                # Every target ends here, with its recorded line (failed or not).
                recorded = (state_input or {}).get("recorded") or {}
                if recorded.get("outcome") == "failed":
                    current.outcome, current.error = "failed", recorded.get("error")
                    current.reason = recorded.get("reason") or current.reason
                    current.state, current.step = "failed", current.error or "failed"
                else:
                    current.state, current.step = "succeeded", current.outcome or "done"
            else:
                current.state, current.step = "running", WAITING_STEPS.get(name, name)
        elif kind == "ExecutionFailed":
            details = event.get("executionFailedEventDetails") or {}
            progress.error, progress.cause = details.get("error"), clean_cause(details.get("cause"))
        elif kind == "ExecutionTimedOut":
            progress.error = "States.Timeout"
        elif kind == "ExecutionAborted":
            progress.error = "Aborted"
    if progress.done:
        for target in progress.stages:
            if target.state == "running":  # stopped, or failed in a sibling's wave
                target.state, target.step = "failed", target.error or "stopped"
    if execution.get("output"):
        progress.output = _json(execution["output"])
    if progress.error is None and execution.get("error"):
        progress.error, progress.cause = execution.get("error"), clean_cause(execution.get("cause"))
    return progress


HISTORY_FIRST_PAGE = 25
"""A look's first page: most looks find fewer new events than this."""
HISTORY_PAGE = 1000
"""Step Functions' largest page."""


def history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    """The whole history, oldest first (every page)."""
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        events.extend(page["events"])
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]


class HistoryCursor:
    """An execution's history, read incrementally: each ``read`` fetches only the
    events after the newest one already seen.

    It reads newest first (``reverseOrder``) and stops at the first event it has,
    so a tick that added a few events costs one small page, however long the
    history is (a forward ``nextToken`` cannot be resumed once the last page was
    read: AWS returns no token on it).
    """

    def __init__(self, sfn: Any, execution_arn: str) -> None:
        self._sfn = sfn
        self._arn = execution_arn
        self.events: list[dict[str, Any]] = []
        self.last_id = 0
        self.calls = 0

    def read(self) -> list[dict[str, Any]]:
        """Fetch the events added since the last read; they are appended to ``events``
        (oldest first) and returned."""
        new: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "executionArn": self._arn,
            "reverseOrder": True,
            "maxResults": HISTORY_FIRST_PAGE,
        }
        while True:
            self.calls += 1
            page = self._sfn.get_execution_history(**kwargs)
            events = page["events"]
            unseen = [e for e in events if e["id"] > self.last_id]
            new.extend(unseen)
            if len(unseen) < len(events) or not page.get("nextToken"):
                break
            # Event ids count up by one: ask for exactly the gap back to the last seen
            # event (at least 1, at most a full page; more pages if ids ever skip).
            gap = unseen[-1]["id"] - self.last_id - 1
            kwargs.update(nextToken=page["nextToken"], maxResults=max(1, min(HISTORY_PAGE, gap)))
        new.sort(key=lambda e: e["id"])
        if new:
            self.events.extend(new)
            self.last_id = new[-1]["id"]
        return new


def _access_denied(exc: Exception) -> bool:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
    return code in ("AccessDenied", "AccessDeniedException")


class Follower:
    """Progress of one execution, re-read cheaply: DescribeExecution, then only the
    history events added since the last look.

    A caller that may not read the history (CI roles: the task token is in it)
    still follows the execution's status and, at the end, its output.
    """

    def __init__(self, sfn: Any, execution_arn: str) -> None:
        self._sfn = sfn
        self._arn = execution_arn
        self.cursor = HistoryCursor(sfn, execution_arn)
        self.changed = False
        self.history_denied = False
        self._status: str | None = None

    def poll(self) -> Progress:
        # Status first: events read after it are at least as new, so a finished
        # status never comes with a history that misses its last events.
        execution = self._sfn.describe_execution(executionArn=self._arn)
        if self.history_denied:
            self.changed = execution["status"] != self._status
        else:
            try:
                self.changed = bool(self.cursor.read())
            except Exception as exc:
                if not _access_denied(exc):
                    raise
                self.history_denied, self.changed = True, True
        self._status = execution["status"]
        return read(execution, self.cursor.events)


def fetch(sfn: Any, execution_arn: str) -> Progress:
    """Progress from the execution and its history.

    CI roles may not read execution history (it holds the approval's task
    token, docs/setup.md): for them only DescribeExecution's status, output and
    error are shown, and the final output still lists every stage.
    """
    from botocore.exceptions import ClientError

    execution = sfn.describe_execution(executionArn=execution_arn)
    try:
        events = history(sfn, execution_arn)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in (
            "AccessDeniedException",
            "AccessDenied",
        ):
            raise
        events = []
    progress = read(execution, events)
    if not events and not progress.stages:
        output = progress.output or {}
        progress.app = progress.app or output.get("app")
        progress.kind = progress.kind or output.get("kind")
        for stage in output.get("stages") or []:
            if isinstance(stage, dict) and stage.get("stage"):
                progress.stages.append(
                    StageProgress(
                        stage=stage["stage"],
                        stack=stage.get("stack", ""),
                        account=stage.get("account", ""),
                        region=stage.get("region", ""),
                        target=stage.get("target") or stage["stage"],
                        state="succeeded" if stage.get("outcome") else "queued",
                        outcome=stage.get("outcome"),
                        url=stage.get("url"),
                        approver=stage.get("approver"),
                    )
                )
    return progress
