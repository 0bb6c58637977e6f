"""EventBridge for the local engine: rules deliver, AWS services emit events.

moto 5.2.5 matches rules but delivers only to logs, SQS, archives, API
destinations and (losing the sender's account) other buses; any other target
raises ``NotImplementedError`` inside PutEvents. This module replaces the
delivery step (``Rule.send_to_targets``, through :mod:`stackrelay_local.seams`):

- every delivery is asynchronous, on the simulated clock: a matching event
  reaches a target ``EngineConfig.event_latency_seconds`` after it was put on
  the bus (plus any injected delay), from the engine's one delivery thread;
- targets: Lambda (the real handler, through the engine's Lambda path; the
  function's resource policy must admit EventBridge; failed invocations are
  retried twice, 60 s and 120 s later, as AWS retries async invocations),
  SNS topics (moto then delivers to SQS and Lambda subscriptions), Step
  Functions state machines (StartExecution; the target needs a RoleArn, as on
  AWS), SQS, CloudWatch Logs, archives, API destinations (moto's own code),
  and event buses in any account or region. A bus in another account accepts
  the event only if its resource policy admits the sender account; the event
  keeps its id, account, time and region, and is not forwarded to a third
  account (AWS's one-hop rule);
- disabled rules deliver nothing (moto delivers anyway); ``Input``,
  ``InputPath`` and ``InputTransformer`` shape what a target receives;
- AWS service events: "CloudFormation Stack Status Change" (source
  ``aws.cloudformation``) on the stack account's default bus at every stack
  status transition of the realism layer, at its simulated instant, and "Step
  Functions Execution Status Change" (source ``aws.states``) when an
  execution starts, succeeds, fails, times out or is aborted;
- faults: ``Fault.event_lost`` / ``event_delayed`` / ``event_duplicated``
  act on single deliveries (one rule target, one hop).

Every delivery, dropped or refused one is recorded: ``deliveries()``.
"""

from __future__ import annotations

import copy
import heapq
import itertools
import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from stackrelay_local import seams
from stackrelay_local.faults import EVENT_DELAYED, EVENT_DUPLICATED, EVENT_LOST

if TYPE_CHECKING:
    from stackrelay_local.runtime import Runtime

CFN_SOURCE = "aws.cloudformation"
CFN_STACK_STATUS = "CloudFormation Stack Status Change"
SFN_SOURCE = "aws.states"
SFN_EXECUTION_STATUS = "Step Functions Execution Status Change"
LAMBDA_RETRY_DELAYS = (60.0, 120.0)
_FORWARDED = "_stackrelay_forwarded_from"  # internal marker, never delivered


