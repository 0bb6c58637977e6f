"""The orchestrator's own configuration: where each stage lives.

Execution input says *what* to deploy; everything here says *where*, and
comes from template parameters through environment variables, so a CI job
can never route itself to production or skip an approval.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from stackrelay.errors import ConfigurationError

STAGES = ("review", "staging", "prod")
"""Every stage StackRelay knows, in release order. Review stacks live in dev."""

STAGE_ACCOUNT_KEY = {"review": "dev", "staging": "staging", "prod": "prod"}

_ACCOUNT_ID = re.compile(r"^\d{12}$")


@dataclass(frozen=True)
class PollBounds:
    """How often the workflow looks at CloudFormation (seconds)."""

    minimum: int = 3
    maximum: int = 30
    fast_window: int = 60
    ratio: float = 0.1


COMPLETION_MODES = ("event", "poll")


@dataclass(frozen=True)
class StackCompletion:
    """How a stage learns its stack operation ended.

    ``event``: the stack's CloudFormation status event, forwarded from the
    target account, answers a ``.waitForTaskToken`` wait; every
    ``fallback_seconds`` without an event the workflow checks the stack itself
    (events can be lost). ``poll``: Check Stack on the adaptive schedule only.
    """

    mode: str = "event"
    fallback_seconds: int = 1800


@dataclass(frozen=True)
class Settings:
    accounts: Mapping[str, str]
    """``dev``, ``staging`` and ``prod`` account ids."""
    region: str
    deploy_role_name: str
    execution_role_name: str
    default_branch: str
    stack_prefix: str
    table_name: str
    artifact_bucket: str
    approval_stages: frozenset[str] = frozenset({"prod"})
    poll: PollBounds = field(default_factory=PollBounds)
    stage_parameters: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    review_url_output: str = "ApiUrl"
    approval_timeout_seconds: int = 72 * 3600
    partition: str = "aws"
    completion: StackCompletion = field(default_factory=StackCompletion)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env

        def need(name: str) -> str:
            value = env.get(name, "").strip()
            if not value:
                raise ConfigurationError(
                    f"{name} is not set: the orchestrator's template sets it from a parameter; "
                    "redeploy the orchestrator with that parameter."
                )
            return value

        accounts = {
            "dev": need("DEV_ACCOUNT_ID"),
            "staging": need("STAGING_ACCOUNT_ID"),
            "prod": need("PROD_ACCOUNT_ID"),
        }
        for key, value in accounts.items():
            if not _ACCOUNT_ID.match(value):
                raise ConfigurationError(f"{key} account id {value!r} is not 12 digits.")
        try:
            stage_parameters = json.loads(env.get("STAGE_PARAMETERS") or "{}")
        except json.JSONDecodeError as exc:
            raise ConfigurationError(f"STAGE_PARAMETERS is not JSON: {exc}") from exc
        approval = env.get("APPROVAL_STAGES", "prod")
        mode = env.get("STACK_COMPLETION", StackCompletion.mode).strip() or StackCompletion.mode
        if mode not in COMPLETION_MODES:
            raise ConfigurationError(
                f"STACK_COMPLETION is {mode!r}: use one of {', '.join(COMPLETION_MODES)}."
            )
        fallback = int(env.get("COMPLETION_FALLBACK_SECONDS", StackCompletion.fallback_seconds))
        if fallback < 1:
            raise ConfigurationError("COMPLETION_FALLBACK_SECONDS must be at least 1.")
        return cls(
            accounts=accounts,
            region=need("TARGET_REGION"),
            deploy_role_name=need("DEPLOY_ROLE_NAME"),
            execution_role_name=need("EXECUTION_ROLE_NAME"),
            default_branch=need("DEFAULT_BRANCH"),
            stack_prefix=env.get("STACK_PREFIX", ""),
            table_name=need("TABLE_NAME"),
            artifact_bucket=need("ARTIFACT_BUCKET"),
            approval_stages=frozenset(s.strip() for s in approval.split(",") if s.strip()),
            poll=PollBounds(
                minimum=int(env.get("POLL_MIN_SECONDS", PollBounds.minimum)),
                maximum=int(env.get("POLL_MAX_SECONDS", PollBounds.maximum)),
            ),
            stage_parameters=stage_parameters,
            review_url_output=env.get("REVIEW_URL_OUTPUT", "ApiUrl"),
            approval_timeout_seconds=int(env.get("APPROVAL_TIMEOUT_SECONDS", 72 * 3600)),
            partition=env.get("AWS_PARTITION", "aws"),
            completion=StackCompletion(mode=mode, fallback_seconds=fallback),
        )

    def account_for(self, stage: str) -> str:
        return self.accounts[STAGE_ACCOUNT_KEY[stage]]

    def deploy_role_arn(self, stage: str) -> str:
        account = self.account_for(stage)
        return f"arn:{self.partition}:iam::{account}:role/{self.deploy_role_name}"

    def execution_role_arn(self, stage: str) -> str:
        account = self.account_for(stage)
        return f"arn:{self.partition}:iam::{account}:role/{self.execution_role_name}"
