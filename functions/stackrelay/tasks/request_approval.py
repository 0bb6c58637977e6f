"""Request Approval: park the release on a task token until a person decides.

Invoked with ``.waitForTaskToken``; its return value is ignored. The token
goes to the table and nowhere else (never into a log line).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from stackrelay import approvals, changeset, events, sessions
from stackrelay.config import Settings
from stackrelay.errors import retryable_throttling
from stackrelay.parsing import Model, event_parser
from stackrelay.plan import Stage

logger = Logger()
SETTINGS = Settings.from_env()


@dataclass(frozen=True, kw_only=True)
class ApprovalRequest(Model):
    token: str
    stage: Stage
    change_set: dict[str, Any]


def request(table: Any, event: ApprovalRequest) -> dict[str, Any]:
    stage, change_set = event.stage, event.change_set
    return approvals.store(
        table,
        execution=stage.execution,
        app=stage.app,
        pipeline_id=stage.pipeline_id,
        stage=stage.approval_key,
        token=event.token,
        timeout_seconds=stage.approval_timeout_seconds,
        details={
            "account": stage.account,
            "region": stage.region,
            "wave": stage.stage,
            "wave_size": stage.wave_size,
            "trust": stage.trust,
            "environment": stage.environment,
            "stack": stage.stack,
            "project": stage.project,
            "project_id": stage.project_id,
            "job_url": stage.job_url,
            "user": stage.user,
            "execution_arn": stage.execution_arn,
            "ref": stage.ref,
            "commit": stage.commit,
            "pipeline_url": stage.pipeline_url,
            "change_set": stage.change_set,
            "change_set_id": change_set["id"],
            "digest": change_set["digest"],
            "summary": change_set["summary"],
            "headline": change_set["headline"],
        },
    )


def approval_requested(stage: Stage, change_set: dict[str, Any], view: dict[str, Any]) -> dict:
    """The ``Approval Requested`` detail: what the approver will be asked to sign, and where.

    ``approve_job_url`` is the pipeline page, where the manual approve job waits: the
    job's own id is not known when the release starts (the GitLab reporter, which can
    read the pipeline's jobs, links the job itself).
    """
    summary = change_set["summary"]
    return events.stage_detail(
        stage,
        outcome="waiting_for_approval",
        headline=change_set["headline"],
        change_set_id=change_set["id"],
        summary={
            "headline": change_set["headline"],
            "table": changeset.markdown(summary),
            **changeset.flags(summary),
            "digest": change_set["digest"],
            "counts": summary["counts"],
        },
        approve_job_url=stage.pipeline_url,
        approve_command=f"stackrelay approve --app {stage.app} --pipeline-id "
        f"{stage.pipeline_id} --stage {stage.approval_key}",
        requested_at=view["requested_at"],
        expires_at=view["expires_at"],
    )


@logger.inject_lambda_context(log_event=False)
@event_parser(model=ApprovalRequest)
@retryable_throttling
def lambda_handler(event: ApprovalRequest, context: LambdaContext) -> dict[str, Any]:
    view = request(sessions.table(SETTINGS.table_name), event)
    logger.info(
        "Approval requested",
        extra={
            "app": view["app"],
            "pipeline_id": view["pipeline_id"],
            "headline": view["headline"],
        },
    )
    events.publish(
        events.APPROVAL_REQUESTED, approval_requested(event.stage, event.change_set, view)
    )
    return {"status": view["status"]}
