"""What a CI job sends to start a deployment: its GitLab ID token and the artifact.

The job's identity (project, ref, pipeline, commit, user) is not sent as
fields: the start function reads it from the verified token. Validated with the
core's own model (:class:`stackrelay.model.StartCommand`), so a command the CLI
sends is one the start function accepts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stackrelay.errors import InvalidInput
from stackrelay.model import StartCommand, parse_model

from stackrelay_cli.errors import EXIT_CONFIG, EXIT_INVALID, CliError

TOKEN_VARIABLE = "STACKRELAY_IDENTITY_TOKEN"
"""The id_tokens: variable holding the StackRelay-audience token (ci/stackrelay.gitlab-ci.yml)."""


def identity_token(token_file: str | None = None, env: Mapping[str, str] | None = None) -> str:
    """The job's StackRelay ID token: from ``--id-token-file`` or STACKRELAY_IDENTITY_TOKEN."""
    env = os.environ if env is None else env
    if token_file:
        path = Path(token_file)
        if not path.is_file():
            raise CliError(f"{path}: no such ID token file.", EXIT_CONFIG)
        token = path.read_text().strip()
    else:
        token = (env.get(TOKEN_VARIABLE) or "").strip()
    if not token:
        raise CliError(
            f"No GitLab ID token: StackRelay takes who you are from a signed token, not from "
            f"flags. In GitLab CI add `id_tokens: {TOKEN_VARIABLE}: aud: <TokenAudience>` to "
            "the job (ci/stackrelay.gitlab-ci.yml does); elsewhere pass --id-token-file.",
            EXIT_CONFIG,
        )
    return token


COMMIT_TIMESTAMP_VARIABLE = "CI_COMMIT_TIMESTAMP"
"""GitLab's predefined variable: when the commit was made (lead time starts there)."""


def build(
    app: str,
    action: str,
    token: str,
    artifact: dict[str, Any] | None,
    commit_timestamp: str | None = None,
) -> StartCommand:
    payload: dict[str, Any] = {"app": app, "action": action, "id_token": token}
    if artifact is not None:
        payload["artifact"] = artifact
    if commit_timestamp:
        payload["commit_timestamp"] = commit_timestamp
    try:
        return parse_model(StartCommand, payload, "start command")
    except InvalidInput as exc:
        raise CliError(str(exc), EXIT_INVALID) from None
