"""StackRelay -> GitLab: what GitLab shows of each stage, decided once.

The reporter Lambda (``tasks/report_gitlab.py``) receives StackRelay's own
events (docs/events.md) from an EventBridge rule and turns each into GitLab
API calls through python-gitlab:

- a **commit status** per stage (``stackrelay/<stage>``, plus ``/<region>`` when the
  stage deploys to several regions) in the commit's pipeline;
- a **deployment** per stage and environment (Deployments API): created running when
  the stage starts, ended success/failed/canceled, with the environment's external URL
  set to the app's URL output;
- when a change set waits for approval, the **summary note** on the merge request that
  brought the commit (else a commit comment), with the approve job's link;
- a commit status ``stackrelay/<stage>/approval`` while the approval waits.

:func:`plan` is the rule (event -> actions), pure. :class:`Reporter` carries
the actions out: bounded retries with backoff, never an exception, never the
token in a message. Events arrive at least once and in any order, so a
:class:`Ledger` (the orchestrator's table) lets each status move forward only:
a late "started" never reopens a finished stage, a duplicate is dropped.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from botocore.exceptions import ClientError

from stackrelay import clock, trust

SOURCE = "stackrelay"

STATUS_PREFIX = "stackrelay"
MAX_DESCRIPTION = 255  # GitLab refuses longer commit status descriptions
MAX_URL = 255  # and longer target_url / external_url values
MAX_NOTE = 1_000_000  # GitLab's note limit; the summary table is cut well before


# How far a status or deployment has got; a report moves it forward only.
RANK = {"pending": 1, "running": 2, "success": 3, "failed": 3, "canceled": 3, "skipped": 3}

State = Literal["pending", "running", "success", "failed", "canceled"]


# -- what to tell GitLab ------------------------------------------------------------


@dataclass(frozen=True)
class Status:
    """A commit status (``POST /projects/:id/statuses/:sha``)."""

    name: str
    state: State
    description: str
    target_url: str | None

    @property
    def key(self) -> str:
        return f"status:{self.name}"


@dataclass(frozen=True)
class Deployment:
    """A deployment of the commit to ``environment`` (Deployments API)."""

    environment: str
    state: State
    external_url: str | None = None

    @property
    def key(self) -> str:
        return f"deployment:{self.environment}"


@dataclass(frozen=True)
class Note:
    """The approval summary: on the commit's merge request, else on the commit."""

    stage: str
    body: str

    @property
    def key(self) -> str:
        return f"note:{self.stage}"

    state: State = "success"  # a note is posted once


Action = Status | Deployment | Note


@dataclass(frozen=True)
class Target:
    """Where the actions go: the project, commit and pipeline of the release."""

    project: str  # numeric id or path
    commit: str
    ref: str | None
    pipeline_id: int | None
    execution: str  # execution ARN: the ledger's scope


