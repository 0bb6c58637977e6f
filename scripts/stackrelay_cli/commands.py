"""What each command does. ``main`` parses; this module acts.

Every command takes a boto3 session and the parsed arguments, and returns an
exit code. They share the core's rules (input model, naming, summaries) and
never re-derive them.
"""

from __future__ import annotations

import json
import os
import time
from argparse import Namespace
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError
from rich.live import Live
from stackrelay import changeset, clock, statenames
from stackrelay.model import StartCommand

from stackrelay_cli import ci_input, progress, render
from stackrelay_cli.errors import (
    ERROR_EXIT,
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_INVALID,
    EXIT_NOT_FOUND,
    EXIT_OK,
    CliError,
)
from stackrelay_cli.orchestrator import Orchestrator, resolve

WATCH_INTERVAL = float(os.environ.get("STACKRELAY_WATCH_INTERVAL", "2"))
WATCH_MAX_INTERVAL = float(os.environ.get("STACKRELAY_WATCH_MAX_INTERVAL", "15"))


# -- publish -----------------------------------------------------------------


def publish(session: boto3.Session, args: Namespace) -> int:
    from botocore.exceptions import NoCredentialsError

    from stackrelay_cli import build  # only publish builds and reads templates

    if session.get_credentials() is None:
        # Before a SAM build: `sam package` would fail later with a less helpful error.
        raise NoCredentialsError()
    bucket = args.bucket or resolve(session, need=("bucket",)).bucket
    try:
        artifact = build.publish(
            Path(args.app_dir), args.app, session, bucket, use_container=args.use_container
        )
    except build.BuildError as exc:
        raise CliError(str(exc), exc.code) from None
    data = {
        **artifact.as_input(),
        "objects": [o.as_manifest() for o in artifact.objects],
        "uploaded": artifact.uploaded,
        "reused": artifact.reused,
        "built_by": artifact.built_by,
        "boundary_note": artifact.boundary_note,
        "layer_note": artifact.layer_note,
    }
    if args.output:
        Path(args.output).write_text(json.dumps(artifact.as_input(), indent=2) + "\n")
    if args.json:
        render.emit_json(data)
    else:
        render.console.print(
            render.key_values(
                {
                    "artifact": f"s3://{artifact.bucket}/{artifact.key}",
                    "version": artifact.version,
                    "sha256": artifact.sha256,
                    "covers": f"{len(artifact.objects)} object(s), each pinned by version",
                    "built by": artifact.built_by,
                    "uploaded": f"{len(artifact.uploaded)} new object(s)",
                    "reused": f"{len(artifact.reused)} unchanged object(s)",
                }
            )
        )
        for note in (artifact.boundary_note, artifact.layer_note):
            if note:
                render.console.print(f"note: {note}")
    return EXIT_OK


# -- start / status / watch ----------------------------------------------------


def _artifact(args: Namespace) -> dict[str, Any] | None:
    if args.artifact_file:
        path = Path(args.artifact_file)
        if not path.is_file():
            raise CliError(
                f"{path} does not exist: run `stackrelay publish --output {path}` first.",
                EXIT_INVALID,
            )
        try:
            return dict(json.loads(path.read_text()))
        except ValueError as exc:
            raise CliError(
                f"{path} is not the JSON `stackrelay publish` writes: {exc}", EXIT_INVALID
            ) from None
    if args.artifact_key or args.artifact_sha256 or args.artifact_version:
        return {
            "bucket": args.bucket,
            "key": args.artifact_key,
            "sha256": args.artifact_sha256,
            "version": args.artifact_version,
        }
    return None


def start_execution(session: boto3.Session, orch: Orchestrator, command: StartCommand) -> str:
    """Ask the start function to start ``command``; the execution's ARN.

    CI roles may not call StartExecution: the start function verifies the job's
    ID token and starts the execution with the token's claims.
    """
    if not orch.start_function:
        raise CliError(
            "The orchestrator has no start function (output StartFunctionName, or "
            "STACKRELAY_START_FUNCTION): update it with `sam deploy`.",
            EXIT_CONFIG,
        )
    return str(invoke(session, orch.start_function, command.payload())["executionArn"])


def start(session: boto3.Session, args: Namespace) -> int:
    orch = resolve(session, need=("start_function",))
    artifact = _artifact(args)
    if artifact is not None and not artifact.get("bucket"):
        artifact["bucket"] = orch.bucket or resolve(session, need=("bucket",)).bucket
    token = ci_input.identity_token(getattr(args, "id_token_file", None))
    committed = os.environ.get(ci_input.COMMIT_TIMESTAMP_VARIABLE)
    command = ci_input.build(args.app, "deploy", token, artifact, committed)
    arn = start_execution(session, orch, command)
    return started(session, orch, arn, args)


