"""Routing: which stages a request deploys to, and everything each stage needs.

The plan is built once, at the first state; every later task reads its stage
from it, so no task re-derives a name, an account or a role.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stackrelay import artifacts, naming
from stackrelay.config import Settings
from stackrelay.errors import ConfigurationError, InvalidInput
from stackrelay.model import DeployRequest, Source
from stackrelay.naming import change_set_name, stack_name
from stackrelay.sessions import session_name
from stackrelay.topology import StageDef
from stackrelay.trust import RELEASE, REVIEW

_TAG_VALUE = re.compile(r"[^\w\s.:/=+\-@]")


@dataclass(frozen=True)
class Stage:
    """One target of a release (a stage in one region): a Map item in the state machine.

    Built by the plan, carried through the state machine as JSON, and read back by
    every task (``from_dict``); a plain frozen dataclass, so no task imports pydantic
    for it.
    """

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
    execution: str
    pipeline_url: str | None = None
    user: str | None = None
    trust: str = RELEASE
    """``review`` (a stack per branch) or ``release``: what handlers decide by, never a name
    (:func:`stackrelay.trust.is_review`)."""
    environment: str | None = None
    """The GitLab environment the CI template declares for the stage (default: its name)."""
    wave: str = ""
    """The stage this target belongs to (its topology stage name)."""
    target: str = ""
    wave_size: int = 1
    """How many regions (targets) the stage has: an approval stage waits once per region."""
    """Stable id: the stage name for a one-region stage, ``<stage>.<region>`` in a wave."""
    url_output: str = "ApiUrl"
    # Who and what, for events, records and delivery metrics (docs/events.md).
    action: str = "deploy"
    project: str | None = None
    project_id: str | None = None
    job_url: str | None = None
    commit_timestamp: str | None = None
    execution_arn: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Stage:
        """A stage from the state machine's JSON; unknown keys are ignored."""
        if not isinstance(data, Mapping):
            raise InvalidInput("stage: expected the planned stage (an object).")
        missing = [f.name for f in _REQUIRED if f.name not in data]
        if missing:
            raise InvalidInput(
                f"stage: missing {', '.join(missing)}; pass the stage exactly as the plan made it."
            )
        return cls(**{k: data[k] for k in _FIELDS if k in data})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> Stage:
        return dataclasses.replace(self, **changes)

    @property
    def review(self) -> bool:
        return self.trust == REVIEW

    @property
    def approval_key(self) -> str:
        """What keys this target's approval: its target id (the stage name for one region)."""
        return self.target or self.stage

    @property
    def place(self) -> str | None:
        """The region, when it must be part of the stack's keys (locks, LATEST record):
        only for a stage with several regions, which share one stack name."""
        return self.region if self.target and self.target != self.stage else None


_FIELDS = frozenset(f.name for f in dataclasses.fields(Stage))
_REQUIRED = tuple(
    f
    for f in dataclasses.fields(Stage)
    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
)


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
            "deletes review stacks, never release stages."
        )
    topo = settings.topology
    reserved = [s.name for s in topo.review_stages()]
    if naming.collides_with_review_stacks(request.app, reserved):
        raise InvalidInput(
            f"app: {request.app!r} holds the name of a review stage ({', '.join(reserved)}) "
            "between hyphens, so its stacks could take another app's review stacks. "
            "Register the app under another name."
        )
    defs = topo.review_stages() if review else topo.release_stages()
    if not defs:
        raise InvalidInput(
            f"source.ref: {source.ref!r} is not the protected default branch "
            f"{settings.default_branch!r}, and this orchestrator's topology has no review "
            "stage: only the default branch deploys. Add a stage with trust: review to the "
            "Topology parameter to deploy other branches."
        )
    check_accounts(settings)
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
    try:
        naming.app_scope(settings.stack_prefix, request.app)
    except ValueError as exc:
        raise InvalidInput(f"app: {exc}") from None
    waves: list[dict[str, Any]] = []
    for definition in defs:
        targets = [
            _target(request, settings, definition, region, url, execution, execution_arn)
            for region in definition.regions
        ]
        waves.append(
            {
                "name": definition.name,
                "trust": definition.trust,
                "concurrency": definition.concurrency,
                "tolerate": definition.tolerate,
                "targets": targets,
            }
        )
    return {
        "app": request.app,
        "action": request.action,
        "kind": REVIEW if review else RELEASE,
        "artifact": artifact.model_dump() if artifact else None,
        "stages": [target for wave in waves for target in wave["targets"]],
        "waves": waves,
    }


