"""Where the orchestrator is: its state machines, approval function and bucket.

From environment variables (what CI sets) or else from the outputs of the
orchestrator's stack (what a person with read access has).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from stackrelay_cli.errors import CliError

ENV = {
    "state_machine_arn": "STACKRELAY_STATE_MACHINE_ARN",
    "teardown_state_machine_arn": "STACKRELAY_TEARDOWN_STATE_MACHINE_ARN",
    "approval_function": "STACKRELAY_APPROVAL_FUNCTION",
    "start_function": "STACKRELAY_START_FUNCTION",
    "table": "STACKRELAY_TABLE",
    "operations_function": "STACKRELAY_OPERATIONS_FUNCTION",
    "bucket": "STACKRELAY_ARTIFACT_BUCKET",
}
OUTPUTS = {
    "state_machine_arn": "DeployStateMachineArn",
    "teardown_state_machine_arn": "TeardownStateMachineArn",
    "approval_function": "ApprovalFunctionName",
    "start_function": "StartFunctionName",
    "table": "TableName",
    "operations_function": "OperationsFunctionName",
    "bucket": "ArtifactBucketName",
}
DEFAULT_STACK = "stackrelay"


@dataclass(frozen=True)
class Orchestrator:
    state_machine_arn: str
    teardown_state_machine_arn: str
    approval_function: str
    operations_function: str
    bucket: str
    start_function: str = ""
    table: str = ""

    @property
    def region(self) -> str:
        arn = self.state_machine_arn or self.teardown_state_machine_arn
        return arn.split(":")[3] if arn.count(":") >= 3 else ""

    def console_url(self, execution_arn: str) -> str:
        region = execution_arn.split(":")[3] if execution_arn.count(":") >= 3 else self.region
        return (
            f"https://{region}.console.aws.amazon.com/states/home?region={region}"
            f"#/v2/executions/details/{execution_arn}"
        )


def resolve(
    session: Any,
    env: Mapping[str, str] | None = None,
    need: Sequence[str] | None = None,
) -> Orchestrator:
    """The orchestrator from STACKRELAY_* variables, else its stack's outputs.

    ``need`` names the fields the caller uses (default: all). When those are set
    in the environment the stack is not read: CI roles may call only what their
    job needs (docs/setup.md), not ``DescribeStacks``.
    """
    env = os.environ if env is None else env
    values = {name: env.get(var, "") for name, var in ENV.items()}
    needed = list(ENV) if need is None else list(need)
    if not all(values[name] for name in needed):
        stack = env.get("STACKRELAY_STACK", DEFAULT_STACK)
        try:
            found = session.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
        except (ClientError, BotoCoreError) as exc:
            missing = ", ".join(ENV[n] for n in needed if not values[n])
            raise CliError(
                f"Cannot find the StackRelay orchestrator: set {missing}, or give read access "
                f"to its stack {stack!r} (STACKRELAY_STACK). AWS said: {exc}"
            ) from None
        outputs = {o["OutputKey"]: o["OutputValue"] for o in found.get("Outputs") or []}
        for name, value in values.items():
            values[name] = value or outputs.get(OUTPUTS[name], "")
    return Orchestrator(**values)
