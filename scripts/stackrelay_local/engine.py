"""The in-process local engine: moto's ``mock_aws`` plus the StackRelay seams."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import boto3

from stackrelay_local import seams
from stackrelay_local.clock import SimClock
from stackrelay_local.config import EngineConfig
from stackrelay_local.faults import Fault, FaultBook
from stackrelay_local.runtime import Runtime
from stackrelay_local.sam import content_key, load_template, package_local

TERMINAL_SUFFIXES = ("_COMPLETE", "_FAILED")
FOLLOW_FLOOR_SECONDS = 0.05
_ACTIVE_LOCK = threading.Lock()
_ACTIVE: list[object] = []


class DeployError(RuntimeError):
    """deploy_app did not end in CREATE_COMPLETE/UPDATE_COMPLETE; says why."""


class Faults:
    """``engine.faults``: add/clear rules; stage names resolve to account ids."""

    def __init__(self, book: FaultBook, config: EngineConfig) -> None:
        self._book = book
        self._config = config

    def add(self, fault: Fault) -> Fault:
        if fault.account is not None:
            fault.account = self._config.account_id(fault.account)
        return self._book.add(fault)

    def clear(self) -> None:
        self._book.clear()

    def list(self) -> list[Fault]:
        return self._book.list()


class _EngineOps:
    """Operations shared by LocalEngine and the server's control surface."""

    runtime: Runtime

    @property
    def config(self) -> EngineConfig:
        return self.runtime.config

    @property
    def clock(self) -> SimClock:
        return self.runtime.clock

    def session(self, account: str = "orchestrator") -> boto3.Session:
        """A boto3 Session whose credentials act in ``account`` (via STS assume-role)."""
        return self.runtime.session(account)

    def client(self, service: str, account: str = "orchestrator", region: str | None = None) -> Any:
        return self.runtime.client(service, account, region)

    @property
    def issuer_url(self) -> str:
        """The engine's GitLab issuer (the orchestrator's TokenIssuer locally)."""
        assert self.runtime.issuer is not None, "the engine is not started"
        return self.runtime.issuer.url

    def mint_token(self, **claims: Any) -> str:
        """A signed GitLab ID token (arguments: :meth:`LocalIssuer.claims`)."""
        assert self.runtime.issuer is not None, "the engine is not started"
        return self.runtime.issuer.mint(**claims)

    def api_calls(self, service: str, action: str, account: str | None = None) -> int:
        """How many ``service`` ``action`` calls succeeded (in ``account``, or anywhere)."""
        account_id = self.runtime.config.account_id(account) if account else None
        return self.runtime.calls(service, action, account_id)

    def progress_waiter(self, floor: float = FOLLOW_FLOOR_SECONDS) -> Callable[[bool], None]:
        """A ``wait(changed)`` for following executions on this engine.

        Instead of sleeping a fixed interval, it returns once some execution has
        added a history event since the previous wait (at most ``floor`` real
        seconds apart, so a burst of events is read as one, and never longer
        than a second without a look).
        """
        signal = self.runtime.progress
        seen = signal.generation
        last = _monotonic()

        def wait(changed: bool) -> None:
            nonlocal seen, last
            seen = signal.wait_past(seen, 1.0)
            rest = floor - (_monotonic() - last)
            if rest > 0:
                threading.Event().wait(rest)
            last = _monotonic()

        return wait

    def set_stack_seconds(self, seconds: float, stack: str | None = None) -> None:
        """Simulated duration of stack operations, for a stack-name glob or by default."""
        if stack is None:
            self.runtime.config.stack_seconds = seconds
        else:
            self.runtime.cfn.stack_seconds[stack] = seconds

    def artifact_bucket(self, region: str | None = None) -> str:
        """The orchestrator's artifact bucket (created on first use); in another
        ``region``, its regional copy there (Lambda reads code only in its own region)."""
        from stackrelay.artifacts import regional_bucket

        cfg = self.runtime.config
        home = f"stackrelay-local-artifacts-{cfg.orchestrator_account}-{cfg.region}"
        region = region or cfg.region
        name = regional_bucket(home, region, cfg.region)
        s3 = self.client("s3", "orchestrator", region)
        try:
            s3.head_bucket(Bucket=name)
        except Exception:
            where = {} if region == "us-east-1" else {"LocationConstraint": region}
            s3.create_bucket(Bucket=name, **({"CreateBucketConfiguration": where} if where else {}))
        return name

    def deploy_app(
        self,
        template: Path | str,
        stack_name: str,
        parameters: dict[str, str] | None = None,
        account: str = "orchestrator",
        region: str | None = None,
    ) -> dict[str, str]:
        """Deploy a SAM app on disk the way ``sam deploy`` + CloudFormation would
        (in ``region``: default the orchestrator's).

        Packages local code and definitions into the orchestrator's artifact
        bucket, creates and executes a change set in ``account`` from the
        TemplateURL, advances the simulated clock until the stack is done and
        returns its Outputs. A deploy with no changes returns the current Outputs.
        """
        path = Path(template).resolve()
        raw = load_template(path.read_text())
        bucket = self.artifact_bucket(region)
        s3 = self.client("s3", "orchestrator", region)

        def upload(suffix: str, data: bytes) -> tuple[str, str]:
            key = content_key(stack_name, suffix, data)
            s3.put_object(Bucket=bucket, Key=key, Body=data)
            return bucket, key

        packaged = package_local(raw, path.parent, upload, self.runtime.lambda_runner.register_code)
        _, template_key = upload(".template.json", json.dumps(packaged).encode())
        url = f"https://{bucket}.s3.amazonaws.com/{template_key}"
        cfn = self.client("cloudformation", account, region)
        exists = _stack_status(cfn, stack_name) not in (None, "REVIEW_IN_PROGRESS")
        name = f"stackrelay-local-{int(self.clock.now() * 1000)}"
        created = cfn.create_change_set(
            StackName=stack_name,
            ChangeSetName=name,
            TemplateURL=url,
            ChangeSetType="UPDATE" if exists else "CREATE",
            Parameters=[
                {"ParameterKey": k, "ParameterValue": v} for k, v in (parameters or {}).items()
            ],
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
        )
        change_set = self._settle_change_set(cfn, created["Id"])
        if change_set["Status"] == "FAILED":
            if "didn't contain changes" in change_set.get("StatusReason", ""):
                return _outputs(cfn, stack_name)
            raise DeployError(
                f"change set for {stack_name} failed: {change_set.get('StatusReason')}"
            )
        cfn.execute_change_set(ChangeSetName=created["Id"])
        status = self.wait_stack(stack_name, account, region)
        if status not in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
            raise DeployError(
                f"stack {stack_name} ended {status}: {_first_failure(cfn, stack_name)}"
            )
        return _outputs(cfn, stack_name)

    def _settle_change_set(self, cfn: Any, change_set_id: str) -> dict[str, Any]:
        while True:
            change_set: dict[str, Any] = cfn.describe_change_set(ChangeSetName=change_set_id)
            if change_set["Status"] not in ("CREATE_PENDING", "CREATE_IN_PROGRESS"):
                return change_set
            self._advance_to_next_deadline()

    def wait_stack(
        self, stack_name: str, account: str = "orchestrator", region: str | None = None
    ) -> str:
        """Advance the simulated clock until the stack's operation ends; its status."""
        cfn = self.client("cloudformation", account, region)
        while True:
            status = _stack_status(cfn, stack_name)
            if status is None:
                return "DELETE_COMPLETE"
            if status.endswith(TERMINAL_SUFFIXES) or status == "REVIEW_IN_PROGRESS":
                return status
            self._advance_to_next_deadline()

    def _advance_to_next_deadline(self) -> None:
        now = self.clock.now()
        deadline = self.runtime.cfn.next_deadline(after=now)
        if deadline is None:
            self.clock.advance(0.001)
        else:
            self.clock.advance_to(deadline)