def judge_wave(wave: Mapping[str, Any], outcomes: list[Mapping[str, Any]]) -> dict[str, Any]:
    """A stage's failure policy over its targets' outcomes (the ASL's Judge Wave).

    The wave holds while no more targets failed than the stage tolerates. When it
    does not, the release fails with the first failed target's error and cause (in
    target order), naming the target when the stage has several.
    """
    failed = [o for o in outcomes if o.get("outcome") == "failed"]
    tolerate = int(wave.get("tolerate") or 0)
    held = len(failed) <= tolerate
    verdict: dict[str, Any] = {"held": held, "failed": len(failed), "error": None, "cause": None}
    if held:
        return verdict
    first = failed[0]
    cause = str(first.get("reason") or first.get("error") or "the target failed")
    if len(outcomes) > 1:
        cause = (
            f"{first.get('target') or first.get('stage')}: {cause} ({len(failed)} of "
            f"{len(outcomes)} regions of {wave.get('name')} failed; it tolerates {tolerate}.)"
        )
    verdict.update(error=str(first.get("error") or "StageFailed"), cause=cause)
    return verdict


def check_accounts(settings: Settings) -> None:
    """Every topology account must be one whose deploy role the task role may assume."""
    allowed = settings.deploy_accounts
    if allowed is None:
        return
    for definition in settings.topology.stages:
        if definition.account not in allowed:
            raise ConfigurationError(
                f"Stage {definition.name!r} deploys to account {definition.account}, which is "
                "not in the orchestrator's DeployAccountIds parameter (the only accounts whose "
                "deploy role the task role may assume). Add it to DeployAccountIds and "
                "redeploy the orchestrator."
            )


def _target(
    request: DeployRequest,
    settings: Settings,
    definition: StageDef,
    region: str,
    url: str,
    execution: str,
    execution_arn: str | None,
) -> dict[str, Any]:
    source = request.source
    name = definition.name
    branch = source.ref if definition.review else None
    # The same stack name in every region of a stage: a stack is (account, region, name).
    stack = stack_name(settings.stack_prefix, request.app, name, branch)
    tags = {
        "stackrelay:app": request.app,
        "stackrelay:stage": name,
        "stackrelay:ref": tag_value(source.ref),
        "stackrelay:commit": source.commit,
        "stackrelay:pipeline": tag_value(source.pipeline_url or source.pipeline_id),
    }
    target = definition.target(region)
    stage = Stage(
        app=request.app,
        stage=name,
        account=definition.account,
        region=region,
        stack=stack,
        change_set=change_set_name(source.pipeline_id, name, execution),
        role_arn=settings.deploy_role_arn(definition.account),
        execution_role_arn=settings.execution_role_arn(definition.account, request.app),
        session=session_name(source.pipeline_id, name),
        approval=definition.approval,
        approval_timeout_seconds=settings.approval_timeout_seconds,
        protect=definition.protected,
        template_url=url,
        parameters={"Stage": name, **definition.parameters},
        tags=tags,
        ref=source.ref,
        commit=source.commit,
        pipeline_id=source.pipeline_id,
        pipeline_url=source.pipeline_url,
        user=source.user,
        execution=execution,
        trust=definition.trust,
        environment=definition.environment or name,
        wave=name,
        target=target,
        wave_size=len(definition.regions),
        url_output=definition.url_output or settings.url_output,
        action=request.action,
        project=source.project,
        project_id=getattr(source, "project_id", None),
        job_url=source.job_url,
        commit_timestamp=getattr(source, "commit_timestamp", None),
        execution_arn=execution_arn,
    )
    return stage.to_dict()