@dataclass(frozen=True)
class Delivery:
    """One attempt to hand an event to one rule target (or to drop it)."""

    at: float
    event_id: str
    source: str
    detail_type: str
    account: str  # the account of the bus whose rule delivers
    rule: str  # rule ARN
    target: str  # target ARN
    outcome: str  # delivered | failed | lost | refused
    reason: str = ""
    attempt: int = 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def iso_time(epoch: float) -> str:
    """EventBridge's ``time``: UTC, whole seconds, ``Z``."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def stack_name_of(event: dict[str, Any]) -> str | None:
    """The stack an event is about: a CloudFormation stack-id, or ``detail.stack``."""
    detail = event.get("detail")
    if not isinstance(detail, dict):
        return None
    stack_id = detail.get("stack-id")
    if isinstance(stack_id, str) and ":stack/" in stack_id:
        return stack_id.split(":stack/", 1)[1].split("/", 1)[0]
    stack = detail.get("stack")
    return stack if isinstance(stack, str) else None


class Scheduler:
    """Actions at simulated instants, run in order by one background thread."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._running = 0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def start(self) -> None:
        self._stop.clear()
        with self._cond:
            self._heap.clear()
            self._running = 0
        self._thread = threading.Thread(target=self._loop, name="stackrelay-events", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        with self._cond:
            self._heap.clear()

    def at(self, instant: float, action: Callable[[], None]) -> None:
        with self._cond:
            heapq.heappush(self._heap, (instant, next(self._seq), action))
            self._cond.notify_all()

    def busy(self) -> bool:
        """True while an action runs or one is due at the current simulated time."""
        now = self._runtime.clock.now()
        with self._cond:
            return self._running > 0 or bool(self._heap and self._heap[0][0] <= now)

    def next_instant(self) -> float | None:
        with self._cond:
            return self._heap[0][0] if self._heap else None

    def wait_idle(self, timeout: float) -> bool:
        """Block (real time) until nothing is due or running; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._due_or_running(), timeout)

    def _due_or_running(self) -> bool:
        now = self._runtime.clock.now()
        return self._running > 0 or bool(self._heap and self._heap[0][0] <= now)

    def _loop(self) -> None:
        clock = self._runtime.clock
        while not self._stop.is_set():
            with self._cond:
                if not (self._heap and self._heap[0][0] <= clock.now()):
                    self._cond.notify_all()  # wake wait_idle
                    self._cond.wait(0.005)
                    continue
                _, _, action = heapq.heappop(self._heap)
                self._running += 1
            try:
                action()
            except Exception as exc:  # a broken action must not stop delivery
                self._runtime.events.note_error(exc)
            finally:
                with self._cond:
                    self._running -= 1
                    self._cond.notify_all()


class EventBridge:
    """The engine's EventBridge: delivery, service events, the delivery log."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.scheduler = Scheduler(runtime)
        self._log: list[Delivery] = []
        self._emitted: list[dict[str, Any]] = []
        self._errors: list[str] = []
        self._lock = threading.Lock()
        self._original_send: Callable[..., Any] | None = None
        self._execution_starts: dict[str, float] = {}

    # -- lifecycle ------------------------------------------------------------
    def start(self, original_send: Callable[..., Any]) -> None:
        self._original_send = original_send
        with self._lock:
            self._log.clear()
            self._emitted.clear()
            self._errors.clear()
            self._execution_starts.clear()
        self.scheduler.start()

    def stop(self) -> None:
        self.scheduler.stop()

    # -- reading --------------------------------------------------------------
    def deliveries(
        self,
        source: str | None = None,
        detail_type: str | None = None,
        target: str | None = None,
        outcome: str | None = None,
    ) -> list[Delivery]:
        """Recorded deliveries, oldest first; filters match exactly (target: glob)."""
        with self._lock:
            log = list(self._log)
        return [
            d
            for d in log
            if (source is None or d.source == source)
            and (detail_type is None or d.detail_type == detail_type)
            and (target is None or fnmatchcase(d.target, target))
            and (outcome is None or d.outcome == outcome)
        ]

    def emitted(self, source: str | None = None) -> list[dict[str, Any]]:
        """AWS service events the engine put on default buses, oldest first."""
        with self._lock:
            events = list(self._emitted)
        return [e for e in events if source is None or e["source"] == source]

    def errors(self) -> list[str]:
        with self._lock:
            return list(self._errors)

    def note_error(self, exc: BaseException) -> None:
        with self._lock:
            self._errors.append(f"{type(exc).__name__}: {exc}")

    def wait_idle(self, timeout: float = 30.0) -> bool:
        return self.scheduler.wait_idle(timeout)

    def next_wakeup(self) -> float | None:
        """The simulated instant a parked execution may sleep until, or None.

        None while a delivery is due or running (time must not move past an
        event nobody has handled yet); otherwise the earliest scheduled
        delivery or CloudFormation deadline still in the future.
        """
        if self.scheduler.busy():
            return None
        now = self.runtime.clock.now()
        candidates = [t for t in (self.scheduler.next_instant(),) if t is not None and t > now]
        deadline = self.runtime.cfn.next_deadline(after=now)
        if deadline is not None:
            candidates.append(deadline)
        return min(candidates) if candidates else None

    # -- service events -------------------------------------------------------
    def stack_status(
        self, stack_id: str, status: str, at: float, token: str = "", reason: str | None = None
    ) -> None:
        """Schedule a "CloudFormation Stack Status Change" for ``at`` (simulated).

        ``reason`` None: the stack-level stack event of that instant says why.
        """
        parts = stack_id.split(":")
        account, region = parts[4], parts[3]

        def emit() -> None:
            self.runtime.settle_account(account, region)
            why = reason if reason is not None else self._stack_reason(stack_id, status, at)
            self.put_service_event(
                account,
                region,
                CFN_SOURCE,
                CFN_STACK_STATUS,
                {
                    "stack-id": stack_id,
                    "status-details": {"status": status, "status-reason": why or ""},
                    "client-request-token": token or "",
                },
                resources=[stack_id],
                at=at,
            )

        self.scheduler.at(at, emit)

    def _stack_reason(self, stack_id: str, status: str, at: float) -> str:
        parts = stack_id.split(":")
        backend = seams.cfn_backend(parts[4], parts[3])
        stack = backend.stacks.get(stack_id) or backend.deleted_stacks.get(stack_id)
        if stack is None:
            return ""
        for event in reversed(stack.events):
            if (
                event.logical_resource_id == stack.name
                and event.resource_status == status
                and abs(event.timestamp.replace(tzinfo=UTC).timestamp() - at) < 0.002
            ):
                return str(event.resource_status_reason or "")
        return ""

    def execution_started(self, execution: Any) -> None:
        arn = str(execution.exec_arn)
        now = self.runtime.clock.now()
        with self._lock:
            self._execution_starts[arn] = now
        self._execution_event(execution, "RUNNING", now, None)

    def execution_ended(self, execution: Any) -> None:
        status = getattr(execution.exec_status, "value", str(execution.exec_status))
        self._execution_event(execution, str(status), None, self.runtime.clock.now())

    def _execution_event(
        self, execution: Any, status: str, started: float | None, stopped: float | None
    ) -> None:
        arn = str(execution.exec_arn)
        if started is None:
            with self._lock:
                started = self._execution_starts.get(arn, self.runtime.clock.now())
        output = execution.output if status == "SUCCEEDED" else None
        detail = {
            "executionArn": arn,
            "stateMachineArn": str(execution.state_machine_arn),
            "name": str(execution.name),
            "status": status,
            "startDate": int(started * 1000),
            "stopDate": None if stopped is None else int(stopped * 1000),
            "input": json.dumps(execution.input_data),
            "output": None if output is None else json.dumps(output),
            "inputDetails": {"included": True},
            "outputDetails": None if output is None else {"included": True},
            "error": _text(getattr(execution, "error", None)),
            "cause": _text(getattr(execution, "cause", None)),
        }
        at = stopped if stopped is not None else started
        account, region = str(execution.account_id), str(execution.region_name)
        self.scheduler.at(
            at,
            lambda: self.put_service_event(
                account, region, SFN_SOURCE, SFN_EXECUTION_STATUS, detail, [arn], at
            ),
        )

    def put_service_event(
        self,
        account: str,
        region: str,
        source: str,
        detail_type: str,
        detail: dict[str, Any],
        resources: list[str],
        at: float,
    ) -> None:
        """An AWS service puts an event on ``account``'s default bus in ``region``."""
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": detail_type,
            "source": source,
            "account": account,
            "time": at,
            "region": region,
            "resources": resources,
            "detail": detail,
        }
        with self._lock:
            self._emitted.append(_formatted(event))
        self.put_on_bus(account, region, "default", event, at)

    # -- routing --------------------------------------------------------------
    def put_on_bus(
        self, account: str, region: str, bus_name: str, event: dict[str, Any], at: float
    ) -> None:
        """``event`` reaches a bus at simulated ``at``: its rules deliver from then."""
        backend = seams.resolve("events_backends")[account][region]
        bus = backend.event_buses.get(bus_name)
        if bus is None:
            return
        for rule in list(bus.rules.values()):
            self.send_to_targets(rule, event, at)

    def send_to_targets(self, rule: Any, event: dict[str, Any], at: float | None = None) -> None:
        """Our ``Rule.send_to_targets``: schedule one delivery per target.

        ``at``: when the event reached the bus (default: now). Deliveries are
        timed from it, not from when the delivery thread got round to it.
        """
        # A schedule rule has no event pattern and EventBridge never matches events to it;
        # moto's empty pattern matches every event (the daily reaper ran on each one).
        if rule.state != "ENABLED" or getattr(rule, "scheduled_expression", None):
            return
        matchable = {k: v for k, v in event.items() if k != _FORWARDED}
        if not rule.event_pattern.matches_event(matchable):
            return
        now = self.runtime.clock.now() if at is None else at
        latency = float(self.runtime.config.event_latency_seconds)
        for target in list(rule.targets):
            where = {
                "source": str(event.get("source")),
                "detail_type": str(event.get("detail-type")),
                "stack": stack_name_of(event),
                "account": str(rule.account_id),
                "target": str(target.get("Arn", "")),
            }
            faults = self.runtime.faults
            if faults.take(EVENT_LOST, **where) is not None:
                self._record(rule, target, event, "lost", "injected fault: event lost", now)
                continue
            delayed = faults.take(EVENT_DELAYED, **where)
            extra = float(delayed.seconds) if delayed is not None else 0.0
            copy_of = copy.deepcopy(event)
            self._deliver_at(now + latency + extra, rule, target, copy_of, 1)
            duplicated = faults.take(EVENT_DUPLICATED, **where)
            if duplicated is not None:
                again = now + latency + extra + max(float(duplicated.seconds), 0.0)
                self._deliver_at(again, rule, target, copy.deepcopy(event), 1)

    def _deliver_at(
        self, at: float, rule: Any, target: dict[str, Any], event: dict[str, Any], attempt: int
    ) -> None:
        self.scheduler.at(at, lambda: self._deliver(rule, target, event, attempt, at))

    def _record(
        self,
        rule: Any,
        target: dict[str, Any],
        event: dict[str, Any],
        outcome: str,
        reason: str,
        at: float,
        attempt: int = 1,
    ) -> None:
        entry = Delivery(
            at=at,
            event_id=str(event.get("id", "")),
            source=str(event.get("source", "")),
            detail_type=str(event.get("detail-type", "")),
            account=str(rule.account_id),
            rule=str(rule.arn),
            target=str(target.get("Arn", "")),
            outcome=outcome,
            reason=reason,
            attempt=attempt,
        )
        with self._lock:
            self._log.append(entry)

    def _deliver(
        self, rule: Any, target: dict[str, Any], event: dict[str, Any], attempt: int, at: float
    ) -> None:
        arn = str(target.get("Arn", ""))
        parts = arn.split(":")
        if len(parts) < 6 or parts[0] != "arn":
            self._record(rule, target, event, "failed", f"not an ARN: {arn}", at, attempt)
            return
        service, region, account = parts[2], parts[3], parts[4]
        resource = ":".join(parts[5:])
        try:
            if service == "lambda":
                self._to_lambda(rule, target, event, attempt, at, account, region, parts)
                return
            if service == "sns":
                self._to_sns(target, event, account, region, arn)
            elif service == "states":
                self._to_state_machine(rule, target, event, account, region, arn)
            elif service == "events" and resource.startswith("event-bus/"):
                bus_name = resource[len("event-bus/") :]
                self._to_bus(rule, target, event, account, region, bus_name, at)
            elif service == "sqs":
                self._to_queue(target, event, account, region, resource)
            elif service == "logs" or service == "events":
                self._to_moto(rule, target, event)
            else:
                raise _Refused(f"the local engine does not deliver to {service} targets")
        except _Refused as refused:
            self._record(rule, target, event, "refused", str(refused), at, attempt)
        except Exception as exc:
            self._record(rule, target, event, "failed", f"{type(exc).__name__}: {exc}", at, attempt)
        else:
            self._record(rule, target, event, "delivered", "", at, attempt)

    # -- targets --------------------------------------------------------------
    def _payload(self, target: dict[str, Any], event: dict[str, Any]) -> str:
        """What the target receives, as text: Input, InputPath, InputTransformer or the event."""
        chosen = self._chosen_input(target, event)
        return chosen if isinstance(chosen, str) else json.dumps(chosen)

    def _chosen_input(self, target: dict[str, Any], event: dict[str, Any]) -> Any:
        if "Input" in target:
            try:
                return json.loads(target["Input"])
            except (TypeError, ValueError):
                return target["Input"]
        public = _formatted(event)
        if "InputPath" in target:
            return _input_path(public, str(target["InputPath"]))
        transformer = target.get("InputTransformer")
        if transformer:
            parser = seams.resolve("events_input_transformer")
            with_ingestion = dict(public, **{"ingestion-time": public["time"]})
            return parser(
                input_template=transformer.get("InputTemplate"),
                input_paths_map=transformer.get("InputPathsMap", {}),
                event=with_ingestion,
            )
        return public

    def _to_lambda(
        self,
        rule: Any,
        target: dict[str, Any],
        event: dict[str, Any],
        attempt: int,
        at: float,
        account: str,
        region: str,
        parts: list[str],
    ) -> None:
        name = parts[6] if len(parts) > 6 else ""
        qualifier = parts[7] if len(parts) > 7 else None
        try:
            fn = seams.resolve("lambda_backend")(account, region).get_function(name, qualifier)
        except Exception:
            self._record(
                rule, target, event, "failed", f"function {name} does not exist", at, attempt
            )
            return
        denied = _lambda_policy_refusal(fn, str(rule.arn), str(rule.account_id))
        if denied:
            self._record(rule, target, event, "refused", denied, at, attempt)
            return
        _, errored, _ = fn._invoke_lambda(event=self._payload(target, event))
        if not errored:
            self._record(rule, target, event, "delivered", "", at, attempt)
            return
        self._record(rule, target, event, "failed", "the function returned an error", at, attempt)
        if attempt <= len(LAMBDA_RETRY_DELAYS):
            retry_at = at + LAMBDA_RETRY_DELAYS[attempt - 1]
            self._deliver_at(retry_at, rule, target, event, attempt + 1)

    def _to_sns(
        self, target: dict[str, Any], event: dict[str, Any], account: str, region: str, arn: str
    ) -> None:
        backend = seams.resolve("sns_backends")[account][region]
        try:
            backend.get_topic(arn)
        except Exception as exc:
            raise _Refused(f"topic {arn} does not exist") from exc
        backend.publish(message=self._payload(target, event), arn=arn)

    def _to_queue(
        self, target: dict[str, Any], event: dict[str, Any], account: str, region: str, name: str
    ) -> None:
        backend = seams.resolve("sqs_backends")[account][region]
        queue = backend.queues.get(name)
        if queue is None:
            raise _Refused(f"queue {name} does not exist in {account}/{region}")
        group_id = (target.get("SqsParameters") or {}).get("MessageGroupId")
        if name.endswith(".fifo"):
            attributes = backend.get_queue_attributes(name, ["ContentBasedDeduplication"])
            if str(attributes.get("ContentBasedDeduplication")).lower() != "true":
                raise _Refused(
                    f"FIFO queue {name} needs content-based deduplication for EventBridge"
                )
            if not group_id:
                raise _Refused(f"target {target.get('Id')} needs SqsParameters.MessageGroupId")
        backend.send_message(
            queue_name=name,
            message_body=self._payload(target, event),
            group_id=group_id,
        )

    def _to_state_machine(
        self,
        rule: Any,
        target: dict[str, Any],
        event: dict[str, Any],
        account: str,
        region: str,
        arn: str,
    ) -> None:
        if not target.get("RoleArn"):
            raise _Refused(
                f"target {target.get('Id')} starts a state machine without a RoleArn "
                "(AWS requires one for Step Functions targets)"
            )
        if account != str(rule.account_id):
            raise _Refused("Step Functions targets must be in the rule's account")
        backend = seams.resolve("sfn_parser_backends")[account][region]
        backend.start_execution(
            state_machine_arn=arn,
            name=uuid.uuid4().hex,
            execution_input=self._payload(target, event),
        )

    def _to_bus(
        self,
        rule: Any,
        target: dict[str, Any],
        event: dict[str, Any],
        account: str,
        region: str,
        bus_name: str,
        at: float,
    ) -> None:
        sender = str(rule.account_id)
        backend = seams.resolve("events_backends")[account][region]
        bus = backend.event_buses.get(bus_name)
        if bus is None:
            raise _Refused(f"event bus {bus_name} does not exist in {account}/{region}")
        if account != sender:
            if event.get(_FORWARDED) not in (None, account):
                raise _Refused(
                    "an event received from another account is not forwarded to a third account"
                )
            admitted, why = bus_admits(bus.policy, sender, str(bus.arn), event)
            if not admitted:
                raise _Refused(why)
        forwarded = copy.deepcopy(event)
        if account != sender:
            forwarded[_FORWARDED] = sender
        self.put_on_bus(account, region, bus_name, forwarded, at)

    def _to_moto(self, rule: Any, target: dict[str, Any], event: dict[str, Any]) -> None:
        if self._original_send is None:
            raise _Refused("EventBridge delivery is not installed")
        single = copy.copy(rule)
        single.targets = [target]
        plain = {k: v for k, v in event.items() if k != _FORWARDED}
        plain.setdefault("ingestion-time", plain.get("time"))
        self._original_send(single, plain, True)