class LocalEngine(_EngineOps):
    """AWS in-process: four accounts, real handlers, a simulated clock.

    ``with LocalEngine(cfg) as engine:`` starts moto's ``mock_aws`` with the
    ASL interpreter on, installs the seams, and on exit drains executions
    parked on task tokens and undoes every patch.
    """

    def __init__(self, config: EngineConfig | None = None) -> None:
        self.runtime = Runtime(config or EngineConfig())
        self.faults = Faults(self.runtime.faults, self.runtime.config)
        self.events = self.runtime.events
        self._mock: Any = None
        self._endpoint: Any = None

    def http_endpoint(self) -> str:
        """An HTTP endpoint into this in-process engine, for tools in other processes.

        ``sam package`` (publish) runs in the SAM CLI's own venv and reaches S3 through
        AWS_ENDPOINT_URL, as it reaches AWS. moto's server app, on a free localhost
        port in a thread of this process, serves the same backends as ``mock_aws``.
        Started on first use, stopped with the engine.
        """
        if self._mock is None:
            raise RuntimeError("start the engine first")
        if self._endpoint is None:
            import logging

            logging.getLogger("werkzeug").setLevel(logging.ERROR)
            server = seams.resolve("threaded_server")(ip_address="localhost", port=0, verbose=False)
            server.start()
            self._endpoint = server
        _, port = self._endpoint.get_host_and_port()
        return f"http://localhost:{port}"

    def start(self) -> LocalEngine:
        from moto import mock_aws

        with _ACTIVE_LOCK:
            if _ACTIVE:
                raise RuntimeError("another local engine is running in this process; stop it first")
            _ACTIVE.append(self)
        self._mock = mock_aws(
            config={
                "stepfunctions": {"execute_state_machine": True},
                "lambda": {"use_docker": True},
            }
        )
        self._mock.start()
        _quiet_moto()
        try:
            self.runtime.install()
        except Exception:
            self._mock.stop()
            with _ACTIVE_LOCK:
                _ACTIVE.remove(self)
            raise
        return self

    def stop(self) -> None:
        if self._mock is None:
            return
        try:
            self.drain()
        finally:
            if self._endpoint is not None:
                self._endpoint.stop()
                self._endpoint = None
            self.runtime.uninstall()
            self._mock.stop()
            self._mock = None
            with _ACTIVE_LOCK:
                if self in _ACTIVE:
                    _ACTIVE.remove(self)

    def __enter__(self) -> LocalEngine:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- executions -----------------------------------------------------------
    def _sfn_for(self, execution_arn: str) -> Any:
        account = execution_arn.split(":")[4]
        return self.client("stepfunctions", account)

    def wait_execution(self, execution_arn: str, timeout: float = 300.0) -> dict[str, Any]:
        """describe_execution once the execution is no longer RUNNING.

        Executions run in moto's background threads, so this is the one place
        that waits in real time: short condition waits, bounded by ``timeout``.
        """
        sfn = self._sfn_for(execution_arn)
        done = threading.Event()
        result: dict[str, Any] = {}

        def finished() -> bool:
            nonlocal result
            result = sfn.describe_execution(executionArn=execution_arn)
            return bool(result["status"] != "RUNNING")

        deadline = _monotonic() + timeout
        while not finished():
            if _monotonic() > deadline:
                raise TimeoutError(f"execution {execution_arn} still RUNNING after {timeout}s")
            done.wait(0.005)
        return result

    def wait_parked(
        self, execution_arn: str, timeout: float = 300.0, state: str | None = None
    ) -> str:
        """Block until the execution is parked on a task token; return the token.

        ``state``: only a token of that state counts (an execution may park on
        other callbacks first, e.g. an event-driven stack wait before an approval).
        """
        sfn = self._sfn_for(execution_arn)

        def parked_or_over() -> bool:
            if self.runtime.parked.tokens(execution_arn, state):
                return True
            status = sfn.describe_execution(executionArn=execution_arn)["status"]
            return bool(status != "RUNNING")

        deadline = _monotonic() + timeout
        while not self.runtime.parked.wait_for(parked_or_over, 0.05):
            if _monotonic() > deadline:
                where = f" in {state!r}" if state else ""
                raise TimeoutError(
                    f"execution {execution_arn} did not park{where} within {timeout}s"
                )
        tokens = self.runtime.parked.tokens(execution_arn, state)
        if not tokens:
            status = sfn.describe_execution(executionArn=execution_arn)["status"]
            raise RuntimeError(f"execution {execution_arn} ended {status} without parking")
        return tokens[-1]

    def wake_parked(self) -> float | None:
        """Let an idle engine's waits time out, as they would on AWS after that long.

        Parked callbacks move the clock only to the next scheduled thing (see
        seams._wait_simulated), never to their own deadline, so an approval
        nobody answers stays pending. When nothing is scheduled, no delivery is
        due and some execution waits on a callback with a timeout, this moves
        the clock to the earliest such deadline and returns it (else None).
        Benchmarks and tests of lost events call it to reach the fallback.
        """
        if self.runtime.events.scheduler.busy() or self.runtime.events.next_wakeup() is not None:
            return None
        deadline = self.runtime.parked.earliest_deadline()
        if deadline is None:
            return None
        return self.clock.advance_to(deadline + 0.001)

    def parked_tokens(self, execution_arn: str) -> list[str]:
        return self.runtime.parked.tokens(execution_arn)

    def drain(self, timeout: float = 10.0) -> None:
        """Fail every callback still parked so no execution thread outlives the engine."""
        for execution_arn, tokens in self.runtime.parked.all().items():
            sfn = self._sfn_for(execution_arn)
            for token in tokens:
                # The token may have been answered or timed out meanwhile.
                with contextlib.suppress(Exception):
                    sfn.send_task_failure(
                        taskToken=token,
                        error="StackRelayLocal.Teardown",
                        cause="The local engine stopped while this task waited for a callback.",
                    )
        self.runtime.parked.wait_for(lambda: not self.runtime.parked.all(), timeout)


