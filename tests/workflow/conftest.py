"""Workflow tests: the real ASL on the local engine, with the real handlers.

One engine per test module (bootstrapping the orchestrator takes seconds);
each test releases its own app, so stacks never collide between tests.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from stackrelay import statenames
from stackrelay_cli import build, progress
from stackrelay_cli.local import LocalOrchestrator, bootstrap
from stackrelay_local import EngineConfig, LocalEngine

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_APP = ROOT / "examples" / "aws-news"
_EXECUTIONS = itertools.count(1)
APPROVAL_STATE = statenames.WAIT_FOR_APPROVAL


@pytest.fixture(scope="module")
def local() -> Iterator[LocalOrchestrator]:
    with LocalEngine(EngineConfig(stack_seconds=20.0)) as engine:
        yield bootstrap(engine)


@dataclass
class Run:
    arn: str
    execution: dict[str, Any]
    progress: progress.Progress

    @property
    def status(self) -> str:
        return str(self.execution["status"])

    @property
    def error(self) -> str | None:
        return self.execution.get("error")

    @property
    def cause(self) -> str:
        return progress.clean_cause(self.execution.get("cause")) or ""

    @property
    def output(self) -> dict[str, Any]:
        return json.loads(self.execution.get("output") or "{}")


PROJECT_IDS = itertools.count(5000)


class Releaser:
    """Publishes an app and starts executions as CI would, for one test.

    The app is registered to its own GitLab project (``group/<app>``); executions
    start through the start function with an ID token from the engine's issuer,
    so every test runs the verified path. :meth:`start_raw` is what a CI role can
    no longer do (StartExecution with a hand-written input): only admin tests use it.

    ``publish`` ships what the SAM CLI built (once per run: ``sam_build``) with
    ``sam package`` into the engine, pinned by version, as `stackrelay publish` does.
    """

    def __init__(
        self, local: LocalOrchestrator, app: str, sam_build: Callable[[Path], Path]
    ) -> None:
        self.local, self.app = local, app
        self.sam_build = sam_build
        self.engine = local.engine
        self.sfn = self.engine.client("stepfunctions")
        self._pipeline = 1000
        self.project = f"group/{app}"
        self.project_id = str(next(PROJECT_IDS))
        local.register(app, self.project, self.project_id)

    def token(self, ref: str = "main", **claims: Any) -> str:
        """The ID token GitLab would give a job of this app's project on ``ref``."""
        values: dict[str, Any] = {
            "project_path": self.project,
            "project_id": self.project_id,
            "ref": ref,
            "pipeline_id": self._pipeline,
            "sha": "abc1234def5678",
            **claims,
        }
        return self.local.token(**values)

    def invoke(self, function_output: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Invoke an orchestrator function; a domain error comes back as errorType."""
        name = self.local.outputs[function_output]
        response = self.engine.client("lambda").invoke(
            FunctionName=name, Payload=json.dumps(payload).encode()
        )
        body = json.loads(response["Payload"].read() or b"null")
        if response.get("FunctionError"):
            return {"errorType": body.get("errorType"), "errorMessage": body.get("errorMessage")}
        return dict(body)

    def wait_approval(self, arn: str) -> str:
        """The token of the execution's approval wait (it may park on stack waits before)."""
        return str(self.engine.wait_parked(arn, state=APPROVAL_STATE))

    def approve(self, user: str = "carol", reason: str | None = None) -> dict[str, Any]:
        """Show, then approve what was shown, as the approve-prod CI job does (the
        approver is the job's verified user, the decision carries the digest shown)."""
        token = self.token("main", user_login=user, environment="production")
        base = {"app": self.app, "id_token": token, "pipeline_id": self.pipeline_id}
        shown = self.invoke("ApprovalFunctionName", {"action": "show", **base})
        assert "errorType" not in shown, shown
        decision = {"action": "approve", **base, "digest": shown["approval"]["digest"]}
        if reason:
            decision["reason"] = reason
        body = self.invoke("ApprovalFunctionName", decision)
        assert "errorType" not in body, body
        return body

    def publish(self, app_dir: Path = SAMPLE_APP) -> dict[str, str]:
        return build.publish(
            self.sam_build(app_dir),
            self.app,
            self.engine.session(),
            self.local.bucket,
            sam_endpoint_url=self.engine.http_endpoint(),
        ).as_input()

    def request(self, ref: str, artifact: dict[str, str] | None, **source: Any) -> dict[str, Any]:
        self._pipeline += 1
        body: dict[str, Any] = {
            "app": self.app,
            "source": {
                "project": f"group/{self.app}",
                "ref": ref,
                "commit": "abc1234def5678",
                "pipeline_id": str(self._pipeline),
                "user": "alice",
                **source,
            },
        }
        if artifact is not None:
            body["artifact"] = artifact
        return body

    @property
    def pipeline_id(self) -> str:
        return str(self._pipeline)

    def start(self, payload: Any, machine: str = "DeployStateMachineArn") -> str:
        """Start as CI does: the request's source becomes the job's ID token claims."""
        source = payload["source"]
        action = "teardown" if machine == "TeardownStateMachineArn" else "deploy"
        token = self.token(
            source["ref"],
            pipeline_id=source["pipeline_id"],
            sha=source["commit"],
            user_login=source.get("user") or "alice",
        )
        command: dict[str, Any] = {"id_token": token, "app": payload["app"], "action": action}
        if payload.get("artifact") is not None:
            command["artifact"] = payload["artifact"]
        started = self.invoke("StartFunctionName", command)
        assert "executionArn" in started, started
        return str(started["executionArn"])

    def start_raw(self, payload: Any, machine: str = "DeployStateMachineArn") -> str:
        """StartExecution with a hand-written input: an administrator, not CI."""
        # Unique in the module's engine, even for parametrized tests sharing an app name.
        name = f"{self.app[:60]}-{self._pipeline}-{next(_EXECUTIONS)}"
        return self.sfn.start_execution(
            stateMachineArn=self.local.outputs[machine], name=name, input=json.dumps(payload)
        )["executionArn"]

    def finish(self, arn: str) -> Run:
        execution = self.engine.wait_execution(arn, timeout=600)
        return Run(arn, execution, progress.fetch(self.sfn, arn))

    def deploy(self, ref: str, artifact: dict[str, str] | None = None, **source: Any) -> Run:
        artifact = artifact or self.publish()
        return self.finish(self.start(self.request(ref, artifact, **source)))

    def stacks(self, account: str) -> list[str]:
        cfn = self.engine.client("cloudformation", account=account)
        names = []
        for page in cfn.get_paginator("list_stacks").paginate():
            names += [
                s["StackName"]
                for s in page["StackSummaries"]
                if s["StackStatus"] != "DELETE_COMPLETE"
                and s["StackName"].startswith(f"sr-{self.app}-")
            ]
        return names

    def stack(self, account: str, name: str) -> dict[str, Any]:
        cfn = self.engine.client("cloudformation", account=account)
        return cfn.describe_stacks(StackName=name)["Stacks"][0]

    def table(self) -> Any:
        return self.local.table()


@pytest.fixture(scope="module")
def make_releaser(
    local: LocalOrchestrator, sam_build: Callable[[Path], Path]
) -> Callable[[str], Releaser]:
    """Releasers for apps a whole module shares (the releaser fixture is per test)."""
    return lambda app: Releaser(local, app, sam_build)


def app_name(test_name: str) -> str:
    """A registrable app name (naming.MAX_APP_LENGTH) unique per test: a readable head
    and a hash of the whole test name (no name is another's hyphen-prefix)."""
    from stackrelay.naming import MAX_APP_LENGTH, short_hash

    name = test_name.lower().removeprefix("test_").replace("review", "rv")
    head = re.sub(r"[^a-z0-9]+", "-", name).strip("-")
    if not head[:1].isalpha():
        head = f"t{head}"
    tail = short_hash(test_name, 6)
    return f"{head[: MAX_APP_LENGTH - len(tail) - 1].rstrip('-')}-{tail}"


@pytest.fixture
def releaser(
    local: LocalOrchestrator, request: pytest.FixtureRequest, sam_build: Callable[[Path], Path]
) -> Iterator[Releaser]:
    yield Releaser(local, app_name(request.node.name), sam_build)
    local.engine.faults.clear()
    local.engine.set_stack_seconds(20.0)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The fault matrix (test_fault_matrix.py) prints what it counted."""
    from review_fixtures import MATRIX_COUNTS

    if MATRIX_COUNTS:
        terminalreporter.write_sep("=", "fault matrix")
        terminalreporter.write_line(", ".join(f"{k}={v}" for k, v in sorted(MATRIX_COUNTS.items())))
