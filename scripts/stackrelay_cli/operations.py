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
from stackrelay_cli.errors import ERROR_EXIT, EXIT_CONFIG, EXIT_FAILED, EXIT_OK, CliError
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
            f"(id {item['project_id']}).",
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
    orch = resolve(session)
    found = commands.invoke(
        session, _operations(orch), {"action": "history", "app": args.app, "limit": args.limit}
    )
    rows = found["records"]
    if args.json:
        render.emit_json(rows)
        return EXIT_OK
    for row in rows:
        row["when"] = time.strftime("%Y-%m-%d %H:%M", time.gmtime(row.get("finished_at") or 0))
        row["commit"] = str(row.get("commit") or "")[:10]
    render.console.print(
        render.records_table(
            rows,
            ["when", "stage", "ref", "commit", "outcome", "approver", "reason"],
            title=f"{args.app}: recent deployments",
        )
    )
    return EXIT_OK


def _age(seconds: float) -> str:
    days, rest = divmod(int(max(seconds, 0)), 86400)
    return f"{days}d {rest // 3600}h" if days else f"{rest // 3600}h {rest % 3600 // 60}m"