class _SkippedResourceFilter:
    """Drops moto's "No Moto CloudFormation support for X" (one line per skipped resource)."""

    def filter(self, record: object) -> bool:
        return "No Moto CloudFormation support" not in str(getattr(record, "msg", ""))


def _quiet_moto() -> None:
    """moto logs every ASL failure as a multi-kilobyte ERROR dump and warns about each
    resource type its CloudFormation skips; the execution history and stack events
    already carry both, so keep them out of people's terminals."""
    import logging
    import warnings

    logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
    # aws-sam-translator warns about its own unpublished usage metrics at exit.
    logging.getLogger("samtranslator.metrics.metrics").setLevel(logging.ERROR)
    moto_logger = logging.getLogger("moto")
    if not any(isinstance(f, _SkippedResourceFilter) for f in moto_logger.filters):
        moto_logger.addFilter(_SkippedResourceFilter())
    warnings.filterwarnings("ignore", message="Tried to parse .* but it's not supported by moto")


def _monotonic() -> float:
    import time

    return time.monotonic()


def _stack_status(cfn: Any, stack_name: str) -> str | None:
    try:
        return str(cfn.describe_stacks(StackName=stack_name)["Stacks"][0]["StackStatus"])
    except Exception as exc:
        if "does not exist" in str(exc):
            return None
        raise


def _outputs(cfn: Any, stack_name: str) -> dict[str, str]:
    stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs") or []}


def _first_failure(cfn: Any, stack_name: str) -> str:
    events = cfn.describe_stack_events(StackName=stack_name)["StackEvents"]
    for event in reversed(events):
        if event["ResourceStatus"].endswith("_FAILED"):
            return f"{event['LogicalResourceId']}: {event.get('ResourceStatusReason', '')}"
    return "no failed resource event"


__all__ = ["DeployError", "LocalEngine", "seams"]
