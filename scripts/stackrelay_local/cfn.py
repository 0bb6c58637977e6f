"""CloudFormation realism on top of moto.

moto does the real work (it creates the functions, tables, roles...) but
finishes every operation inside the API call. This layer keeps AWS's shape:
each operation gets a *timeline* on the simulated clock (``CREATE_IN_PROGRESS``
until T, then ``CREATE_COMPLETE``), stack events with simulated timestamps
(hidden until their time comes), change sets that stay ``CREATE_IN_PROGRESS``
for a while, AWS's refusals, rollbacks driven by injected faults, and the
SAM transform applied server-side. Every CloudFormation call first *settles*
the operations whose time has passed, so what a client reads only depends on
the simulated clock.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from stackrelay_local import seams
from stackrelay_local.changes import ResourceChange, diff_resources
from stackrelay_local.clock import to_datetime
from stackrelay_local.faults import CHANGE_SET_FAILED, DELETE_FAILED, RESOURCE_FAILED
from stackrelay_local.provisioning import ResourceFailure
from stackrelay_local.sam import TemplateError, load_template, process_template

if TYPE_CHECKING:
    from stackrelay_local.runtime import Runtime

NO_CHANGES_REASON = (
    "The submitted information didn't contain changes. "
    "Submit different information to create a change set."
)


@dataclass
class Operation:
    """One stack operation: statuses over simulated time, then a completion."""

    timeline: list[tuple[float, str]]
    on_complete: Callable[[], None] | None = None
    done: bool = False

    @property
    def end(self) -> float:
        return self.timeline[-1][0]

    def status_at(self, now: float) -> str:
        status = self.timeline[0][1]
        for instant, value in self.timeline:
            if instant <= now:
                status = value
        return status


@dataclass
class Deployed:
    """What a stack currently runs: transformed template and effective parameters."""

    template: dict[str, Any] = field(default_factory=dict)
    parameters: dict[str, str] = field(default_factory=dict)


@dataclass
class PendingChangeSet:
    ready_at: float
    status: str
    execution_status: str
    reason: str | None
    template: dict[str, Any]
    parameters: dict[str, str]
    settled: bool = False
    original: dict[str, Any] = field(default_factory=dict)  # as submitted (TemplateStage Original)


class _Operations(dict[str, Operation]):
    """Stack id -> its current operation. Storing an operation announces every
    status transition of its timeline as a "CloudFormation Stack Status Change"
    event at its simulated instant (stackrelay_local.events), so no operation
    added here can forget to emit."""

    def __init__(self, realism: CloudFormationRealism) -> None:
        super().__init__()
        self._realism = realism

    def __setitem__(self, stack_id: str, operation: Operation) -> None:
        super().__setitem__(stack_id, operation)
        token = self._realism.request_tokens.pop(stack_id, None) or ""
        for instant, status in operation.timeline:
            self._realism.runtime.events.stack_status(stack_id, status, instant, token)


class CloudFormationRealism:
    """Timelines, events and refusals for every account's CloudFormation."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.lock = threading.RLock()
        self.request_tokens: dict[str, str] = {}
        """ClientRequestToken of the operation being started, by stack id (events carry it)."""
        self.operations: dict[str, Operation] = _Operations(self)
        self.deployed: dict[str, Deployed] = {}
        self.change_sets: dict[str, PendingChangeSet] = {}
        self.stack_seconds: dict[str, float] = {}

    # -- timing ---------------------------------------------------------------
    def duration(self, stack_name: str) -> float:
        for pattern, seconds in self.stack_seconds.items():
            if fnmatchcase(stack_name, pattern):
                return seconds
        return self.runtime.config.stack_seconds

    def now(self) -> float:
        return self.runtime.clock.now()

    # -- settling -------------------------------------------------------------
    def settle(self, backend: Any) -> None:
        """Bring every stack and change set of ``backend`` up to the clock."""
        with self.lock:
            now = self.now()
            for cs_id, pending in list(self.change_sets.items()):
                if pending.settled or pending.ready_at > now:
                    continue
                cs = backend.change_sets.get(cs_id)
                if cs is None:
                    continue
                cs.status = pending.status
                cs.execution_status = pending.execution_status
                cs.status_reason = pending.reason
                pending.settled = True
            for stack in list(backend.stacks.values()):
                op = self.operations.get(stack.stack_id)
                if op is None or op.done:
                    continue
                stack.status = op.status_at(now)
                if now >= op.end:
                    op.done = True
                    if op.on_complete is not None:
                        op.on_complete()

    # -- events ---------------------------------------------------------------
    def add_event(
        self,
        stack: Any,
        at: float,
        status: str,
        logical_id: str | None = None,
        resource_type: str = "AWS::CloudFormation::Stack",
        physical_id: str | None = None,
        reason: str | None = None,
    ) -> None:
        event = seams.new_stack_event(
            stack_id=stack.stack_id,
            stack_name=stack.name,
            logical_resource_id=logical_id or stack.name,
            physical_resource_id=(physical_id if logical_id else stack.stack_id) or "",
            resource_type=resource_type,
            resource_status=status,
            resource_status_reason=reason,
        )
        event.timestamp = to_datetime(at)
        stack.events.append(event)

    def visible_events(self, stack: Any) -> list[Any]:
        """Events whose simulated time has come, newest first (AWS's order)."""
        now = to_datetime(self.now())
        events = [e for e in stack.events if e.timestamp <= now]
        return sorted(events, key=lambda e: e.timestamp, reverse=True)

    def _schedule(
        self, stack: Any, start: float, end: float, steps: list[tuple[str, str, str, str | None]]
    ) -> None:
        """Spread resource events (logical id, type, status, reason) over (start, end)."""
        if not steps:
            return
        gap = (end - start) / (len(steps) + 1)
        physical = seams.physical_ids(stack)
        for index, (lid, kind, status, reason) in enumerate(steps, start=1):
            self.add_event(stack, start + gap * index, status, lid, kind, physical.get(lid), reason)

    # -- templates ------------------------------------------------------------
    def _fetch_template(self, body: str | None, url: str | None) -> dict[str, Any]:
        if url:
            bucket, key = seams.parse_template_url(url)
            body = seams.read_s3_object(bucket, key, seams.template_url_version(url)).decode(
                "utf-8"
            )
        if not body:
            raise seams.cfn_validation_error(
                "Either Template URL or Template Body must be specified."
            )
        try:
            return load_template(body)
        except Exception as exc:
            raise seams.cfn_validation_error(f"Template format error: {exc}") from exc

    def _process(
        self, raw: dict[str, Any], params: dict[str, str], account: str, region: str
    ) -> dict[str, Any]:
        try:
            return process_template(raw, params, account, region, seams.read_s3_object)
        except TemplateError as exc:
            raise seams.cfn_validation_error(str(exc)) from exc

    @staticmethod
    def _effective_parameters(
        template: dict[str, Any], given: list[dict[str, Any]], previous: dict[str, str]
    ) -> dict[str, str]:
        declared: dict[str, Any] = template.get("Parameters") or {}
        values: dict[str, str] = {}
        explicit = {p["ParameterKey"]: p for p in given}
        for name, spec in declared.items():
            entry = explicit.get(name)
            if entry is not None and entry.get("UsePreviousValue"):
                if name in previous:
                    values[name] = previous[name]
            elif entry is not None:
                values[name] = str(entry.get("ParameterValue", ""))
            elif name in previous and "Default" not in spec:
                values[name] = previous[name]
            elif "Default" in spec:
                default = spec["Default"]
                values[name] = ",".join(default) if isinstance(default, list) else str(default)
            else:
                raise seams.cfn_validation_error(f"Parameters: [{name}] must have values")
        unknown = sorted(set(explicit) - set(declared))
        if unknown:
            raise seams.cfn_validation_error(
                f"Parameters: [{', '.join(unknown)}] do not exist in the template"
            )
        return values

    # -- API: change sets -------------------------------------------------------
    def create_change_set(
        self,
        backend: Any,
        account: str,
        region: str,
        request: dict[str, Any],
        *,
        direct: bool = False,
    ) -> tuple[str, str, bool]:
        """CreateChangeSet; returns (change set id, stack id, has changes)."""
        stack_name: str = request["StackName"]
        cs_type: str = request.get("ChangeSetType") or "CREATE"
        existing = seams.live_stack(backend, stack_name)
        if (
            cs_type == "CREATE"
            and existing is not None
            and (direct or existing.status != "REVIEW_IN_PROGRESS")
        ):
            raise seams.cfn_already_exists(f"Stack [{stack_name}] already exists")
        if cs_type == "UPDATE":
            if existing is None or existing.status == "REVIEW_IN_PROGRESS":
                raise seams.cfn_validation_error(f"Stack [{stack_name}] does not exist")
            self._refuse_if_busy(existing)
        role_arn = request.get("RoleARN")
        if role_arn and seams.execution_role(account, role_arn) is None:
            raise seams.cfn_validation_error(f"Role {role_arn} is invalid or cannot be assumed")
        if existing is not None and not isinstance(existing.template, str):
            # A REVIEW_IN_PROGRESS stack whose change sets were deleted keeps moto's
            # initial template {} (a dict): moto's has_template would crash reading it.
            existing.template = json.dumps(existing.template or {})
        deployed = self.deployed.get(existing.stack_id) if existing is not None else None
        previous = deployed.parameters if deployed else {}
        if request.get("UsePreviousTemplate"):
            if deployed is None:
                raise seams.cfn_validation_error("UsePreviousTemplate requires an existing stack")
            raw = deployed.template
        else:
            raw = self._fetch_template(request.get("TemplateBody"), request.get("TemplateURL"))
        given = request.get("Parameters") or []
        effective = self._effective_parameters(raw, given, previous)
        processed = self._process(raw, effective, account, region)
        has_changes = not (
            cs_type == "UPDATE"
            and deployed is not None
            and deployed.template == processed
            and deployed.parameters == effective
        )
        moto_type = "UPDATE" if existing is not None else "CREATE"
        cs_id, stack_id = backend.create_change_set(
            stack_name=stack_name,
            change_set_name=request["ChangeSetName"],
            template=json.dumps(processed),
            parameters=effective,
            description=request.get("Description"),
            change_set_type=moto_type,
            notification_arns=request.get("NotificationARNs") or [],
            tags={t["Key"]: t["Value"] for t in request.get("Tags") or []},
            role_arn=request.get("RoleARN"),
        )
        cs = backend.change_sets[cs_id]
        cs.change_set_type = cs_type
        stack = backend.stacks[stack_id]
        now = self.now()
        cs.creation_time = to_datetime(now)
        if existing is None:
            stack.creation_time = to_datetime(now)
            for event in stack.events:
                event.timestamp = to_datetime(now)
            if direct:
                stack.events.clear()
            else:
                self.runtime.events.stack_status(
                    stack_id, "REVIEW_IN_PROGRESS", now, reason="User Initiated"
                )
        physical = seams.physical_ids(stack)
        cs.changes = diff_resources(deployed.template if deployed else {}, processed, physical)
        fault = (
            None
            if direct
            else self.runtime.faults.take(
                CHANGE_SET_FAILED, stack=stack_name, account=account, region=region
            )
        )
        final: tuple[str, str, str | None]
        if not has_changes:
            final = ("FAILED", "UNAVAILABLE", NO_CHANGES_REASON)
        elif fault is not None:
            final = ("FAILED", "UNAVAILABLE", fault.reason)
        else:
            final = ("CREATE_COMPLETE", "AVAILABLE", None)
        delay = 0.0 if direct else self.runtime.config.change_set_seconds
        with self.lock:
            self.change_sets[cs_id] = PendingChangeSet(
                ready_at=now + delay,
                status=final[0],
                execution_status=final[1],
                reason=final[2],
                template=processed,
                parameters=effective,
                original=raw,
            )
        cs.status, cs.execution_status, cs.status_reason = "CREATE_PENDING", "UNAVAILABLE", None
        if delay > 0:
            cs.status = "CREATE_IN_PROGRESS"
        self.settle(backend)
        return cs_id, stack_id, has_changes

    def _refuse_if_busy(self, stack: Any) -> None:
        status = stack.status
        if status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS":
            raise seams.cfn_validation_error(
                f"Stack:{stack.stack_id} is in {status} state and can not be updated."
            )
        if status in (
            "ROLLBACK_COMPLETE",
            "ROLLBACK_FAILED",
            "DELETE_FAILED",
            "UPDATE_ROLLBACK_FAILED",
        ):
            raise seams.cfn_validation_error(
                f"Stack:{stack.stack_id} is in {status} state and can not be updated."
            )

    def execute_change_set(
        self,
        backend: Any,
        account: str,
        cs_ref: str,
        stack_name: str | None,
        token: str | None = None,
    ) -> None:
        self.settle(backend)
        cs = seams.find_change_set(backend, cs_ref, stack_name)
        if cs is None:
            raise seams.cfn_change_set_not_found(cs_ref)
        if cs.status != "CREATE_COMPLETE" or cs.execution_status != "AVAILABLE":
            raise seams.cfn_invalid_change_set_status(
                f"ChangeSet [{cs.change_set_id}] cannot be executed in its current status of "
                f"[{cs.status}]"
            )
        stack = backend.stacks[cs.stack_id]
        if cs.change_set_type == "UPDATE":
            self._refuse_if_busy(stack)
        pending = self.change_sets[cs.change_set_id]
        creating = cs.change_set_type == "CREATE"
        verb = "CREATE" if creating else "UPDATE"
        changes: list[ResourceChange] = list(cs.changes)
        fault = self.runtime.faults.take(
            RESOURCE_FAILED, stack=stack.name, account=account, region=_region(stack)
        )
        start = self.now()
        end = start + self.duration(stack.name)
        failure: tuple[str, str] | None = None
        if fault is not None:
            target = fault.resource or (changes[0].logical_resource_id if changes else stack.name)
            failure = (target, fault.reason)
        else:
            marker = len(stack.events)
            role_arn = getattr(cs, "role_arn", None) or getattr(stack, "role_arn", None)
            role = seams.execution_role(account, role_arn) if role_arn else None
            try:
                with self.runtime.provisioning.acting(role, stack.name):
                    backend.execute_change_set(change_set_name=cs.change_set_id)
            except ResourceFailure as exc:  # the resource that failed, and CloudFormation's why
                failure = (exc.logical_id, exc.reason)
            except Exception as exc:  # outside any one resource: the stack itself failed
                failure = (stack.name, seams.handler_message(exc))
            del stack.events[marker:]
        for other in backend.change_sets.values():
            if (
                other.stack_id == stack.stack_id
                and other is not cs
                and other.execution_status == "AVAILABLE"
            ):
                other.execution_status = "OBSOLETE"
        cs.execution_status = "EXECUTE_IN_PROGRESS"
        self.request_tokens[stack.stack_id] = token or ""
        self.add_event(stack, start, f"{verb}_IN_PROGRESS", reason="User Initiated")
        if failure is None:
            self._succeed(backend, stack, cs, pending, changes, verb, start, end)
        else:
            self._fail(
                stack, cs, changes, verb, start, end, failure, bool(fault and fault.rollback_fails)
            )
        self.settle(backend)

    def _succeed(
        self,
        backend: Any,
        stack: Any,
        cs: Any,
        pending: PendingChangeSet,
        changes: list[ResourceChange],
        verb: str,
        start: float,
        end: float,
    ) -> None:
        seams.refresh_stack_after_apply(stack, cs.template)
        self.deployed[stack.stack_id] = Deployed(pending.template, pending.parameters)
        steps: list[tuple[str, str, str, str | None]] = []
        removals: list[tuple[str, str, str, str | None]] = []
        for change in changes:
            lid, kind = change.logical_resource_id, change.resource_type
            if change.action == "Remove":
                removals += [
                    (lid, kind, "DELETE_IN_PROGRESS", None),
                    (lid, kind, "DELETE_COMPLETE", None),
                ]
            else:
                status = "CREATE" if change.action == "Add" else "UPDATE"
                steps += [
                    (lid, kind, f"{status}_IN_PROGRESS", None),
                    (lid, kind, f"{status}_COMPLETE", None),
                ]
        timeline = [(start, f"{verb}_IN_PROGRESS")]
        if verb == "UPDATE":
            cleanup = start + (end - start) * 0.9
            self._schedule(stack, start, cleanup, steps)
            self.add_event(stack, cleanup, "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS")
            self._schedule(stack, cleanup, end, removals)
            timeline.append((cleanup, "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"))
        else:
            self._schedule(stack, start, end, steps)
        self.add_event(stack, end, f"{verb}_COMPLETE")
        timeline.append((end, f"{verb}_COMPLETE"))

        def complete() -> None:
            cs.execution_status = "EXECUTE_COMPLETE"

        self.operations[stack.stack_id] = Operation(timeline, complete)

    def _fail(
        self,
        stack: Any,
        cs: Any,
        changes: list[ResourceChange],
        verb: str,
        start: float,
        end: float,
        failure: tuple[str, str],
        rollback_fails: bool,
    ) -> None:
        target, reason = failure
        kinds = {c.logical_resource_id: c.resource_type for c in changes}
        kind = kinds.get(target, "AWS::CloudFormation::Stack")
        before = [c for c in changes if c.logical_resource_id != target]
        index = next((i for i, c in enumerate(changes) if c.logical_resource_id == target), 0)
        done_before = before[:index]
        fail_at = start + (end - start) * 0.5
        steps: list[tuple[str, str, str, str | None]] = []
        for change in done_before:
            status = {"Add": "CREATE", "Modify": "UPDATE", "Remove": "UPDATE"}[change.action]
            if change.action == "Remove":
                continue
            steps += [
                (change.logical_resource_id, change.resource_type, f"{status}_IN_PROGRESS", None),
                (change.logical_resource_id, change.resource_type, f"{status}_COMPLETE", None),
            ]
        steps += [
            (target, kind, f"{verb}_IN_PROGRESS", None),
            (target, kind, f"{verb}_FAILED", reason),
        ]
        self._schedule(stack, start, fail_at, steps)
        timeline: list[tuple[float, str]] = [(start, f"{verb}_IN_PROGRESS")]
        if verb == "CREATE":
            rollback = "ROLLBACK"
            why = (
                f"The following resource(s) failed to create: [{target}]. "
                "Rollback requested by user."
            )
        else:
            rollback = "UPDATE_ROLLBACK"
            why = f"The following resource(s) failed to update: [{target}]. "
        self.add_event(stack, fail_at + 0.001, f"{rollback}_IN_PROGRESS", reason=why)
        timeline.append((fail_at + 0.001, f"{rollback}_IN_PROGRESS"))
        undo: list[tuple[str, str, str, str | None]] = []
        for change in done_before:
            lid, rkind = change.logical_resource_id, change.resource_type
            if verb == "CREATE":
                undo += [
                    (lid, rkind, "DELETE_IN_PROGRESS", None),
                    (lid, rkind, "DELETE_COMPLETE", None),
                ]
            else:
                undo += [
                    (lid, rkind, "UPDATE_IN_PROGRESS", None),
                    (lid, rkind, "UPDATE_COMPLETE", None),
                ]
        if rollback_fails:
            undo += [
                (target, kind, "UPDATE_IN_PROGRESS", None),
                (target, kind, "UPDATE_FAILED", f"Rollback of {target} failed: {reason}"),
            ]
            final = f"{rollback}_FAILED"
        else:
            if verb == "CREATE":
                undo += [(target, kind, "DELETE_COMPLETE", None)]
            final = f"{rollback}_COMPLETE"
        self._schedule(stack, fail_at + 0.001, end, undo)
        if verb == "UPDATE" and not rollback_fails:
            cleanup = end - (end - fail_at) * 0.05
            self.add_event(stack, cleanup, "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS")
            timeline.append((cleanup, "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS"))
        self.add_event(stack, end, final)
        timeline.append((end, final))

        def complete() -> None:
            cs.execution_status = "EXECUTE_FAILED"

        self.operations[stack.stack_id] = Operation(timeline, complete)

    # -- API: stacks ----------------------------------------------------------
    def create_stack(self, backend: Any, account: str, region: str, request: dict[str, Any]) -> str:
        request = dict(
            request, ChangeSetType="CREATE", ChangeSetName=f"sr-direct-{uuid.uuid4().hex}"
        )
        cs_id, stack_id, _ = self.create_change_set(backend, account, region, request, direct=True)
        self.execute_change_set(backend, account, cs_id, None, request.get("ClientRequestToken"))
        backend.change_sets.pop(cs_id, None)
        return stack_id

    def update_stack(self, backend: Any, account: str, region: str, request: dict[str, Any]) -> str:
        request = dict(
            request, ChangeSetType="UPDATE", ChangeSetName=f"sr-direct-{uuid.uuid4().hex}"
        )
        cs_id, stack_id, has_changes = self.create_change_set(
            backend, account, region, request, direct=True
        )
        if not has_changes:
            backend.change_sets.pop(cs_id, None)
            raise seams.cfn_validation_error("No updates are to be performed.")
        self.execute_change_set(backend, account, cs_id, None, request.get("ClientRequestToken"))
        backend.change_sets.pop(cs_id, None)
        return stack_id

    def delete_stack(
        self, backend: Any, account: str, name_or_id: str, token: str | None = None
    ) -> None:
        self.settle(backend)
        stack = seams.live_stack(backend, name_or_id)
        if stack is None or stack.status in ("DELETE_IN_PROGRESS", "DELETE_COMPLETE"):
            return
        if stack.status.endswith("_IN_PROGRESS") and stack.status != "REVIEW_IN_PROGRESS":
            raise seams.cfn_validation_error(
                f"Stack [{stack.name}] cannot be deleted while in status {stack.status}"
            )
        if getattr(stack, "enable_termination_protection", False):
            raise seams.cfn_validation_error(
                f"Stack [{stack.name}] cannot be deleted while TerminationProtection is enabled"
            )
        start = self.now()
        end = start + self.duration(stack.name)
        deployed = self.deployed.get(stack.stack_id, Deployed())
        resources = [
            (lid, r.get("Type", ""))
            for lid, r in (deployed.template.get("Resources") or {}).items()
        ]
        self.add_event(stack, start, "DELETE_IN_PROGRESS", reason="User Initiated")
        self.request_tokens[stack.stack_id] = token or ""
        fault = self.runtime.faults.take(
            DELETE_FAILED, stack=stack.name, account=account, region=_region(stack)
        )
        if fault is not None:
            target = fault.resource or (resources[0][0] if resources else stack.name)
            kinds = dict(resources)
            kind = kinds.get(target, "AWS::CloudFormation::Stack")
            self._schedule(
                stack,
                start,
                end,
                [
                    (target, kind, "DELETE_IN_PROGRESS", None),
                    (target, kind, "DELETE_FAILED", fault.reason),
                ],
            )
            self.add_event(
                stack,
                end,
                "DELETE_FAILED",
                reason=f"The following resource(s) failed to delete: [{target}]. ",
            )
            self.operations[stack.stack_id] = Operation(
                [(start, "DELETE_IN_PROGRESS"), (end, "DELETE_FAILED")]
            )
            self.settle(backend)
            return
        steps: list[tuple[str, str, str, str | None]] = []
        for lid, kind in reversed(resources):
            steps += [(lid, kind, "DELETE_IN_PROGRESS", None), (lid, kind, "DELETE_COMPLETE", None)]
        self._schedule(stack, start, end, steps)
        self.add_event(stack, end, "DELETE_COMPLETE")

        def complete() -> None:
            marker = len(stack.events)
            backend.delete_stack(stack.stack_id)
            del stack.events[marker:]
            stack.status = "DELETE_COMPLETE"
            self.deployed.pop(stack.stack_id, None)

        self.operations[stack.stack_id] = Operation(
            [(start, "DELETE_IN_PROGRESS"), (end, "DELETE_COMPLETE")], complete
        )
        self.settle(backend)

    def change_set_template(
        self, backend: Any, change_set: str, stack_name: str | None, stage: str | None
    ) -> str | None:
        """GetTemplate with ChangeSetName (moto ignores it): that change set's template."""
        cs = seams.find_change_set(backend, change_set, stack_name)
        if cs is None:
            raise seams.cfn_change_set_not_found(change_set)
        pending = self.change_sets.get(cs.change_set_id)
        if pending is None:
            return None
        chosen = pending.original if stage == "Original" else pending.template
        return json.dumps(chosen)

    def list_change_sets(self, backend: Any, name_or_id: str) -> list[Any]:
        """ListChangeSets for one stack (moto lists every stack's).

        AWS removes a stack's change sets once one of them is executed (whether the
        execution then succeeds or rolls back); they stay describable here but are no
        longer listed.
        """
        stack = seams.live_stack(backend, name_or_id)
        if stack is None:
            raise seams.cfn_validation_error(f"Stack [{name_or_id}] does not exist")
        return [
            cs
            for cs in backend.change_sets.values()
            if cs.stack_id == stack.stack_id
            and cs.execution_status
            not in ("EXECUTE_IN_PROGRESS", "EXECUTE_COMPLETE", "EXECUTE_FAILED", "OBSOLETE")
            and not str(cs.change_set_name).startswith("sr-direct-")
        ]

    def update_termination_protection(self, backend: Any, name_or_id: str, enabled: bool) -> str:
        """UpdateTerminationProtection (moto lacks it); DeleteStack then refuses."""
        stack = seams.live_stack(backend, name_or_id)
        if stack is None:
            raise seams.cfn_validation_error(f"Stack [{name_or_id}] does not exist")
        stack.enable_termination_protection = enabled
        return str(stack.stack_id)

    def continue_update_rollback(
        self, backend: Any, name_or_id: str, skip: list[str], token: str | None = None
    ) -> None:
        self.settle(backend)
        stack = seams.live_stack(backend, name_or_id)
        if stack is None:
            raise seams.cfn_validation_error(f"Stack [{name_or_id}] does not exist")
        if stack.status != "UPDATE_ROLLBACK_FAILED":
            raise seams.cfn_validation_error(
                f"Stack [{stack.name}] is in {stack.status} state and can not continue update "
                "rollback. ContinueUpdateRollback can only be called on stacks in "
                "UPDATE_ROLLBACK_FAILED state."
            )
        start = self.now()
        end = start + self.duration(stack.name)
        self.add_event(stack, start, "UPDATE_ROLLBACK_IN_PROGRESS", reason="User Initiated")
        self.request_tokens[stack.stack_id] = token or ""
        types = {
            lid: r.get("Type", "")
            for lid, r in (
                self.deployed.get(stack.stack_id, Deployed()).template.get("Resources") or {}
            ).items()
        }
        steps: list[tuple[str, str, str, str | None]] = [
            (lid, types.get(lid, ""), "UPDATE_COMPLETE", "Resource skipped during UpdateRollback")
            for lid in skip
        ]
        self._schedule(stack, start, end, steps)
        self.add_event(stack, end, "UPDATE_ROLLBACK_COMPLETE")
        self.operations[stack.stack_id] = Operation(
            [(start, "UPDATE_ROLLBACK_IN_PROGRESS"), (end, "UPDATE_ROLLBACK_COMPLETE")]
        )
        self.settle(backend)

    def in_progress(self) -> bool:
        """True while any stack operation has not reached its end."""
        return any(not op.done for op in self.operations.values())

    def next_deadline(self, after: float | None = None) -> float | None:
        """The earliest end of an unsettled operation or change set (after ``after``).

        An operation stays unsettled until a call reads its stack; one nobody reads
        again (an execution abandoned mid-change) must not hold every later wait at
        its past instant: callers that move the clock ask for the next one after now.
        """
        ends = [op.end for op in self.operations.values() if not op.done]
        ends += [p.ready_at for p in self.change_sets.values() if not p.settled]
        if after is not None:
            ends = [end for end in ends if end > after]
        return min(ends) if ends else None


def _region(stack: Any) -> str | None:
    """The region of a moto stack, from its ARN (arn:aws:cloudformation:<region>:...)."""
    parts = str(getattr(stack, "stack_id", "")).split(":")
    return parts[3] if len(parts) > 3 else None
