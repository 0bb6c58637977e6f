"""The execution input, built from GitLab's CI variables (or flags).

Validated with the core's own model, so an input the CLI sends is one the
workflow accepts.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from typing import Any

from stackrelay.errors import InvalidInput
from stackrelay.model import DeployRequest, parse_request
from stackrelay.naming import execution_name

from stackrelay_cli.errors import EXIT_INVALID, CliError

GITLAB = {
    "project": "CI_PROJECT_PATH",
    "commit": "CI_COMMIT_SHA",
    "default_branch": "CI_DEFAULT_BRANCH",
    "pipeline_id": "CI_PIPELINE_ID",
    "pipeline_url": "CI_PIPELINE_URL",
    "job_url": "CI_JOB_URL",
    "user": "GITLAB_USER_LOGIN",
}


def source_from(flags: Mapping[str, Any], env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``source`` from flags first, then GitLab's variables."""
    env = os.environ if env is None else env
    source: dict[str, Any] = {}
    for name, var in GITLAB.items():
        value = flags.get(name) or env.get(var)
        if value:
            source[name] = value
    ref = flags.get("ref") or env.get("CI_COMMIT_BRANCH") or env.get("CI_COMMIT_REF_NAME")
    if ref:
        source["ref"] = ref
    return source


def build(
    app: str, action: str, source: dict[str, Any], artifact: dict[str, Any] | None
) -> DeployRequest:
    payload: dict[str, Any] = {"app": app, "action": action, "source": source}
    if artifact is not None:
        payload["artifact"] = artifact
    try:
        return parse_request(payload)
    except InvalidInput as exc:
        hint = (
            " In GitLab CI these come from CI_PROJECT_PATH, CI_COMMIT_BRANCH, CI_COMMIT_SHA and "
            "CI_PIPELINE_ID; elsewhere pass --project, --ref, --commit and --pipeline-id."
        )
        raise CliError(f"{exc}.{hint}", EXIT_INVALID) from None


def name_for(request: DeployRequest) -> str:
    return execution_name(
        request.app,
        request.action,
        request.source.ref,
        request.source.pipeline_id,
        secrets.token_hex(3),
    )
