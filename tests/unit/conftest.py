"""Shared fixtures for the unit tests: environment, clock, events, moto resources."""

from __future__ import annotations

import copy
import importlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws
from stackrelay import clock, sessions
from stackrelay.config import Settings
from stackrelay.model import parse_request
from stackrelay.plan import Stage, build_plan

EVENTS = Path(__file__).resolve().parent.parent / "events"

ENV = {
    "DEV_ACCOUNT_ID": "111111111111",
    "STAGING_ACCOUNT_ID": "222222222222",
    "PROD_ACCOUNT_ID": "333333333333",
    "TARGET_REGION": "us-east-1",
    "DEPLOY_ROLE_NAME": "StackRelayDeployRole",
    "EXECUTION_ROLE_NAME": "StackRelayExecution",
    "DEFAULT_BRANCH": "main",
    "STACK_PREFIX": "sr-",
    "TABLE_NAME": "stackrelay-test",
    "ARTIFACT_BUCKET": "stackrelay-artifacts",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "POWERTOOLS_TRACE_DISABLED": "1",
    "POWERTOOLS_METRICS_NAMESPACE": "StackRelay",
    "TOKEN_ISSUER": "https://gitlab.example.com",
    "TOKEN_AUDIENCE": "stackrelay",
}

EXECUTION_ARN = "arn:aws:states:us-east-1:123456789012:execution:stackrelay-deploy:run-1"


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Fake credentials and the orchestrator's settings, for every test.

    No test can reach a real AWS account: the credentials are fake and every
    AWS call goes through ``mock_aws``.
    """
    for name in (
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "STAGE_PARAMETERS",
        "TOPOLOGY",
        "DEPLOY_ACCOUNT_IDS",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    return dict(ENV)


@pytest.fixture
def settings() -> Settings:
    return Settings.from_env(ENV)


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: float) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
def fake_clock() -> Iterator[FakeClock]:
    fake = FakeClock(1_800_000_000.0)
    clock.set_source(fake)
    try:
        yield fake
    finally:
        clock.set_source(None)


@pytest.fixture
def load_event() -> Callable[[str], dict[str, Any]]:
    def load(name: str) -> dict[str, Any]:
        return json.loads((EVENTS / name).read_text(encoding="utf-8"))

    return load


@pytest.fixture
def make_stage(
    settings: Settings, load_event: Callable[[str], dict[str, Any]]
) -> Callable[..., Stage]:
    """A planned stage from an event fixture, with fields overridden."""

    def make(event: str = "deploy_main.json", index: int = 0, **overrides: Any) -> Stage:
        plan = build_plan(parse_request(load_event(event)), settings, EXECUTION_ARN)
        data = copy.deepcopy(plan["stages"][index])
        data.update(overrides)
        return Stage(**data)

    return make


@pytest.fixture
def aws() -> Iterator[None]:
    # Cached sessions and clients hold one mock's credentials: each test starts clean.
    sessions.clear()
    with mock_aws():
        yield
    sessions.clear()


@pytest.fixture
def table(aws: None) -> Any:
    """The orchestrator's table (pk/sk strings) in moto."""
    dynamodb = boto3.resource("dynamodb", region_name="us-east-1")
    created = dynamodb.create_table(
        TableName=ENV["TABLE_NAME"],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    created.wait_until_exists()
    return created


_TASKS_IMPORTED_HERE: dict[str, ModuleType] = {}


@pytest.fixture
def task_module(aws: None) -> Iterator[Callable[[str], ModuleType]]:
    """A handler module imported under the unit tests' env (its settings are read at
    import). A copy imported by someone else, e.g. the local engine with its own env, is
    set aside and put back afterwards, untouched: the engine's warm handlers keep theirs."""
    import stackrelay.tasks as package

    foreign: dict[str, ModuleType] = {}

    def load(name: str) -> ModuleType:
        qualified = f"stackrelay.tasks.{name}"
        current = sys.modules.get(qualified)
        if current is not None and current is _TASKS_IMPORTED_HERE.get(qualified):
            return current
        if current is not None:
            foreign[qualified] = sys.modules.pop(qualified)
        module = importlib.import_module(qualified)
        _TASKS_IMPORTED_HERE[qualified] = module
        return module

    yield load
    for qualified, previous in foreign.items():
        sys.modules[qualified] = previous
        setattr(package, qualified.rsplit(".", 1)[1], previous)


@pytest.fixture(scope="session")
def gitlab_issuer() -> Iterator[Any]:
    """A GitLab-like token issuer with its JWKS on localhost (the local engine's)."""
    from stackrelay import identity
    from stackrelay_local.issuer import LocalIssuer

    issuer = LocalIssuer(clock.now).start()
    identity.forget_keys()
    try:
        yield issuer
    finally:
        issuer.stop()
        identity.forget_keys()


@pytest.fixture
def issuer_config(gitlab_issuer: Any) -> Any:
    """What the orchestrator trusts: that issuer, StackRelay's audience."""
    from stackrelay.identity import Issuer

    return Issuer(url=gitlab_issuer.url, audience="stackrelay")


@pytest.fixture
def mint(gitlab_issuer: Any) -> Callable[..., str]:
    """A token for a job of group/aws-news (project 4711); claims overridable."""

    def make(**claims: Any) -> str:
        values: dict[str, Any] = {
            "project_path": "group/aws-news",
            "project_id": "4711",
            "ref": "main",
            "pipeline_id": "4712",
            "sha": "0123456789abcdef0123456789abcdef01234567",
            "user_login": "carol",
            **claims,
        }
        return str(gitlab_issuer.mint(**values))

    return make