class _Refused(Exception):
    """AWS would not deliver (missing permission, policy, role or resource)."""


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _formatted(event: dict[str, Any]) -> dict[str, Any]:
    """The event as a target receives it (ISO time, no internal keys)."""
    public = {k: v for k, v in event.items() if k not in (_FORWARDED, "ingestion-time")}
    if isinstance(public.get("time"), int | float):
        public["time"] = iso_time(float(public["time"]))
    return public


def _input_path(event: dict[str, Any], path: str) -> Any:
    if path in ("$", ""):
        return event
    value: Any = event
    for part in path.lstrip("$").strip(".").split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _lambda_policy_refusal(fn: Any, rule_arn: str, rule_account: str) -> str:
    """Why the function's resource policy refuses EventBridge ("" if it admits it)."""
    statements = list(getattr(getattr(fn, "policy", None), "statements", []) or [])
    for statement in statements:
        if statement.get("Effect", "Allow") != "Allow":
            continue
        action = statement.get("Action")
        actions = action if isinstance(action, list) else [action]
        if not any(a in ("lambda:InvokeFunction", "lambda:*", "*") for a in actions):
            continue
        principal = statement.get("Principal")
        service = principal.get("Service") if isinstance(principal, dict) else principal
        if service not in ("events.amazonaws.com", "*"):
            continue
        condition = statement.get("Condition") or {}
        source_arn = _condition_value(condition, "AWS:SourceArn")
        if source_arn is not None and not fnmatchcase(rule_arn, source_arn):
            continue
        source_account = _condition_value(condition, "AWS:SourceAccount")
        if source_account is not None and source_account != rule_account:
            continue
        return ""
    return (
        f"function {fn.function_name}'s resource policy does not let events.amazonaws.com "
        f"invoke it for rule {rule_arn} (add an AWS::Lambda::Permission)"
    )


