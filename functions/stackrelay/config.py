"""The orchestrator's own configuration: where each stage lives.

Execution input says *what* to deploy; everything here says *where*, and
comes from template parameters through environment variables, so a CI job
can never route itself to production or skip an approval. The stages, their
accounts and regions are the topology (``stackrelay.topology``): the ``TOPOLOGY``
variable (JSON) when set, else today's three stages from the older
``DEV/STAGING/PROD_ACCOUNT_ID`` and ``TARGET_REGION`` variables.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stackrelay import topology
from stackrelay.errors import ConfigurationError
from stackrelay.naming import execution_role_name
from stackrelay.topology import Topology

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
    topology: Topology
    region: str
    """The orchestrator's region: where the artifact bucket is."""
    deploy_role_name: str
    execution_role_name: str
    default_branch: str
    stack_prefix: str
    table_name: str
    artifact_bucket: str
    poll: PollBounds = field(default_factory=PollBounds)
    url_output: str = "ApiUrl"
    """The stack Output that is the app's URL, for stages whose topology names none."""
    approval_timeout_seconds: int = 72 * 3600
    deploy_accounts: frozenset[str] | None = None
    """The accounts whose deploy role the task role may assume (the DeployAccountIds
    parameter); ``None``: not configured, not checked."""
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

        try:
            stage_parameters = json.loads(env.get("STAGE_PARAMETERS") or "{}")
        except json.JSONDecodeError as exc:
            raise ConfigurationError(f"STAGE_PARAMETERS is not JSON: {exc}") from exc
        region = need("TARGET_REGION")
        if env.get("TOPOLOGY", "").strip():
            topo = topology.loads(env["TOPOLOGY"])
        else:
            # The default topology's accounts, in its order (DevAccountId, StagingAccountId,
            # ProdAccountId); the keys are the topology's, no stage is named here.
            ids = (need("DEV_ACCOUNT_ID"), need("STAGING_ACCOUNT_ID"), need("PROD_ACCOUNT_ID"))
            accounts = dict(zip(topology.DEFAULT_ACCOUNT_KEYS, ids, strict=True))
            for key, value in accounts.items():
                if not _ACCOUNT_ID.match(value):
                    raise ConfigurationError(f"{key} account id {value!r} is not 12 digits.")
            topo = topology.default(accounts, region)
        topo = with_parameters(topo, stage_parameters)
        mode = env.get("STACK_COMPLETION", StackCompletion.mode).strip() or StackCompletion.mode
        if mode not in COMPLETION_MODES:
            raise ConfigurationError(
                f"STACK_COMPLETION is {mode!r}: use one of {', '.join(COMPLETION_MODES)}."
            )
        fallback = int(env.get("COMPLETION_FALLBACK_SECONDS", StackCompletion.fallback_seconds))
        if fallback < 1:
            raise ConfigurationError("COMPLETION_FALLBACK_SECONDS must be at least 1.")
        return cls(
            topology=topo,
            region=region,
            deploy_role_name=need("DEPLOY_ROLE_NAME"),
            execution_role_name=need("EXECUTION_ROLE_NAME"),
            default_branch=need("DEFAULT_BRANCH"),
            stack_prefix=env.get("STACK_PREFIX", ""),
            table_name=need("TABLE_NAME"),
            artifact_bucket=need("ARTIFACT_BUCKET"),
            poll=PollBounds(
                minimum=int(env.get("POLL_MIN_SECONDS", PollBounds.minimum)),
                maximum=int(env.get("POLL_MAX_SECONDS", PollBounds.maximum)),
            ),
            url_output=env.get("REVIEW_URL_OUTPUT", "").strip() or "ApiUrl",
            approval_timeout_seconds=int(env.get("APPROVAL_TIMEOUT_SECONDS", 72 * 3600)),
            deploy_accounts=_accounts(env.get("DEPLOY_ACCOUNT_IDS")),
            partition=env.get("AWS_PARTITION", "aws"),
            completion=StackCompletion(mode=mode, fallback_seconds=fallback),
        )

    def deploy_role_arn(self, account: str) -> str:
        """The role the task role assumes in a target account."""
        return f"arn:{self.partition}:iam::{account}:role/{self.deploy_role_name}"

    def execution_role_arn(self, account: str, app: str) -> str:
        """The app's own execution role in a target account (naming.execution_role_name)."""
        name = execution_role_name(self.execution_role_name, app)
        return f"arn:{self.partition}:iam::{account}:role/{name}"


MAX_DEPLOY_ACCOUNTS = 10
"""The task role's policy has this many deploy-role slots (template.yaml, TaskRole)."""


def _accounts(text: str | None) -> frozenset[str] | None:
    if text is None:
        return None
    found = frozenset(a.strip() for a in text.split(",") if a.strip())
    if len(found) > MAX_DEPLOY_ACCOUNTS:
        raise ConfigurationError(
            f"DeployAccountIds lists {len(found)} accounts; the task role's policy holds at "
            f"most {MAX_DEPLOY_ACCOUNTS}. Split the topology over two orchestrators."
        )
    return found


def with_parameters(topo: Topology, extra: Any) -> Topology:
    """``topo`` with the ``StageParameters`` parameter's values merged into its stages.

    ``extra`` maps stage names to ``{parameter: value}``; a stage's own value wins
    over the topology's. A name that is no stage of the topology is refused.
    """
    if not extra:
        return topo
    if not isinstance(extra, Mapping):
        raise ConfigurationError(
            'STAGE_PARAMETERS must map stage names to parameters: {"STAGE": {"Name": "value"}}.'
        )
    names = [s.name for s in topo.stages]
    for name in extra:
        if name not in names:
            raise ConfigurationError(
                f"STAGE_PARAMETERS names stage {name!r}, which is not in the topology "
                f"({', '.join(names)}); fix the StageParameters parameter."
            )
    data = topo.to_dict()
    for stage in data["stages"]:
        merged = {**stage.get("parameters", {}), **extra.get(stage["name"], {})}
        if merged:
            stage["parameters"] = merged
    return topology.parse(data)
