"""State shared by the in-process engine and the server: clock, faults, seams.

A :class:`Runtime` is everything the patched moto calls back into. The
in-process :class:`~stackrelay_local.engine.LocalEngine` and the server both
own one; only one can be started per process at a time (the seams are
process-wide).
"""

from __future__ import annotations

import threading
import warnings
from collections import Counter
from collections.abc import Callable
from typing import Any

import boto3

from stackrelay_local import seams
from stackrelay_local.cfn import CloudFormationRealism
from stackrelay_local.clock import SimClock
from stackrelay_local.config import EngineConfig
from stackrelay_local.events import EventBridge
from stackrelay_local.faults import THROTTLE, FaultBook
from stackrelay_local.issuer import LocalIssuer
from stackrelay_local.lambda_runtime import LambdaRunner
from stackrelay_local.provisioning import Provisioning

FAKE_KEY = "testing"


class ParkedExecutions:
    """Executions waiting on a ``.waitForTaskToken`` callback, by execution ARN."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._tokens: dict[str, list[str]] = {}
        self._deadlines: dict[str, float] = {}
        self._states: dict[str, str] = {}

    def add(self, execution_arn: str, token: str, state: str = "") -> None:
        with self._changed:
            self._tokens.setdefault(execution_arn, []).append(token)
            self._states[token] = state
            self._changed.notify_all()

    def set_deadline(self, token: str, deadline: float | None) -> None:
        """The simulated instant a parked callback times out (None: never)."""
        with self._changed:
            if deadline is None:
                self._deadlines.pop(token, None)
            else:
                self._deadlines[token] = deadline

    def earliest_deadline(self) -> float | None:
        with self._changed:
            live = {t for tokens in self._tokens.values() for t in tokens}
            ends = [d for t, d in self._deadlines.items() if t in live]
            return min(ends) if ends else None

    def remove(self, execution_arn: str, token: str) -> None:
        with self._changed:
            self._deadlines.pop(token, None)
            self._states.pop(token, None)
            tokens = self._tokens.get(execution_arn, [])
            if token in tokens:
                tokens.remove(token)
            if not tokens:
                self._tokens.pop(execution_arn, None)
            self._changed.notify_all()

    def tokens(self, execution_arn: str, state: str | None = None) -> list[str]:
        """Tokens the execution waits on; ``state``: only those of that state."""
        with self._changed:
            return [
                t
                for t in self._tokens.get(execution_arn, [])
                if state is None or self._states.get(t) == state
            ]

    def all(self) -> dict[str, list[str]]:
        with self._changed:
            return {arn: list(tokens) for arn, tokens in self._tokens.items()}

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(predicate, timeout)


class ProgressSignal:
    """Counts history events of every execution; wakes whoever waits for the next one.

    Whoever follows an execution of the in-process engine (the CLI's ``local``
    commands) waits here instead of sleeping in real time: it wakes when some
    execution moved, and not before.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._generation = 0

    def bump(self) -> None:
        with self._changed:
            self._generation += 1
            self._changed.notify_all()

    @property
    def generation(self) -> int:
        with self._changed:
            return self._generation

    def wait_past(self, generation: int, timeout: float) -> int:
        """Block (real time, at most ``timeout``) until an event after ``generation``."""
        with self._changed:
            self._changed.wait_for(lambda: self._generation > generation, timeout)
            return self._generation