@dataclass(frozen=True)
class Plan:
    target: Target | None
    actions: tuple[Action, ...] = ()
    skipped: str | None = None  # why nothing is reported


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def clip(text: str, limit: int = MAX_DESCRIPTION) -> str:
    """One line of at most ``limit`` characters (GitLab refuses longer)."""
    line = " ".join(_text(text).split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "\u2026"


def _url(*candidates: Any) -> str | None:
    """The first http(s) URL GitLab accepts (at most 255 characters)."""
    for candidate in candidates:
        if (
            isinstance(candidate, str)
            and re.match(r"^https?://\S+$", candidate)
            and len(candidate) <= MAX_URL
        ):
            return candidate
    return None


def ref_slug(ref: str) -> str:
    """GitLab's CI_COMMIT_REF_SLUG: lower case, [a-z0-9] and '-', at most 63 characters."""
    slug = re.sub(r"[^a-z0-9]", "-", ref.lower())[:63]
    return slug.strip("-")


def action_of(detail: dict[str, Any]) -> str:
    """deploy, teardown or recover: the detail's ``action``, else the state machine's name."""
    action = detail.get("action")
    if action in ("deploy", "teardown", "recover"):
        return str(action)
    arn = _text(detail.get("execution_arn"))
    parts = arn.split(":")
    machine = parts[6] if len(parts) > 6 else ""
    for name in ("teardown", "recover"):
        if machine.endswith(f"-{name}"):
            return name
    return "deploy"


def status_name(detail: dict[str, Any], suffix: str = "") -> str:
    """``stackrelay/<stage>[/<region>][/<suffix>]``; the region only for a multi-region stage."""
    name = f"{STATUS_PREFIX}/{detail.get('stage') or 'release'}"
    regions = detail.get("regions")
    if isinstance(regions, list) and len(regions) > 1 and detail.get("region"):
        name += f"/{detail['region']}"
    return name + (f"/{suffix}" if suffix else "")


def environment_name(detail: dict[str, Any]) -> str:
    """The GitLab environment of the stage (as the CI template names it).

    The stage's ``environment`` (the topology's; default: the stage's name); a review
    stage's environments are one per branch, ``<environment>/<ref slug>``.
    """
    name = _text(detail.get("environment")) or _text(detail.get("stage"))
    if detail.get("trust") == trust.REVIEW:
        name = f"{name}/{ref_slug(_text(detail.get('ref')))}"
    regions = detail.get("regions")
    if isinstance(regions, list) and len(regions) > 1 and detail.get("region"):
        name += f"/{detail['region']}"
    return name


def _where(detail: dict[str, Any]) -> str:
    parts = [_text(detail.get("stack")) or _text(detail.get("stage"))]
    if detail.get("account") or detail.get("region"):
        parts.append(
            "in " + "/".join(p for p in (_text(detail.get("account")), detail.get("region")) if p)
        )
    return " ".join(parts)


def target_of(detail: dict[str, Any]) -> Target | str:
    """The commit and pipeline, or why the event cannot be reported."""
    project = detail.get("project_id") or detail.get("project")
    commit = _text(detail.get("commit"))
    if not project:
        return "the event names no GitLab project"
    if not re.match(r"^[0-9a-f]{7,64}$", commit):
        return "the event names no commit"
    pipeline = _text(detail.get("pipeline_id"))
    return Target(
        project=_text(project),
        commit=commit,
        ref=_text(detail.get("ref")) or None,
        pipeline_id=int(pipeline) if pipeline.isdigit() else None,
        execution=_text(detail.get("execution_arn")) or f"pipeline:{pipeline}:{commit}",
    )


def _failure(detail: dict[str, Any], default: str) -> str:
    reason = _text(detail.get("reason")) or default
    fix = _text(detail.get("fix"))
    return f"{reason} Fix: {fix}" if fix else reason


def plan(detail_type: str, detail: dict[str, Any]) -> Plan:
    """What GitLab should show after one StackRelay event."""
    target = target_of(detail)
    if isinstance(target, str):
        return Plan(target=None, skipped=target)
    action = "recover" if detail_type == "Stage Recovered" else action_of(detail)
    console = detail.get("console_url")
    stage_url = _url(console, detail.get("stack_console_url"), detail.get("pipeline_url"))
    where = _where(detail)
    actions: list[Action] = []

    if action != "deploy":
        # Teardown and recover: a status of their own, no GitLab deployment.
        name = status_name(detail, action)
        verb = "Deleting" if action == "teardown" else "Recovering"
        simple: dict[str, tuple[State, str]] = {
            "Stage Started": ("running", f"{verb} {where}"),
            "Review Torn Down": ("success", f"Deleted {where}"),
            "Stage Deployed": ("success", f"Recovered {where}"),
            "Stage Recovered": ("success", f"Recovered {where}"),
            "Stage Failed": ("failed", _failure(detail, f"{action} failed")),
            "Stage Rolled Back": ("failed", _failure(detail, f"{action} rolled back")),
        }
        if detail_type in simple:
            state, text = simple[detail_type]
            actions.append(Status(name, state, clip(text), stage_url))
        return Plan(target, tuple(actions), None if actions else f"nothing to show for {action}")

    if detail_type in ("Release Started", "Reaper Action"):
        return Plan(target, (), f"{detail_type}: nothing to show per stage")
    if not detail.get("stage"):
        return Plan(target, (), f"{detail_type} names no stage")
    name = status_name(detail)
    env = environment_name(detail)
    app_url = _url(detail.get("app_url"))
    headline = _text(detail.get("headline"))

    if detail_type == "Stage Started":
        actions += [
            Status(name, "running", clip(f"Deploying {where}"), stage_url),
            Deployment(env, "running"),
        ]
    elif detail_type == "Stage Deployed":
        text = f"Deployed {where}" + (f": {headline}" if headline else "")
        actions += [
            Status(name, "success", clip(text), stage_url),
            Deployment(env, "success", app_url),
        ]
    elif detail_type == "Stage No Changes":
        actions += [
            Status(name, "success", clip(f"No changes to {where}"), stage_url),
            Deployment(env, "success", app_url),
        ]
    elif detail_type in ("Stage Failed", "Stage Rolled Back"):
        default = "failed" if detail_type == "Stage Failed" else "rolled back"
        prefix = "" if detail_type == "Stage Failed" else "Rolled back: "
        actions += [
            Status(name, "failed", clip(prefix + _failure(detail, default)), stage_url),
            Deployment(env, "failed"),
        ]
    elif detail_type == "Approval Requested":
        approve = _url(detail.get("approve_job_url"), detail.get("pipeline_url"), console)
        actions += [
            Status(
                status_name(detail, "approval"),
                "pending",
                clip(f"Waiting for approval: {headline or where}"),
                approve,
            ),
            Note(_text(detail.get("stage")), approval_note(detail)),
        ]
    elif detail_type == "Approval Decided":
        who = _text(detail.get("approver")) or "someone"
        reason = _text(detail.get("reason"))
        if detail.get("decision") == "approved":
            actions.append(
                Status(
                    status_name(detail, "approval"),
                    "success",
                    clip(f"Approved by {who}"),
                    stage_url,
                )
            )
        else:
            text = f"Rejected by {who}" + (f": {reason}" if reason else "")
            actions += [
                Status(status_name(detail, "approval"), "failed", clip(text), stage_url),
                Status(name, "canceled", clip(text), stage_url),
                Deployment(env, "canceled"),
            ]
    elif detail_type == "Approval Expired":
        text = "The approval expired; run the pipeline again to review a new change set"
        actions += [
            Status(status_name(detail, "approval"), "canceled", clip(text), stage_url),
            Status(name, "canceled", clip(text), stage_url),
            Deployment(env, "canceled"),
        ]
    elif detail_type == "Review Torn Down":
        actions.append(
            Status(status_name(detail, "teardown"), "success", clip(f"Deleted {where}"), stage_url)
        )
    else:
        return Plan(target, (), f"unknown detail-type {detail_type!r}")
    return Plan(target, tuple(actions))


# -- the approval note ---------------------------------------------------------------


def _cell(text: Any) -> str:
    """Text safe inside one markdown table cell or line."""
    return re.sub(r"[|\r\n]+", " ", _text(text)).strip()


def approval_note(detail: dict[str, Any]) -> str:
    """Markdown for the approver: headline, flags, table, digest, approve link."""
    raw = detail.get("summary")
    summary: dict[str, Any] = raw if isinstance(raw, dict) else {}
    stage = _cell(detail.get("stage"))
    headline = _cell(summary.get("headline") or detail.get("headline") or "changes")
    flags = [
        label
        for key, label in (
            ("replacement", "**replaces** resources"),
            ("deletion", "**deletes** resources"),
            ("iam", "changes **IAM**"),
        )
        if summary.get(key)
    ]
    lines = [
        f"### StackRelay: the `{stage}` change set waits for your approval",
        "",
        f"**{headline}**",
        "",
        (":warning: This change " + ", ".join(flags) + ".")
        if flags
        else "No replacements, deletions or IAM changes.",
        "",
    ]
    table = _text(summary.get("table")).strip()
    if table:
        lines += [table[:60_000], ""]
    facts = [
        ("Stack", _cell(detail.get("stack"))),
        (
            "Account / region",
            "/".join(p for p in (_cell(detail.get("account")), _cell(detail.get("region"))) if p),
        ),
        ("Change set digest", f"`{_cell(summary.get('digest'))}`" if summary.get("digest") else ""),
        ("Expires", _cell(detail.get("expires_at"))),
    ]
    lines += [f"- {k}: {v}" for k, v in facts if v]
    approve = _url(detail.get("approve_job_url"))
    execution = _url(detail.get("console_url"))
    lines.append("")
    if approve:
        lines.append(
            f"**[Approve or reject in the pipeline]({approve})**: the job approves exactly "
            "this digest."
        )
    if execution:
        lines.append(f"[The release in Step Functions]({execution})")
    return "\n".join(lines).strip() + "\n"


# -- carrying it out ---------------------------------------------------------------


class Ledger:
    """How far each status/deployment of an execution has got (the orchestrator's table).

    Items: ``pk = GITLAB#<execution arn>``, ``sk = <action key>``, ``rank``, and the
    GitLab ids a later event needs (deployment, environment).
    """

    def __init__(self, table: Any) -> None:
        self._table = table

    @staticmethod
    def _key(execution: str, key: str) -> dict[str, str]:
        return {"pk": f"GITLAB#{execution}", "sk": key}

    def claim(self, execution: str, key: str, rank: int) -> dict[str, Any] | None:
        """Move ``key`` to ``rank`` if it is further; the item before, or None if not further."""
        try:
            response = self._table.update_item(
                Key=self._key(execution, key),
                UpdateExpression="SET #r = :r, kind = :k, updated_at = :t",
                ConditionExpression="attribute_not_exists(#r) OR #r < :r",
                ExpressionAttributeNames={"#r": "rank"},
                ExpressionAttributeValues={
                    ":r": rank,
                    ":k": "gitlab-report",
                    ":t": int(clock.now()),
                },
                ReturnValues="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return None
            raise
        return dict(response.get("Attributes") or {})

    def remember(self, execution: str, key: str, **values: Any) -> None:
        names = {f"#{i}": k for i, k in enumerate(values)}
        self._table.update_item(
            Key=self._key(execution, key),
            UpdateExpression="SET " + ", ".join(f"#{i} = :{i}" for i in range(len(values))),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={f":{i}": v for i, v in enumerate(values.values())},
        )


class MemoryLedger(Ledger):
    """A ledger in memory (one process): for `stackrelay local` tools and tests."""

    def __init__(self) -> None:
        self._items: dict[tuple[str, str], dict[str, Any]] = {}

    def claim(self, execution: str, key: str, rank: int) -> dict[str, Any] | None:
        old = self._items.get((execution, key))
        if old is not None and old["rank"] >= rank:
            return None
        self._items[(execution, key)] = {**(old or {}), "rank": rank}
        return dict(old or {})

    def remember(self, execution: str, key: str, **values: Any) -> None:
        self._items.setdefault((execution, key), {"rank": 0}).update(values)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries: ``attempts`` tries, waits growing by ``factor`` with full jitter."""

    attempts: int = 3
    first_delay: float = 0.5
    factor: float = 3.0
    max_delay: float = 4.0

    def delays(self) -> Iterable[float]:
        delay = self.first_delay
        for _ in range(self.attempts - 1):
            yield min(self.max_delay, delay) * (0.5 + random.random() / 2)
            delay *= self.factor


class GitLabUnavailable(Exception):
    """GitLab did not take a report after the bounded retries (or is known to be down)."""


def _http_code(exc: BaseException) -> int | None:
    code = getattr(exc, "response_code", None)
    return int(code) if isinstance(code, int) else None


def transient(exc: BaseException) -> bool:
    """Worth another try: GitLab busy or unreachable (5xx, 429, connection, timeout)."""
    import requests

    code = _http_code(exc)
    if code is not None:
        return code >= 500 or code == 429
    return isinstance(exc, (requests.ConnectionError, requests.Timeout))


def redact(text: str, secret: str | None) -> str:
    return text.replace(secret, "[redacted]") if secret else text


def describe_error(exc: BaseException, secret: str | None = None) -> str:
    code = _http_code(exc)
    message = getattr(exc, "error_message", None) or str(exc) or type(exc).__name__
    text = f"HTTP {code}: {message}" if code else f"{type(exc).__name__}: {message}"
    return redact(clip(text, 500), secret)


# python-gitlab's own retries are off: ours are bounded and counted.
CALL = {"obey_rate_limit": False, "retry_transient_errors": False, "max_retries": 0}


@dataclass
class Outcome:
    """What one event's report did: for logs, metrics and tests."""

    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    retries: int = 0


class Reporter:
    """Carries a :class:`Plan` out against GitLab; never raises.

    ``gitlab`` is a ``gitlab.Gitlab`` (python-gitlab). ``sleep`` waits between retries.
    ``secret`` is only used to keep it out of every message this class produces.
    """

    def __init__(
        self,
        gitlab: Any,
        ledger: Ledger,
        *,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] | None = None,
        log: Callable[[str, dict[str, Any]], None] = lambda message, extra: None,
        secret: str | None = None,
    ) -> None:
        import time

        self._gl = gitlab
        self._ledger = ledger
        self._policy = policy or RetryPolicy()
        self._sleep = sleep or time.sleep
        self._log = log
        self._secret = secret
        self._down: str | None = None  # set once GitLab failed for good in this invocation

    def _call(self, what: str, fn: Callable[[], Any], outcome: Outcome) -> Any:
        if self._down:
            raise GitLabUnavailable(f"{what}: skipped, GitLab is unavailable ({self._down})")
        delays = iter(self._policy.delays())
        attempt = 1
        while True:
            try:
                return fn()
            except Exception as exc:
                error = describe_error(exc, self._secret)
                if not transient(exc):
                    raise GitLabUnavailable(f"{what}: {error}") from None
                delay = next(delays, None)
                if delay is None:
                    self._down = error
                    raise GitLabUnavailable(f"{what}: {error} (after {attempt} attempts)") from None
                outcome.retries += 1
                self._log(
                    "GitLab call failed, retrying",
                    {"call": what, "attempt": attempt, "error": error, "delay": round(delay, 2)},
                )
                self._sleep(delay)
                attempt += 1

    def report(self, planned: Plan) -> Outcome:
        outcome = Outcome()
        if planned.target is None or not planned.actions:
            outcome.skipped.append(planned.skipped or "nothing to report")
            return outcome
        target = planned.target
        project = self._gl.projects.get(target.project, lazy=True)
        for action in planned.actions:
            label = f"{type(action).__name__.lower()} {action.key} -> {action.state}"
            try:
                previous = self._ledger.claim(target.execution, action.key, RANK[action.state])
            except Exception as exc:  # the ledger is best effort: report anyway
                self._log("Ledger unavailable", {"error": describe_error(exc)})
                previous = {}
            if previous is None:
                outcome.skipped.append(f"{label}: already reported (or further)")
                continue
            try:
                if isinstance(action, Status):
                    self._status(project, target, action, outcome)
                elif isinstance(action, Deployment):
                    self._deployment(project, target, action, previous, outcome)
                else:
                    self._note(project, target, action, outcome)
            except GitLabUnavailable as exc:
                outcome.failed.append(redact(str(exc), self._secret))
                continue
            outcome.done.append(label)
        return outcome

    # -- the calls --------------------------------------------------------------

    def _status(self, project: Any, target: Target, status: Status, outcome: Outcome) -> None:
        data: dict[str, Any] = {
            "state": status.state,
            "name": status.name,
            "description": status.description,
        }
        if status.target_url:
            data["target_url"] = status.target_url
        if target.ref:
            data["ref"] = target.ref
        if target.pipeline_id is not None:
            data["pipeline_id"] = target.pipeline_id
        commit = project.commits.get(target.commit, lazy=True)
        self._call(
            f"commit status {status.name}", lambda: commit.statuses.create(data, **CALL), outcome
        )

    def _deployment(
        self,
        project: Any,
        target: Target,
        deployment: Deployment,
        previous: dict[str, Any],
        outcome: Outcome,
    ) -> None:
        deployment_id = previous.get("deployment_id")
        environment_id = previous.get("environment_id")
        what = f"deployment to {deployment.environment}"
        if deployment_id is None:
            created = self._call(
                what,
                lambda: project.deployments.create(
                    {
                        "environment": deployment.environment,
                        "sha": target.commit,
                        "ref": target.ref or target.commit,
                        "tag": False,
                        "status": deployment.state,
                    },
                    **CALL,
                ),
                outcome,
            )
            deployment_id = created.get_id()
            environment_id = (getattr(created, "environment", None) or {}).get("id")
            try:
                self._ledger.remember(
                    target.execution,
                    deployment.key,
                    deployment_id=int(deployment_id),
                    **({"environment_id": int(environment_id)} if environment_id else {}),
                )
            except Exception as exc:
                self._log("Ledger unavailable", {"error": describe_error(exc)})
        else:
            self._call(
                what,
                lambda: project.deployments.update(
                    int(deployment_id), {"status": deployment.state}, **CALL
                ),
                outcome,
            )
        if deployment.external_url and environment_id:
            self._call(
                f"environment {deployment.environment} URL",
                lambda: project.environments.update(
                    int(environment_id), {"external_url": deployment.external_url}, **CALL
                ),
                outcome,
            )

    def _note(self, project: Any, target: Target, note: Note, outcome: Outcome) -> None:
        commit = project.commits.get(target.commit, lazy=True)
        found = self._call(
            "merge requests of the commit",
            lambda: list(commit.merge_requests(**CALL)),
            outcome,
        )
        chosen = choose_merge_request(found, target.ref)
        body = note.body[:MAX_NOTE]
        if chosen is not None:
            mr = project.mergerequests.get(chosen, lazy=True)
            self._call(
                f"note on merge request !{chosen}",
                lambda: mr.notes.create({"body": body}, **CALL),
                outcome,
            )
        else:
            self._call(
                "commit comment",
                lambda: commit.comments.create({"note": body}, **CALL),
                outcome,
            )


def choose_merge_request(found: list[Any], ref: str | None) -> int | None:
    """The MR that brought the commit to ``ref``: merged into it first, then open ones."""
    candidates = [m for m in found if isinstance(m, dict) and m.get("iid") is not None]
    if not candidates:
        return None

    def score(mr: dict[str, Any]) -> tuple[int, int, int]:
        into_ref = int(ref is not None and mr.get("target_branch") == ref)
        state = {"merged": 2, "opened": 1}.get(_text(mr.get("state")), 0)
        return (into_ref, state, int(mr.get("iid") or 0))

    return int(max(candidates, key=score)["iid"])
