"""The start function: the only way a CI job starts a deployment or a teardown.

CI invokes it (``stackrelay start`` / ``teardown``) with a StackRelay-audience
GitLab ID token, the app, the action and the artifact. It verifies the token
(:mod:`stackrelay.identity`), checks that the token's project owns the app
(:mod:`stackrelay.registry`), and starts the deploy or teardown state machine
with an input whose ``source`` is the verified claims and nothing else. The
token itself goes nowhere: not into the execution input (so not into the
execution history), not into a log line. CI roles may not call StartExecution
(setup/gitlab-oidc.yaml), so no execution runs on fields a caller wrote.
"""

from __future__ import annotations

import json
import os
import secrets
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from stackrelay import identity, registry, sessions, trust
from stackrelay.config import Settings
from stackrelay.errors import ConfigurationError, InvalidInput, retryable_throttling
from stackrelay.model import DeployRequest, StartCommand, parse_model, parse_request
from stackrelay.naming import execution_name
from stackrelay.plan import is_release

logger = Logger()
SETTINGS = Settings.from_env()
ISSUER = identity.Issuer.from_env(os.environ)
MACHINES = {
    "deploy": os.environ.get("DEPLOY_STATE_MACHINE_ARN", ""),
    "teardown": os.environ.get("TEARDOWN_STATE_MACHINE_ARN", ""),
}


def request_for(command: StartCommand, caller: identity.Identity) -> DeployRequest:
    """The execution input: the command's app/action/artifact, the token's claims."""
    payload: dict[str, Any] = {
        "app": command.app,
        "action": command.action,
        "source": identity.source_of(caller),
    }
    if command.commit_timestamp:
        payload["source"]["commit_timestamp"] = command.commit_timestamp
    if command.artifact is not None:
        payload["artifact"] = command.artifact.model_dump()
    return parse_request(payload)


def start(
    table: Any,
    sfn: Any,
    command: StartCommand,
    settings: Settings,
    issuer: identity.Issuer,
    machines: dict[str, str],
) -> dict[str, Any]:
    caller = identity.verify(command.id_token.get_secret_value(), issuer)
    registry.check(table, command.app, caller)
    request = request_for(command, caller)
    release = is_release(request.source, settings)
    if command.action == "teardown" and release:
        raise InvalidInput(
            f"{caller.ref} is the protected default branch: teardown only deletes review "
            "stacks, never release stacks. Nothing was started."
        )
    machine = machines.get(command.action) or ""
    if not machine:
        raise ConfigurationError(f"The {command.action} state machine ARN is not configured.")
    name = execution_name(
        command.app, command.action, caller.ref, caller.pipeline_id, secrets.token_hex(3)
    )
    started = sfn.start_execution(
        stateMachineArn=machine,
        name=name,
        input=json.dumps(request.model_dump(exclude_none=True)),
    )
    return {
        "executionArn": started["executionArn"],
        "name": name,
        "route": trust.RELEASE if release else trust.REVIEW,
        "source": request.source.model_dump(exclude_none=True),
    }


@logger.inject_lambda_context(log_event=False)
@retryable_throttling
def lambda_handler(payload: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Parsed here, not by event_parser: a validation error must never echo the token.
    event = parse_model(StartCommand, payload, "start command")
    table, sfn = sessions.table(SETTINGS.table_name), sessions.client("stepfunctions")
    result = start(table, sfn, event, SETTINGS, ISSUER, MACHINES)
    logger.info(
        "Execution started",
        extra={
            "app": event.app,
            "action": event.action,
            "route": result["route"],
            "execution": result["name"],
            "project": result["source"]["project"],
            "ref": result["source"]["ref"],
            "user": result["source"].get("user"),
        },
    )
    return result
