"""Routing: which stages a request deploys to, and everything each stage needs.

The plan is built once, at the first state; every later task reads its stage
from it, so no task re-derives a name, an account or a role.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict

from stackrelay import artifacts
from stackrelay.config import Settings
from stackrelay.errors import InvalidInput
from stackrelay.model import DeployRequest, Source
from stackrelay.naming import change_set_name, stack_name
from stackrelay.sessions import session_name

_TAG_VALUE = re.compile(r"[^\w\s.:/=+\-@]")


class Stage(BaseModel):
    """One stage of a release: a Map item in the state machine."""

    model_config = ConfigDict(extra="ignore")

    app: str
    stage: str
    account: str
    region: str
    stack: str
    change_set: str
    role_arn: str
    execution_role_arn: str
    session: str
    approval: bool
    approval_timeout_seconds: int
    protect: bool
    template_url: str
    parameters: dict[str, str]
    tags: dict[str, str]
    ref: str
    commit: str
    pipeline_id: str
    pipeline_url: str | None = None
    user: str | None = None
    execution: str
    # Who and what, for events, records and delivery metrics (docs/events.md).
    action: str = "deploy"
    project: str | None = None
    project_id: str | None = None
    job_url: str | None = None
    commit_timestamp: str | None = None
    execution_arn: str | None = None


def tag_value(value: str) -> str:
    """A value CloudFormation accepts as a tag (and passes on to resources)."""
    return _TAG_VALUE.sub("_", value)[:256]


def template_url(bucket: str, key: str, region: str, version: str | None = None) -> str:
    return artifacts.s3_url(bucket, key, region, version)


def is_release(source: Source, settings: Settings) -> bool:
    """The one routing rule: release stages only for the protected default branch.

    ``source`` comes from a verified GitLab ID token (the start function is the
    only principal that may start executions), so this reads GitLab's claims:
    a branch (not a tag of the same name), protected, and named exactly as the
    orchestrator's default branch. Anything else deploys a review stack.
    """
    return (
        source.ref_type == "branch"
        and source.ref_protected
        and source.ref == settings.default_branch
    )


def build_plan(
    request: DeployRequest, settings: Settings, execution: str, execution_arn: str | None = None
) -> dict[str, Any]:
    """The stages this request deploys, in order, as plain JSON for the ASL."""
    source = request.source
    if source.default_branch and source.default_branch != settings.default_branch:
        raise InvalidInput(
            f"source.default_branch: the pipeline says {source.default_branch!r} but this "
            f"orchestrator releases from {settings.default_branch!r}. Change the orchestrator's "
            "DefaultBranch parameter, or the project's default branch."
        )
    review = not is_release(source, settings)
    if request.action == "teardown" and not review:
        raise InvalidInput(
            f"source.ref: {source.ref!r} is the protected default branch; teardown only "
            "deletes review stacks, never staging or prod."
        )
    names = ["review"] if review else ["staging", "prod"]
    artifact = request.artifact
    if artifact is not None and artifact.bucket != settings.artifact_bucket:
        raise InvalidInput(
            f"artifact.bucket: {artifact.bucket!r} is not this orchestrator's artifact bucket "
            f"({settings.artifact_bucket!r}). Publish with `stackrelay publish`."
        )
    url = (
        template_url(artifact.bucket, artifact.key, settings.region, artifact.version)
        if artifact
        else ""
    )
    stages = []
    for name in names:
        stack = stack_name(settings.stack_prefix, request.app, name, source.ref if review else None)
        tags = {
            "stackrelay:app": request.app,
            "stackrelay:stage": name,
            "stackrelay:ref": tag_value(source.ref),
            "stackrelay:commit": source.commit,
            "stackrelay:pipeline": tag_value(source.pipeline_url or source.pipeline_id),
        }
        parameters = {"Stage": name, **settings.stage_parameters.get(name, {})}
        stage = Stage(
            app=request.app,
            stage=name,
            account=settings.account_for(name),
            region=settings.region,
            stack=stack,
            change_set=change_set_name(source.pipeline_id, name, execution),
            role_arn=settings.deploy_role_arn(name),
            execution_role_arn=settings.execution_role_arn(name),
            session=session_name(source.pipeline_id, name),
            approval=name in settings.approval_stages,
            approval_timeout_seconds=settings.approval_timeout_seconds,
            protect=name != "review",
            template_url=url,
            parameters=parameters,
            tags=tags,
            ref=source.ref,
            commit=source.commit,
            pipeline_id=source.pipeline_id,
            pipeline_url=source.pipeline_url,
            user=source.user,
            execution=execution,
            action=request.action,
            project=source.project,
            project_id=getattr(source, "project_id", None),
            job_url=source.job_url,
            commit_timestamp=getattr(source, "commit_timestamp", None),
            execution_arn=execution_arn,
        )
        stages.append(stage.model_dump())
    return {
        "app": request.app,
        "action": request.action,
        "kind": "review" if review else "release",
        "artifact": artifact.model_dump() if artifact else None,
        "stages": stages,
    }