def write_dotenv(path: Path, arn: str, console_url: str) -> None:
    """What later jobs and the environment's URL read (a GitLab ``reports: dotenv``)."""
    lines = {
        "STACKRELAY_EXECUTION_ARN": arn,
        "STACKRELAY_EXECUTION_NAME": arn.rsplit(":", 1)[-1],
        "STACKRELAY_EXECUTION_URL": console_url,
    }
    path.write_text("".join(f"{key}={value}\n" for key, value in lines.items()))


def started(session: boto3.Session, orch: Orchestrator, arn: str, args: Namespace) -> int:
    """After StartExecution: print (or write) where it runs, and follow it with --wait."""
    if getattr(args, "dotenv", None):
        write_dotenv(Path(args.dotenv), arn, orch.console_url(arn))
    if args.json and not args.wait:
        name = arn.rsplit(":", 1)[-1]
        render.emit_json({"executionArn": arn, "name": name, "consoleUrl": orch.console_url(arn)})
        return EXIT_OK
    if not args.json:
        render.console.print(f"Started [bold]{arn.rsplit(':', 1)[-1]}[/]", soft_wrap=True)
        render.console.print(f"  {orch.console_url(arn)}", soft_wrap=True)
    if not args.wait:
        return EXIT_OK
    return report(follow(session, arn, until=args.until, quiet=args.json), args)


