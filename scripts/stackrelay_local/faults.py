"""Fault injection by rule.

A :class:`Fault` names what goes wrong (its ``kind``) and where (account,
region, stack glob, resource, service/operation, function glob). ``None`` fields match
anything. ``times=None`` means the fault applies forever; otherwise it applies
that many times and then disappears, so "fail once, then succeed" retry paths
are easy to test.
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, field
from fnmatch import fnmatchcase
from typing import Any

CHANGE_SET_FAILED = "change_set_failed"
RESOURCE_FAILED = "resource_failed"
DELETE_FAILED = "delete_failed"
THROTTLE = "throttle"
LAMBDA_CRASH = "lambda_crash"
LAMBDA_TIMEOUT = "lambda_timeout"
EVENT_LOST = "event_lost"
EVENT_DELAYED = "event_delayed"
EVENT_DUPLICATED = "event_duplicated"
EVENT_KINDS = (EVENT_LOST, EVENT_DELAYED, EVENT_DUPLICATED)


@dataclass
class Fault:
    kind: str
    stack: str | None = None
    account: str | None = None
    resource: str | None = None
    reason: str = "Injected failure"
    rollback_fails: bool = False
    service: str | None = None
    operation: str | None = None
    share: float = 1.0
    seed: int = 7
    function: str | None = None
    error_type: str = "RuntimeError"
    message: str = "Injected crash"
    times: int | None = None
    source: str | None = None
    detail_type: str | None = None
    target: str | None = None
    seconds: float = 0.0
    region: str | None = None
    """For stack faults: only in this region (one region of a wave)."""
    _rng: random.Random = field(default=None, repr=False, compare=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    # -- constructors -------------------------------------------------------
    @classmethod
    def change_set_failed(
        cls,
        stack: str = "*",
        account: str | None = None,
        reason: str = "Injected failure",
        times: int | None = None,
    ) -> Fault:
        return cls(CHANGE_SET_FAILED, stack=stack, account=account, reason=reason, times=times)

    @classmethod
    def resource_failed(
        cls,
        stack: str = "*",
        resource: str | None = None,
        reason: str = "Injected failure",
        account: str | None = None,
        rollback_fails: bool = False,
        times: int | None = None,
        region: str | None = None,
    ) -> Fault:
        return cls(
            RESOURCE_FAILED,
            stack=stack,
            resource=resource,
            reason=reason,
            account=account,
            rollback_fails=rollback_fails,
            times=times,
            region=region,
        )

    @classmethod
    def delete_failed(
        cls,
        stack: str = "*",
        resource: str | None = None,
        reason: str = "Injected failure",
        account: str | None = None,
        times: int | None = 1,
    ) -> Fault:
        return cls(
            DELETE_FAILED,
            stack=stack,
            resource=resource,
            reason=reason,
            account=account,
            times=times,
        )

    @classmethod
    def throttle(
        cls,
        service: str | None = "cloudformation",
        operation: str | None = None,
        share: float = 0.2,
        seed: int = 7,
        account: str | None = None,
        times: int | None = None,
    ) -> Fault:
        return cls(
            THROTTLE,
            service=service,
            operation=operation,
            share=share,
            seed=seed,
            account=account,
            times=times,
        )

    @classmethod
    def lambda_crash(
        cls,
        function: str = "*",
        error_type: str = "RuntimeError",
        message: str = "Injected crash",
        times: int | None = 1,
        account: str | None = None,
    ) -> Fault:
        return cls(
            LAMBDA_CRASH,
            function=function,
            error_type=error_type,
            message=message,
            times=times,
            account=account,
        )

    @classmethod
    def lambda_timeout(
        cls, function: str = "*", times: int | None = 1, account: str | None = None
    ) -> Fault:
        return cls(LAMBDA_TIMEOUT, function=function, times=times, account=account)

    @classmethod
    def event_lost(
        cls,
        source: str | None = None,
        detail_type: str | None = None,
        stack: str | None = None,
        account: str | None = None,
        target: str | None = None,
        share: float = 1.0,
        seed: int = 7,
        times: int | None = None,
    ) -> Fault:
        """EventBridge never delivers the matching events to the matching targets.

        Applies per delivery to a rule target (an event forwarded to another
        bus is one delivery, and each target on that bus is another):
        ``account`` is the account of the bus whose rule delivers, ``target``
        a glob over the target ARN, ``stack`` a glob over the stack name an
        event is about (a CloudFormation event's stack-id, or ``detail.stack``).
        """
        return cls(
            EVENT_LOST,
            source=source,
            detail_type=detail_type,
            stack=stack,
            account=account,
            target=target,
            share=share,
            seed=seed,
            times=times,
        )

    @classmethod
    def event_delayed(
        cls,
        seconds: float,
        source: str | None = None,
        detail_type: str | None = None,
        stack: str | None = None,
        account: str | None = None,
        target: str | None = None,
        times: int | None = None,
    ) -> Fault:
        """Matching deliveries arrive ``seconds`` (simulated) later than usual."""
        return cls(
            EVENT_DELAYED,
            seconds=seconds,
            source=source,
            detail_type=detail_type,
            stack=stack,
            account=account,
            target=target,
            times=times,
        )

    @classmethod
    def event_duplicated(
        cls,
        source: str | None = None,
        detail_type: str | None = None,
        stack: str | None = None,
        account: str | None = None,
        target: str | None = None,
        seconds: float = 1.0,
        times: int | None = None,
    ) -> Fault:
        """Matching deliveries arrive twice (the copy ``seconds`` later): at-least-once."""
        return cls(
            EVENT_DUPLICATED,
            seconds=seconds,
            source=source,
            detail_type=detail_type,
            stack=stack,
            account=account,
            target=target,
            times=times,
        )

    # -- wire form (RemoteEngine) ------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("_rng", None)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fault:
        return cls(**{k: v for k, v in data.items() if not k.startswith("_")})

    # -- matching -----------------------------------------------------------
    def matches(self, kind: str, **where: str | None) -> bool:
        if kind != self.kind:
            return False
        for name in (
            "stack",
            "account",
            "region",
            "resource",
            "service",
            "operation",
            "function",
            "source",
            "detail_type",
            "target",
        ):
            pattern = getattr(self, name)
            if pattern is None or name not in where:
                continue
            value = where[name]
            if value is None:
                return False
            if name in ("stack", "function", "target"):
                if not fnmatchcase(value, pattern):
                    return False
            elif name == "operation":
                # "CreateChangeSet", "create_change_set" and "createchangeset" are one operation.
                if pattern.lower().replace("_", "") != value.lower().replace("_", ""):
                    return False
            elif pattern != value:
                return False
        return True


class FaultBook:
    """The engine's active faults; thread-safe, consumed as they fire."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def list(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def take(self, kind: str, **where: str | None) -> Fault | None:
        """The first matching fault, consuming one of its ``times``."""
        with self._lock:
            for fault in self._faults:
                if not fault.matches(kind, **where):
                    continue
                if kind in (THROTTLE, EVENT_LOST) and fault._rng.random() >= fault.share:
                    continue  # this one spared the call; a later fault may still take it
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                return fault
        return None

    def peek(self, kind: str, **where: str | None) -> Fault | None:
        """The first matching fault, without consuming it."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(kind, **where):
                    return fault
        return None
