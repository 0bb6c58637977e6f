"""RemoteEngine: the LocalEngine API against a running local server."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import boto3

from stackrelay_local.config import EngineConfig
from stackrelay_local.events import Delivery
from stackrelay_local.faults import Fault

FAKE_KEY = "testing"


class RemoteError(RuntimeError):
    """The server refused a control request; carries its error name and message."""


class _Control:
    def __init__(self, endpoint_url: str) -> None:
        self.endpoint_url = endpoint_url.rstrip("/")

    def call(self, method: str, route: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.endpoint_url}/_stackrelay/{route}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            payload = json.loads(error.read() or b"{}")
            raise RemoteError(f"{payload.get('error')}: {payload.get('message')}") from error


class RemoteClock:
    def __init__(self, control: _Control) -> None:
        self._control = control

    def now(self) -> float:
        return float(self._control.call("GET", "clock")["now"])

    def advance(self, seconds: float) -> float:
        return float(self._control.call("POST", "clock/advance", {"seconds": seconds})["now"])

    def advance_to(self, instant: float) -> float:
        return float(self._control.call("POST", "clock/advance", {"to": instant})["now"])


class RemoteFaults:
    def __init__(self, control: _Control) -> None:
        self._control = control

    def add(self, fault: Fault) -> Fault:
        return Fault.from_dict(self._control.call("POST", "faults", fault.to_dict())["fault"])

    def clear(self) -> None:
        self._control.call("DELETE", "faults")

    def list(self) -> list[Fault]:
        return [Fault.from_dict(f) for f in self._control.call("GET", "faults")["faults"]]


class RemoteEvents:
    """``engine.events`` over HTTP: the delivery log and idle waits."""

    def __init__(self, control: _Control) -> None:
        self._control = control

    def deliveries(
        self,
        source: str | None = None,
        detail_type: str | None = None,
        target: str | None = None,
        outcome: str | None = None,
    ) -> list[Delivery]:
        filters = {
            k: v
            for k, v in {
                "source": source,
                "detail_type": detail_type,
                "target": target,
                "outcome": outcome,
            }.items()
            if v is not None
        }
        route = "events/deliveries"
        if filters:
            route += "?" + urllib.parse.urlencode(filters)
        return [Delivery(**d) for d in self._control.call("GET", route)["deliveries"]]

    def emitted(self, source: str | None = None) -> list[dict[str, Any]]:
        route = "events/emitted"
        if source is not None:
            route += "?" + urllib.parse.urlencode({"source": source})
        return list(self._control.call("GET", route)["events"])

    def wait_idle(self, timeout: float = 30.0) -> bool:
        return bool(self._control.call("POST", "events/wait-idle", {"timeout": timeout})["idle"])


class RemoteEngine:
    """Same clock/faults/deploy_app/session/client/wait_* as LocalEngine, over HTTP."""

    def __init__(self, endpoint_url: str) -> None:
        self.endpoint_url = endpoint_url.rstrip("/")
        self._control = _Control(self.endpoint_url)
        self.clock = RemoteClock(self._control)
        self.faults = RemoteFaults(self._control)
        self.events = RemoteEvents(self._control)
        self._config: EngineConfig | None = None
        self._lock = threading.Lock()
        self._sessions: dict[str, boto3.Session] = {}

    def http_endpoint(self) -> str:
        """Where tools in other processes (``sam package``) reach this engine."""
        return self.endpoint_url

    @property
    def config(self) -> EngineConfig:
        if self._config is None:
            self._config = EngineConfig.from_dict(self._control.call("GET", "config"))
        return self._config

    def session(self, account: str = "orchestrator") -> boto3.Session:
        account_id = self.config.account_id(account)
        with self._lock:
            if account_id in self._sessions:
                return self._sessions[account_id]
        region = self.config.region
        if account_id == self.config.orchestrator_account:
            session = boto3.Session(
                aws_access_key_id=FAKE_KEY, aws_secret_access_key=FAKE_KEY, region_name=region
            )
        else:
            sts = boto3.client(
                "sts",
                region_name=region,
                endpoint_url=self.endpoint_url,
                aws_access_key_id=FAKE_KEY,
                aws_secret_access_key=FAKE_KEY,
            )
            creds = sts.assume_role(
                RoleArn=f"arn:aws:iam::{account_id}:role/StackRelayLocal",
                RoleSessionName="stackrelay-local",
            )["Credentials"]
            session = boto3.Session(
                aws_access_key_id=creds["AccessKeyId"],
                aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"],
                region_name=region,
            )
        with self._lock:
            self._sessions[account_id] = session
        return session

    def client(self, service: str, account: str = "orchestrator", region: str | None = None) -> Any:
        return self.session(account).client(
            service, endpoint_url=self.endpoint_url, region_name=region
        )

    def deploy_app(
        self,
        template: Path | str,
        stack_name: str,
        parameters: dict[str, str] | None = None,
        account: str = "orchestrator",
        region: str | None = None,
    ) -> dict[str, str]:
        body = {
            "template": str(Path(template).resolve()),
            "stack_name": stack_name,
            "parameters": parameters or {},
            "account": account,
            "region": region,
        }
        return dict(self._control.call("POST", "deploy-app", body)["outputs"])

    @property
    def issuer_url(self) -> str:
        """The server's GitLab issuer (the orchestrator's TokenIssuer locally)."""
        return str(self._control.call("GET", "issuer")["url"])

    def mint_token(self, **claims: Any) -> str:
        """A GitLab ID token signed by the server's issuer (see LocalIssuer.claims)."""
        return str(self._control.call("POST", "token", claims)["token"])

    def set_stack_seconds(self, seconds: float, stack: str | None = None) -> None:
        self._control.call("POST", "stack-seconds", {"seconds": seconds, "stack": stack})

    def wait_stack(
        self, stack_name: str, account: str = "orchestrator", region: str | None = None
    ) -> str:
        body = {"stack_name": stack_name, "account": account, "region": region}
        return str(self._control.call("POST", "wait-stack", body)["status"])

    def wait_execution(self, execution_arn: str, timeout: float = 300.0) -> dict[str, Any]:
        sfn = self.client("stepfunctions", execution_arn.split(":")[4])
        pause = threading.Event()
        deadline = time.monotonic() + timeout
        while True:
            result: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
            if result["status"] != "RUNNING":
                return result
            if time.monotonic() > deadline:
                raise TimeoutError(f"execution {execution_arn} still RUNNING after {timeout}s")
            pause.wait(0.01)

    def wait_parked(
        self, execution_arn: str, timeout: float = 300.0, state: str | None = None
    ) -> str:
        pause = threading.Event()
        deadline = time.monotonic() + timeout
        route = "parked?execution_arn=" + urllib.parse.quote(execution_arn, safe="")
        if state:
            route += "&state=" + urllib.parse.quote(state, safe="")
        while True:
            tokens = self._control.call("GET", route)["tokens"]
            if tokens:
                return str(tokens[-1])
            if time.monotonic() > deadline:
                raise TimeoutError(f"execution {execution_arn} did not park within {timeout}s")
            pause.wait(0.01)