class Backoff:
    """How the CLI waits between looks at an execution on AWS.

    Starts at ``STACKRELAY_WATCH_INTERVAL`` (2 s), grows by half while nothing
    changes, up to ``STACKRELAY_WATCH_MAX_INTERVAL`` (15 s), and starts small
    again as soon as something moved: a quiet stack wait costs a few calls a
    minute, a busy stretch is shown promptly.
    """

    def __init__(
        self,
        first: float = WATCH_INTERVAL,
        most: float = WATCH_MAX_INTERVAL,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.first, self.most = first, max(first, most)
        self.delay = first
        self._sleep = sleep

    def __call__(self, changed: bool) -> None:
        self.delay = self.first if changed else min(self.most, self.delay * 1.5)
        self._sleep(self.delay)


Until = str | Callable[[progress.Progress], bool] | None
"""Where ``follow`` stops before the end: a stage (or target) waiting for approval, or a
test of the progress."""


def follow(
    session: boto3.Session,
    arn: str,
    until: Until = None,
    quiet: bool = False,
    wait: Callable[[bool], None] | None = None,
) -> progress.Progress:
    """Follow the execution until it ends (or parks on ``until``'s approval).

    Each look reads only what is new (:class:`progress.Follower`). ``wait(changed)``
    passes the time between looks: :class:`Backoff` on AWS by default; the local
    engine passes one that wakes when the execution moves.
    """
    follower = progress.Follower(session.client("stepfunctions"), arn)
    wait = wait or Backoff()
    current = follower.poll()

    def reached() -> bool:
        if current.done:
            return True
        if callable(until):
            return until(current)
        waiting = progress.WAITING_STEPS[statenames.WAIT_FOR_APPROVAL]
        return until is not None and any(s.step == waiting for s in current.targets(until))

    if quiet or not render.console.is_terminal:
        seen: dict[str, str] = {}
        while not reached():
            if not quiet:
                for s in current.stages:
                    name = s.target or s.stage
                    if seen.get(name) != s.step:
                        seen[name] = s.step
                        render.console.print(f"  {name:<8} {s.stack}: {s.step}")
            wait(follower.changed)
            current = follower.poll()
        return current
    with Live(render.stage_table(current), console=render.console, refresh_per_second=4) as live:
        while not reached():
            wait(follower.changed)
            current = follower.poll()
            live.update(render.stage_table(current))
    return current


def report(result: progress.Progress, args: Namespace) -> int:
    """Print an execution's stages; the exit code says whether it failed."""
    if args.json:
        render.emit_json(render.progress_json(result))
    else:
        render.console.print(
            render.stage_table(result, title=f"{result.app or ''} {result.status}")
        )
        if result.error:
            render.errors.print(f"[red]{result.error}[/]: {result.cause}")
    if result.status in ("RUNNING", "SUCCEEDED"):
        return EXIT_OK
    return EXIT_FAILED


def status(session: boto3.Session, args: Namespace) -> int:
    result = progress.fetch(
        session.client("stepfunctions"), _execution_arn(session, args.execution)
    )
    return report(result, args)


def watch(session: boto3.Session, args: Namespace) -> int:
    arn = _execution_arn(session, args.execution)
    return report(follow(session, arn, quiet=args.json), args)


def _execution_arn(session: boto3.Session, name_or_arn: str) -> str:
    if name_or_arn.startswith("arn:"):
        return name_or_arn
    orch = resolve(session, need=("state_machine_arn",))
    for machine in (orch.state_machine_arn, orch.teardown_state_machine_arn):
        if not machine:
            continue
        arn = machine.replace(":stateMachine:", ":execution:") + f":{name_or_arn}"
        try:
            session.client("stepfunctions").describe_execution(executionArn=arn)
            return arn
        except ClientError:
            continue
    raise CliError(
        f"No execution named {name_or_arn!r}: pass its name or ARN as "
        "`stackrelay start` printed it.",
        EXIT_INVALID,
    )


# -- approvals -------------------------------------------------------------------


def invoke(session: boto3.Session, function: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Invoke an orchestrator function; its domain errors become CLI errors."""
    response = session.client("lambda").invoke(
        FunctionName=function, Payload=json.dumps(payload).encode()
    )
    body = json.loads(response["Payload"].read() or b"null")
    if response.get("FunctionError"):
        kind = (body or {}).get("errorType", "Error")
        message = (body or {}).get("errorMessage", "the function failed")
        raise CliError(f"{kind}: {message}", ERROR_EXIT.get(kind, EXIT_FAILED))
    return dict(body or {})


def _approval_base(args: Namespace) -> dict[str, Any]:
    """Who asks (the ID token) and which approval; never who approves as a field."""
    base: dict[str, Any] = {
        "id_token": ci_input.identity_token(getattr(args, "id_token_file", None)),
        "app": args.app,
    }
    for name in ("stage", "pipeline_id", "execution"):
        value = getattr(args, name, None)
        if value:
            base[name] = value
    return base


def pending(session: boto3.Session, args: Namespace) -> int:
    orch = resolve(session, need=("approval_function",))
    found = invoke(session, orch.approval_function, {"action": "list", **_approval_base(args)})
    rows = found["approvals"]
    if args.json:
        render.emit_json(rows)
        return EXIT_OK
    if not rows:
        render.console.print("No approvals are waiting.")
        return EXIT_OK
    for row in rows:
        row["expires"] = _ago(row["expires_at"] - clock.now(), future=True)
    render.console.print(
        render.records_table(
            rows,
            ["app", "pipeline_id", "stage", "stack", "commit", "headline", "expires"],
            title="Waiting for approval",
        )
    )
    return EXIT_OK


APPROVE_POLL = float(os.environ.get("STACKRELAY_APPROVE_POLL", "10"))


def _release_ended(session: boto3.Session, execution_arn: str | None) -> str | None:
    """The release's final status if it ended (nothing left to approve), else None."""
    if not execution_arn:
        return None
    try:
        found = session.client("stepfunctions").describe_execution(executionArn=execution_arn)
    except ClientError:
        return None  # not allowed or not found: keep waiting on the approval alone
    return None if found["status"] == "RUNNING" else str(found["status"])


def wait_for_approval(
    session: boto3.Session,
    function: str,
    key: dict[str, Any],
    wait: float,
    execution_arn: str | None = None,
    poll: float | None = None,
) -> dict[str, Any]:
    """The approval's ``show`` view, waiting up to ``wait`` seconds for it to exist.

    An approve job clicked seconds after the release finds no approval yet: the prod
    change set is created after staging deploys. It polls (printing progress on stderr)
    until the approval exists, the release ends without one, or ``wait`` runs out.
    """
    poll = APPROVE_POLL if poll is None else poll
    started = time.monotonic()
    stage = key.get("stage") or "the approval stage"
    # The pipeline comes from the job's token; shown from GitLab's variable when there.
    pipeline = key.get("pipeline_id") or os.environ.get("CI_PIPELINE_ID")
    of = f"{key.get('app')} pipeline {pipeline}" if pipeline else str(key.get("app"))
    where = f"{of} ({stage})"
    while True:
        try:
            return dict(invoke(session, function, {"action": "show", **key})["approval"])
        except CliError as exc:
            if exc.code != EXIT_NOT_FOUND:
                raise
            waited = time.monotonic() - started
            if waited >= wait:
                if wait:
                    raise CliError(
                        f"No approval for {where} after waiting {wait:.0f} s: the release has "
                        "not reached the approval yet. Run this job again later (or raise "
                        "--wait / STACKRELAY_APPROVE_WAIT); `stackrelay pending` lists what "
                        "waits.",
                        EXIT_NOT_FOUND,
                    ) from None
                raise
            ended = _release_ended(session, execution_arn)
            if ended is not None:
                raise CliError(
                    f"The release {execution_arn.rsplit(':', 1)[-1] if execution_arn else ''} "
                    f"ended {ended} before {stage} waited for approval: there is "
                    "nothing to approve. `stackrelay status` shows why.",
                    EXIT_NOT_FOUND,
                ) from None
            render.errors.print(
                f"waiting for the {stage} change set of {of} to wait for approval "
                f"({waited:.0f} s of {wait:.0f} s)",
                soft_wrap=True,
            )
            time.sleep(max(0.0, min(poll, wait - waited)))


def decide(session: boto3.Session, args: Namespace, action: str) -> int:
    """Show the change summary, then send the decision bound to what was shown.

    The second call names the exact approval that was shown (its execution) and
    carries the digest of the summary printed; the function refuses it if the
    waiting change set is not that one (SummaryMismatch). The approver is the
    ID token's user, checked by the function.
    """
    orch = resolve(session, need=("approval_function",))
    base = _approval_base(args)
    shown = wait_for_approval(
        session,
        orch.approval_function,
        base,
        wait=getattr(args, "wait", 0) or 0,
        execution_arn=os.environ.get("STACKRELAY_EXECUTION_ARN"),
    )
    decided: set[str] = set()
    while True:
        _decide_one(session, orch.approval_function, base, shown, args, action)
        decided.add(shown["stage"])
        if not shown.get("wave") or shown["wave"] == shown["stage"]:
            return EXIT_OK
        # A stage in several regions waits once per region (each its own change set and
        # digest): show and decide every region of it, waiting (--wait) for the regions
        # that ask later (a wave with concurrency 1).
        following = _next_region(session, orch.approval_function, base, shown, decided, args)
        if following is None:
            return EXIT_OK
        shown = following


def _next_region(
    session: boto3.Session,
    function: str,
    base: dict[str, Any],
    shown: dict[str, Any],
    decided: set[str],
    args: Namespace,
) -> dict[str, Any] | None:
    """The next undecided region of ``shown``'s stage that waits; None when none will."""
    key = {**base, "execution": shown["execution"], "stage": shown["wave"]}
    left = int(shown.get("wave_size") or 1) - len(decided)
    wait = getattr(args, "wait", 0) or 0
    started = time.monotonic()
    while left > 0:
        try:
            found = dict(invoke(session, function, {"action": "show", **key})["approval"])
        except CliError as exc:
            if exc.code != EXIT_NOT_FOUND:
                raise
            found = {}
        if found.get("stage") not in decided and found.get("status") == "pending":
            return found
        ended = _release_ended(session, shown.get("execution_arn"))
        if ended is not None or time.monotonic() - started >= wait:
            if ended is None:
                render.errors.print(
                    f"{left} more region(s) of {shown['wave']} will ask for approval when "
                    "their turn comes: run this job again then (or raise --wait).",
                    soft_wrap=True,
                )
            return None
        time.sleep(APPROVE_POLL)
    return None


def _decide_one(
    session: boto3.Session,
    function: str,
    base: dict[str, Any],
    shown: dict[str, Any],
    args: Namespace,
    action: str,
) -> None:
    """Print one approval's summary; send the decision bound to its digest."""
    if not args.json:
        render.console.print(
            f"[bold]{shown['stack']}[/] in {shown['account']} "
            f"({shown['ref']}@{str(shown['commit'])[:12]})",
            soft_wrap=True,
        )
        render.console.print(changeset.render(shown["summary"]))
    decision = {
        **base,
        "action": action,
        "execution": shown["execution"],
        "stage": shown["stage"],
        "digest": shown["digest"],
    }
    if args.reason:
        decision["reason"] = args.reason
    result = invoke(session, function, decision)["approval"]
    # One region of a stage in several regions: say which.
    region = f" {shown['stage']}" if shown.get("wave") not in (None, shown["stage"]) else ""
    if args.json:
        render.emit_json({k: v for k, v in result.items() if k != "summary_text"})
    else:
        render.console.print(
            f"[green]{result['status'].capitalize()}[/]{region} by {result.get('decided_by')}.",
            soft_wrap=True,
        )


def _ago(seconds: float, future: bool = False) -> str:
    seconds = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            text = f"{seconds / size:.0f}{unit}"
            break
    else:
        text = f"{seconds:.0f}s"
    return f"in {text}" if future else f"{text} ago"
