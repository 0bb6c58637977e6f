"""Review stacks and repairs: teardown, reviews, recover, history.

Long waits (a stack deleting, a rollback continuing) run in Step Functions,
like releases; these commands start an execution and follow it. Reads go
through the orchestrator's operations function, so a person needs no access
to the target accounts or the table.
"""

from __future__ import annotations

import time
from argparse import Namespace
from typing import Any

from stackrelay import clock

from stackrelay_cli import ci_input, commands, render
from stackrelay_cli.errors import (
    ERROR_EXIT,
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_INVALID,
    EXIT_OK,
    CliError,
)
from stackrelay_cli.orchestrator import Orchestrator, resolve


def _operations(orch: Orchestrator) -> str:
    if not orch.operations_function:
        raise CliError(
            "This orchestrator has no operations function (OperationsFunctionName "
            "output); update it with `sam deploy`.",
            EXIT_CONFIG,
        )
    return orch.operations_function


def teardown(session: Any, args: Namespace) -> int:
    orch = resolve(session, need=("start_function",))
    token = ci_input.identity_token(getattr(args, "id_token_file", None))
    command = ci_input.build(args.app, "teardown", token, None)
    arn = commands.start_execution(session, orch, command)
    return commands.started(session, orch, arn, args)


def register(session: Any, args: Namespace) -> int:
    """Bind an app to its GitLab project (administrators: writes the orchestrator's table).

    No CI role may write the table, so only an administrator's credentials can
    register or move an app (docs/setup.md, step 4).
    """
    from stackrelay import registry
    from stackrelay.errors import StackRelayError

    orch = resolve(session, need=("table",))
    who = session.client("sts").get_caller_identity()["Arn"]
    table = session.resource("dynamodb").Table(orch.table)
    try:
        item = registry.register(
            table, args.app, args.project_id, args.project_path, by=who, replace=args.replace
        )
    except StackRelayError as exc:
        kind = type(exc).__name__
        raise CliError(f"{kind}: {exc}", ERROR_EXIT.get(kind, EXIT_FAILED)) from None
    if args.json:
        render.emit_json(item)
    else:
        render.console.print(
            f"{item['app']} belongs to GitLab project {item['project_path']} "
            f"(id {item['project_id']}). Its stacks run as its own execution role: deploy "
            f"setup/target-app.yaml with AppName={item['app']} in each target account "
            "(docs/setup.md, step 3b).",
            soft_wrap=True,
        )
    return EXIT_OK


def recover(session: Any, args: Namespace) -> int:
    orch = resolve(session)
    result = commands.invoke(
        session,
        _operations(orch),
        {"action": "recover", "app": args.app, "stage": args.stage, "skip": args.skip},
    )
    arn = result["executionArn"]
    if not args.json:
        render.console.print(
            f"Continuing the rollback of [bold]{result['stack']}[/] "
            f"({result['status']}); skipping: {', '.join(args.skip) or 'nothing'}"
        )
    return commands.report(commands.follow(session, arn, quiet=args.json), args)


def reviews(session: Any, args: Namespace) -> int:
    orch = resolve(session)
    found = commands.invoke(
        session, _operations(orch), {"action": "reviews", "app": args.app, "stale": args.stale}
    )
    rows = found["reviews"]
    if args.json:
        render.emit_json(rows)
        return EXIT_OK
    now = clock.now()
    for row in rows:
        row["age"] = _age(now - row["deployed_at"])
    title = (
        f"Review stacks not deployed for {found['retention_days']} days (the reaper deletes these)"
        if args.stale
        else "Review stacks"
    )
    render.console.print(
        render.records_table(rows, ["app", "ref", "stack", "age", "outcome", "url"], title=title)
    )
    return EXIT_OK


def history(session: Any, args: Namespace) -> int:
    if not 1 <= args.limit <= 500:
        raise CliError("--limit must be between 1 and 500.", EXIT_INVALID)
    orch = resolve(session)
    request = {"action": "history", "app": args.app, "limit": args.limit}
    if getattr(args, "stage", None):
        request["history_stage"] = args.stage
    found = commands.invoke(session, _operations(orch), request)
    rows = found["records"]
    if args.json:
        render.emit_json(rows)
        return EXIT_OK
    render.console.print(
        render.records_table(
            [audit_row(row) for row in rows],
            [
                "when",
                "stage",
                "commit",
                "change set",
                "approved by",
                "approved at",
                "job",
                "outcome",
                "what happened",
            ],
            title=f"{args.app}: recent deployments",
        )
    )
    if found.get("retention"):
        render.console.print(f"[dim]{found['retention']}[/]")
    return EXIT_OK


def _when(epoch: Any) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(float(epoch))) if epoch else ""


def audit_row(row: dict[str, Any]) -> dict[str, Any]:
    """One record as the audit trail reads it: who approved which change set, when, from
    which job, and what happened next."""
    decided = row.get("approval_status")
    approver = row.get("approver") or ""
    if decided and decided != "approved":
        approver = f"{decided}: {approver}".rstrip(": ")
    happened = row.get("url") or "" if row.get("outcome") == "deployed" else row.get("reason")
    if row.get("fix"):
        happened = f"{happened} (fix: {row['fix']})"
    return {
        "when": _when(row.get("finished_at")),
        "stage": row.get("stage"),
        "commit": str(row.get("commit") or "")[:10],
        "change set": row.get("change_set") or "",
        "approved by": approver,
        "approved at": _when(row.get("approved_at")),
        "job": row.get("approval_job_url") or "",
        "outcome": row.get("outcome"),
        "what happened": happened or "",
    }


def metrics(session: Any, args: Namespace) -> int:
    from stackrelay import delivery
    from stackrelay.errors import InvalidInput

    try:
        since = delivery.parse_since(args.since, clock.now())
    except InvalidInput as exc:
        raise CliError(str(exc), EXIT_INVALID) from None
    orch = resolve(session)
    found = commands.invoke(
        session, _operations(orch), {"action": "metrics", "app": args.app, "since": since}
    )
    if args.json:
        render.emit_json(found)
        return EXIT_OK
    render.console.print(metrics_table(found))
    return EXIT_OK


def metrics_table(found: dict[str, Any]) -> Any:
    """The delivery metrics as a table for people (``stackrelay metrics``, ``local demo``)."""
    from stackrelay.delivery import human_duration

    rows = []
    for m in found["metrics"]:
        rate = m["change_failure_rate"]
        rows.append(
            {
                "app": m["app"],
                "stage": m["stage"],
                "deploys": m["deployments"],
                "per day": f"{m['deployments_per_day']:g}",
                "lead time (median)": human_duration(m["lead_time_median_seconds"]),
                "change failure rate": "-" if rate is None else f"{rate:.0%}",
                "time to restore (median)": human_duration(m["time_to_restore_median_seconds"]),
                "failing since": _when(m.get("failing_since")),
            }
        )
    period = found["period"]
    return render.records_table(
        rows,
        [
            "app",
            "stage",
            "deploys",
            "per day",
            "lead time (median)",
            "change failure rate",
            "time to restore (median)",
            "failing since",
        ],
        title=f"Delivery metrics {period['since']} to {period['until']} ({period['days']:g} days)",
    )


def _age(seconds: float) -> str:
    days, rest = divmod(int(max(seconds, 0)), 86400)
    return f"{days}d {rest // 3600}h" if days else f"{rest // 3600}h {rest % 3600 // 60}m"
