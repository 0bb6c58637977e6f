"""Report GitLab: StackRelay's events become commit statuses, deployments and notes.

Triggered asynchronously by an EventBridge rule on StackRelay's own events, off
the workflow's path: nothing here can fail or slow a deployment. Each GitLab
call is retried a bounded number of times with backoff; a call that still
fails is logged and counted (metric ``GitLabReportFailures``, alarmed), and
the handler returns normally. The GitLab token is read from Secrets Manager by
this function only, once per container, and never logged.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from stackrelay import gitlab_report

logger = Logger()
metrics = Metrics()
# botocore logs response bodies at DEBUG, and GetSecretValue's body is the token: this
# function never lets them through, whatever log level the function is set to.
for _name in ("botocore", "urllib3"):
    logging.getLogger(_name).setLevel(max(logging.INFO, logging.getLogger(_name).level))

FAILURE_METRIC = "GitLabReportFailures"
RETRY_METRIC = "GitLabReportRetries"


class ReporterConfigError(Exception):
    """The reporter is not configured (URL or token secret missing or unreadable)."""


_cached: dict[str, Any] = {}


def _env(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ReporterConfigError(f"{name} is not set (template parameter of the orchestrator)")
    return value


def read_token(secrets: Any, secret_id: str) -> str:
    """The token in the secret: a plain string, or JSON with a ``token`` key."""
    try:
        raw = secrets.get_secret_value(SecretId=secret_id)["SecretString"]
    except Exception as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
        raise ReporterConfigError(
            f"cannot read the GitLab token secret {secret_id} ({code}); store a project or "
            "group access token with scope `api` in it (docs/setup.md)"
        ) from None
    token = raw.strip()
    if token.startswith("{"):
        try:
            token = str(json.loads(token).get("token", "")).strip()
        except ValueError:
            token = ""
    if not token:
        raise ReporterConfigError(f"the GitLab token secret {secret_id} holds no token")
    return token


def gitlab_client(url: str, token: str, timeout: float) -> Any:
    import gitlab

    return gitlab.Gitlab(url, private_token=token, timeout=timeout, retry_transient_errors=False)


def _reporter() -> gitlab_report.Reporter:
    """One GitLab client and ledger per container (built on first use)."""
    if "reporter" not in _cached:
        import boto3

        url = _env("GITLAB_URL")
        token = read_token(boto3.client("secretsmanager"), _env("GITLAB_TOKEN_SECRET_ARN"))
        table = boto3.resource("dynamodb").Table(_env("TABLE_NAME"))
        timeout = float(os.environ.get("GITLAB_TIMEOUT_SECONDS") or 5)
        _cached["reporter"] = gitlab_report.Reporter(
            gitlab_client(url, token, timeout),
            gitlab_report.Ledger(table),
            log=lambda message, extra: logger.warning(message, extra=extra),
            secret=token,
        )
        _cached["token"] = token
    reporter: gitlab_report.Reporter = _cached["reporter"]
    return reporter


def handle(event: dict[str, Any], reporter: gitlab_report.Reporter) -> gitlab_report.Outcome:
    """Report one EventBridge event (``source: stackrelay``)."""
    if event.get("source") != gitlab_report.SOURCE or not isinstance(event.get("detail"), dict):
        outcome = gitlab_report.Outcome()
        outcome.skipped.append("not a StackRelay event")
        return outcome
    return reporter.report(gitlab_report.plan(str(event.get("detail-type")), event["detail"]))


@metrics.log_metrics
@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    raw = event.get("detail")
    detail: dict[str, Any] = raw if isinstance(raw, dict) else {}
    about = {
        "detail_type": event.get("detail-type"),
        "app": detail.get("app"),
        "stage": detail.get("stage"),
        "pipeline_id": detail.get("pipeline_id"),
    }
    try:
        outcome = handle(event, _reporter())
    except Exception as exc:  # reporting never fails: say why, count it, return
        message = gitlab_report.redact(f"{type(exc).__name__}: {exc}", _cached.get("token"))
        logger.error("GitLab report failed", extra={**about, "error": message})
        metrics.add_metric(name=FAILURE_METRIC, unit=MetricUnit.Count, value=1)
        return {"reported": [], "failed": [message], "skipped": []}
    if outcome.retries:
        metrics.add_metric(name=RETRY_METRIC, unit=MetricUnit.Count, value=outcome.retries)
    if outcome.failed:
        metrics.add_metric(name=FAILURE_METRIC, unit=MetricUnit.Count, value=len(outcome.failed))
        logger.error("GitLab report failed", extra={**about, "failed": outcome.failed})
    logger.info(
        "GitLab report",
        extra={**about, "reported": outcome.done, "skipped": outcome.skipped},
    )
    return {"reported": outcome.done, "failed": outcome.failed, "skipped": outcome.skipped}