def _condition_value(condition: dict[str, Any], key: str) -> str | None:
    for operator in ("ArnLike", "ArnEquals", "StringEquals", "StringLike"):
        block = condition.get(operator) or {}
        for name, value in block.items():
            if name.lower() == key.lower():
                return str(value[0] if isinstance(value, list) else value)
    return None


_EVALUATED_KEYS = {
    "aws:principalaccount",
    "aws:sourceaccount",
    "events:source",
    "events:detail-type",
}


def bus_admits(
    policy: str | None, sender: str, bus_arn: str, event: dict[str, Any]
) -> tuple[bool, str]:
    """Does a bus's resource policy let ``sender`` put ``event`` on it?

    Evaluates Allow/Deny statements for ``events:PutEvents`` by principal
    (``*``, an account id, an account's root or any of its IAM ARNs), resource
    and the condition keys aws:PrincipalAccount, aws:SourceAccount,
    events:source and events:detail-type (StringEquals/StringLike and their
    negations). A statement with any other condition key does not apply: the
    engine cannot check it, so it refuses and says which key.
    """
    if not policy:
        return False, f"event bus {bus_arn} has no resource policy admitting account {sender}"
    document = json.loads(policy)
    statements = document.get("Statement") or []
    if isinstance(statements, dict):
        statements = [statements]
    values = {
        "aws:principalaccount": sender,
        "aws:sourceaccount": sender,
        "events:source": str(event.get("source", "")),
        "events:detail-type": str(event.get("detail-type", "")),
    }
    allowed = False
    unchecked: list[str] = []
    for statement in statements:
        if not _statement_covers(statement, sender, bus_arn):
            continue
        applies, unknown = _conditions_hold(statement.get("Condition") or {}, values)
        if unknown:
            unchecked += unknown
            continue
        if not applies:
            continue
        if statement.get("Effect") == "Deny":
            return False, f"event bus {bus_arn}'s policy denies account {sender}"
        allowed = True
    if allowed:
        return True, ""
    note = ""
    if unchecked:
        note = f" (the local engine does not evaluate condition keys: {', '.join(unchecked)})"
    return False, f"event bus {bus_arn}'s policy does not admit account {sender}{note}"


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _statement_covers(statement: dict[str, Any], sender: str, bus_arn: str) -> bool:
    actions = [str(a).lower() for a in _as_list(statement.get("Action"))]
    if not any(a in ("events:putevents", "events:*", "*") for a in actions):
        return False
    resources = [str(r) for r in _as_list(statement.get("Resource"))] or ["*"]
    if not any(fnmatchcase(bus_arn, r) for r in resources):
        return False
    principal = statement.get("Principal")
    if principal == "*":
        return True
    if isinstance(principal, dict):
        for value in _as_list(principal.get("AWS")):
            text = str(value)
            if text in ("*", sender) or text.startswith(f"arn:aws:iam::{sender}:"):
                return True
    return False


def _conditions_hold(condition: dict[str, Any], values: dict[str, str]) -> tuple[bool, list[str]]:
    unknown: list[str] = []
    holds = True
    for operator, block in condition.items():
        negate = operator.startswith("StringNot")
        like = operator.endswith("Like")
        if operator not in ("StringEquals", "StringLike", "StringNotEquals", "StringNotLike"):
            unknown += [f"{operator}:{key}" for key in block]
            continue
        for key, expected in block.items():
            actual = values.get(key.lower())
            if key.lower() not in _EVALUATED_KEYS or actual is None:
                unknown.append(key)
                continue
            options = [str(v) for v in _as_list(expected)]
            hit = any(fnmatchcase(actual, o) if like else actual == o for o in options)
            if hit == negate:
                holds = False
    return holds, unknown