class Runtime:
    def __init__(self, config: EngineConfig, endpoint_url: str | None = None) -> None:
        self.config = config
        self.endpoint_url = endpoint_url
        self.clock = SimClock()
        self.faults = FaultBook()
        self.lambda_runner = LambdaRunner(self)
        self.provisioning = Provisioning()
        self.cfn = CloudFormationRealism(self)
        self.parked = ParkedExecutions()
        self.events = EventBridge(self)
        self.progress = ProgressSignal()
        self.stopping = threading.Event()
        self._credentials: dict[str, dict[str, str]] = {}
        self._cred_lock = threading.RLock()
        self._sessions: dict[str, boto3.Session] = {}
        self._clients: dict[tuple[str, str, str | None], Any] = {}
        self.assumed_sessions: Counter[str] = Counter()
        """AssumeRole calls by RoleSessionName (StackRelay names them per pipeline and stage)."""
        self._count_lock = threading.Lock()
        self._patcher: seams.Patcher | None = None
        self.issuer: LocalIssuer | None = None

        self._calls_lock = threading.Lock()
        self.api_calls: dict[tuple[str, str, str], int] = {}

    # -- lifecycle ------------------------------------------------------------
    def install(self) -> None:
        self.stopping.clear()
        self.clock.reset()
        self._patcher = seams.install(self)
        self.lambda_runner.install_output()
        self._hook_product_clock(self.clock.now)
        self._start_issuer()
        self._forget_product_sessions()

    def uninstall(self) -> None:
        self.stopping.set()
        self.events.stop()
        if self.issuer is not None:
            self.issuer.stop()
            self.issuer = None
        if self._patcher is not None:
            self._patcher.undo()
            self._patcher = None
        self._hook_product_clock(None)
        self.lambda_runner.uninstall_output()
        self.lambda_runner.reset()
        with self._cred_lock:
            self._credentials.clear()
            self._sessions.clear()
            self._clients.clear()
        self._forget_product_sessions()

    def _forget_product_sessions(self) -> None:
        """Handlers cache sessions and clients (``stackrelay.sessions``); credentials
        from another emulated AWS would map to moto's default account: forget them."""
        try:
            from stackrelay import sessions as product_sessions
        except ImportError:
            return
        product_sessions.clear()

    def _start_issuer(self) -> None:
        """The engine's GitLab token issuer (a new key per engine start)."""
        self.issuer = LocalIssuer(self.clock.now).start()
        try:
            from stackrelay import identity
        except ImportError:
            return
        identity.forget_keys()

    def _hook_product_clock(self, source: Callable[[], float] | None) -> None:
        """Let the core package read the simulated clock (``stackrelay.clock``).

        ``set_source(None)`` restores the wall clock. The core package is
        optional here: without it there is nothing to hook.
        """
        try:
            from stackrelay import clock as product_clock
        except ImportError:
            return
        setter = getattr(product_clock, "set_source", None)
        if setter is not None:
            setter(source)

    # -- accounts -------------------------------------------------------------
    def credentials_for(self, account_id: str) -> dict[str, str]:
        """Credentials acting in ``account_id`` (moto maps STS keys to accounts)."""
        if account_id == seams.default_account():
            return {"AccessKeyId": FAKE_KEY, "SecretAccessKey": FAKE_KEY, "SessionToken": FAKE_KEY}
        with self._cred_lock:
            cached = self._credentials.get(account_id)
            if cached is not None:
                return cached
        sts = boto3.client(
            "sts",
            region_name=self.config.region,
            endpoint_url=self.endpoint_url,
            aws_access_key_id=FAKE_KEY,
            aws_secret_access_key=FAKE_KEY,
        )
        creds = sts.assume_role(
            RoleArn=f"arn:aws:iam::{account_id}:role/StackRelayLocal",
            RoleSessionName="stackrelay-local",
        )["Credentials"]
        result = {k: creds[k] for k in ("AccessKeyId", "SecretAccessKey", "SessionToken")}
        with self._cred_lock:
            self._credentials[account_id] = result
        return result

    def session(self, account: str | None = "orchestrator") -> boto3.Session:
        """One boto3 Session per account (a new one per call would re-read every
        service model it makes a client for)."""
        account_id = self.config.account_id(account)
        with self._cred_lock:
            found = self._sessions.get(account_id)
            if found is None:
                creds = self.credentials_for(account_id)
                found = boto3.Session(
                    aws_access_key_id=creds["AccessKeyId"],
                    aws_secret_access_key=creds["SecretAccessKey"],
                    aws_session_token=creds["SessionToken"],
                    region_name=self.config.region,
                )
                self._sessions[account_id] = found
            return found

    def client(
        self, service: str, account: str | None = "orchestrator", region: str | None = None
    ) -> Any:
        """A client acting in ``account`` (in ``region``, default the orchestrator's),
        made once per service, account and region."""
        region = None if region == self.config.region else region
        key = (service, self.config.account_id(account), region)
        with self._cred_lock:
            found = self._clients.get(key)
            if found is None:
                found = self.session(account).client(
                    service, endpoint_url=self.endpoint_url, region_name=region
                )
                self._clients[key] = found
            return found

    # -- called by the seams --------------------------------------------------
    def on_api_call(self, response: Any, original: Callable[[Any], Any]) -> Any:
        """Every moto API call: throttling faults, then settle CloudFormation."""
        service = getattr(response, "service_name", None) or ""
        service = {"awslambda": "lambda"}.get(service, service)
        action = response._get_action() or ""
        account = getattr(response, "current_account", None)
        with self._count_lock:
            if service == "sts" and action == "AssumeRole":
                self.assumed_sessions[str(response._get_param("RoleSessionName"))] += 1
        if self.faults.take(THROTTLE, service=service, operation=action, account=account):
            error = seams.throttling_error()

            def _refuse() -> Any:
                raise error

            setattr(response, seams.action_method_name(action), _refuse)
        elif service == "cloudformation":
            self.cfn.settle(response.cloudformation_backend)
        else:
            return self._count(service, action, account, original(response))
        # moto warns that Throttling / InvalidChangeSetStatus have no error shape in the
        # service model (on AWS they are protocol-level); the serialised error is right.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"Exception\(", category=UserWarning)
            return self._count(service, action, account, original(response))

    def _count(self, service: str, action: str, account: str | None, result: Any) -> Any:
        """Count API calls AWS answered with success (status < 400), per account."""
        status = result[0] if isinstance(result, tuple) and result else 200
        if isinstance(status, int) and status < 400:
            with self._calls_lock:
                key = (account or "", service, action)
                self.api_calls[key] = self.api_calls.get(key, 0) + 1
        return result

    def calls(self, service: str, action: str, account: str | None = None) -> int:
        """Successful calls of ``service:action`` so far (all accounts, or one)."""
        with self._calls_lock:
            return sum(
                n
                for (acct, svc, act), n in self.api_calls.items()
                if svc == service and act == action and account in (None, acct)
            )

    def settle_account(self, account_id: str, region: str | None = None) -> None:
        self.cfn.settle(seams.cfn_backend(account_id, region or self.config.region))
