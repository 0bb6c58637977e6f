"""``stackrelay``: publish, start and watch releases; approve; tidy review stacks.

Credentials come from boto3's standard chain (profiles, SSO, or GitLab OIDC
through AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE); AWS_ENDPOINT_URL points
it at the local engine. Exit codes: see ``stackrelay_cli.errors``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from stackrelay_cli.errors import EXIT_CONFIG, EXIT_FAILED, CliError

EXIT_CODES_HELP = """exit codes:
  0 done   1 release failed   2 usage   3 configuration/AWS access   4 no such approval
  5 already decided   6 expired   7 stale change set   8 invalid input   9 refused
  10 not allowed (ID token refused, or wrong project, branch or user)"""


def _seconds(text: str) -> float:
    """A non-negative number of seconds (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 <= value <= 86_400:
        raise argparse.ArgumentTypeError(f"{text!r} is not between 0 and 86400 seconds")
    return value


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON for machines")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def _identity_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--id-token-file",
        dest="id_token_file",
        metavar="FILE",
        help="the GitLab ID token (default: $STACKRELAY_IDENTITY_TOKEN, set by id_tokens:); "
        "who you are, the project, ref and pipeline come from it",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stackrelay",
        description="Release AWS SAM apps across accounts with AWS Step Functions.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=EXIT_CODES_HELP,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        _common(p)
        return p

    p = command(
        "publish",
        "Build a SAM app with the SAM CLI (or take its .aws-sam/build), package it once "
        "(content-addressed) and pin every object by version.",
    )
    p.add_argument("--app", required=True, help="app name (stack names derive from it)")
    p.add_argument("--app-dir", default=".", help="the SAM app folder (default: .)")
    p.add_argument(
        "--use-container",
        action="store_true",
        help="sam build --use-container (needs Docker): build in the runtime's image",
    )
    p.add_argument("--bucket", help="artifact bucket (default: the orchestrator's)")
    p.add_argument("--output", help="write the artifact JSON here (for `start --artifact-file`)")

    p = command("start", "Start a release of a published artifact.")
    p.add_argument("--app", required=True)
    p.add_argument("--artifact-file", help="the JSON `publish --output` wrote")
    p.add_argument("--artifact-key")
    p.add_argument("--artifact-sha256")
    p.add_argument("--artifact-version", help="the template's S3 version (publish prints it)")
    p.add_argument("--bucket")
    p.add_argument("--wait", action="store_true", help="follow the execution to its end")
    p.add_argument(
        "--until",
        metavar="STAGE",
        help="with --wait: stop once STAGE waits for approval (an approval stage)",
    )
    p.add_argument(
        "--dotenv",
        metavar="FILE",
        help="write STACKRELAY_EXECUTION_ARN/_NAME/_URL to FILE (a GitLab dotenv report)",
    )
    _identity_flags(p)

    for name, text in (
        ("status", "Show an execution's stages once."),
        ("watch", "Follow an execution's stages live until it ends."),
    ):
        p = command(name, text)
        p.add_argument("execution", help="execution name or ARN")

    p = command("pending", "List releases waiting for approval.")
    p.add_argument("--app", required=True)
    _identity_flags(p)

    for name in ("approve", "reject"):
        p = command(name, f"Show the change summary, then {name} a waiting release.")
        p.add_argument("--app", required=True)
        p.add_argument(
            "--execution",
            default=os.environ.get("STACKRELAY_EXECUTION_NAME"),
            help="the waiting execution (default STACKRELAY_EXECUTION_NAME, from the "
            "release job's dotenv; else the one waiting in --pipeline-id)",
        )
        p.add_argument(
            "--pipeline-id",
            dest="pipeline_id",
            help="the release's pipeline (default: the ID token's pipeline)",
        )
        p.add_argument("--stage", help="the approval's stage (default: the one stage that waits)")
        p.add_argument("--reason", help="why (recorded with the decision)")
        p.add_argument(
            "--wait",
            type=_seconds,
            default=0,
            metavar="SECONDS",
            help="if the change set is not waiting for approval yet (clicked early), wait up "
            "to SECONDS for it, with progress (default 0: do not wait)",
        )
        _identity_flags(p)

    p = command("teardown", "Delete a branch's review stack.")
    p.add_argument("--app", required=True)
    p.add_argument("--wait", action="store_true")
    p.add_argument("--until", help=argparse.SUPPRESS)
    _identity_flags(p)

    p = command("register", "Bind an app to its GitLab project (administrators only).")
    p.add_argument("--app", required=True)
    p.add_argument("--project-id", dest="project_id", required=True, help="numeric project id")
    p.add_argument("--project-path", dest="project_path", required=True, help="group/name")
    p.add_argument(
        "--replace", action="store_true", help="move an app already bound to another project"
    )
    p = command("reviews", "List review stacks with branch, age and URL.")
    p.add_argument("--app")
    p.add_argument("--stale", action="store_true", help="only what the reaper would delete")

    p = command("recover", "Continue a failed rollback of a release stack, and wait.")
    p.add_argument("--app", required=True)
    p.add_argument(
        "--stage",
        required=True,
        help="a release stage of the topology (its first region), or one region of it: "
        "STAGE.REGION",
    )
    p.add_argument(
        "--skip",
        action="append",
        default=[],
        metavar="RESOURCE",
        help="logical id to skip (repeatable)",
    )

    p = command(
        "history",
        "Recent deployments of an app: who approved which change set, when, from which "
        "job, and what happened next.",
    )
    p.add_argument("--app", required=True)
    p.add_argument("--stage", help="only this stage")
    p.add_argument("--limit", type=int, default=20, help="how many records (1-500)")

    p = command(
        "metrics",
        "Delivery metrics per app and stage: deployment frequency, lead time for changes, "
        "change failure rate, time to restore (docs/metrics.md).",
    )
    p.add_argument("--app", help="one app (default: every app)")
    p.add_argument(
        "--since",
        default="30d",
        help="start of the period: 30d, 12h, 2w or a date such as 2026-11-01 (default 30d)",
    )

    p = command("topology", "The release topology: stages, accounts and regions.")
    tp = p.add_subparsers(dest="topology_command", required=True, metavar="TOPOLOGY_COMMAND")
    lp = tp.add_parser(
        "check",
        help="Validate a topology file (YAML or JSON) and print the orchestrator's Topology "
        "parameter value.",
    )
    _common(lp)
    lp.add_argument("file", metavar="FILE", help="the topology file")

    p = command("local", "The local engine: AWS on this machine, no account needed.")
    local = p.add_subparsers(dest="local_command", required=True, metavar="LOCAL_COMMAND")
    lp = local.add_parser("up", help="Serve the local engine on http://localhost:PORT.")
    _common(lp)
    lp.add_argument("--port", type=int, default=4566)
    lp = local.add_parser("release", help="Release any SAM app folder through all three accounts.")
    _common(lp)
    lp.add_argument("--app", required=True, metavar="DIR", help="the SAM app folder")
    lp.add_argument("--name", help="app name (default: the folder's name)")
    lp.add_argument(
        "--parameter",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a template parameter for every stage, or STAGE:KEY=VALUE for one (repeatable); "
        "on AWS these are the orchestrator's StageParameters",
    )
    lp.add_argument(
        "--topology",
        metavar="FILE",
        help="release through this topology (YAML or JSON, docs/topology.md) instead of "
        "the default three stages; --json then lists every stage x region",
    )
    lp.add_argument(
        "--use-container",
        action="store_true",
        help="sam build --use-container (needs Docker): build in the runtime's image",
    )
    lp.add_argument(
        "--stack-seconds",
        type=float,
        default=90.0,
        help="simulated duration of each stack operation",
    )
    lp = local.add_parser("demo", help="The whole story on the sample app (make demo).")
    _common(lp)
    lp.add_argument("--stack-seconds", type=float, default=90.0)
    for name in ("release", "demo"):
        local.choices[name].add_argument(
            "--gitlab-url",
            metavar="URL",
            help="report to this GitLab (commit statuses, environments, the approval note) "
            "with the token in STACKRELAY_GITLAB_TOKEN",
        )
    return parser


def _dispatch(args: argparse.Namespace) -> int:
    import boto3

    from stackrelay_cli import commands, operations

    if args.command == "topology":
        from stackrelay_cli import topology_file

        return topology_file.check(args)
    if args.command == "local":
        from stackrelay_cli import local, render

        if not args.json:
            return local.run(args)
        # The engine runs the Lambda handlers in this process and they log to
        # stdout; with --json, stdout carries only the JSON result.
        render.json_out = sys.stdout
        try:
            with contextlib.redirect_stdout(sys.stderr):
                return local.run(args)
        finally:
            render.json_out = None
    table: dict[str, Callable[[Any, argparse.Namespace], int]] = {
        "publish": commands.publish,
        "start": commands.start,
        "status": commands.status,
        "watch": commands.watch,
        "pending": commands.pending,
        "approve": lambda s, a: commands.decide(s, a, "approve"),
        "reject": lambda s, a: commands.decide(s, a, "reject"),
        "teardown": operations.teardown,
        "register": operations.register,
        "reviews": operations.reviews,
        "recover": operations.recover,
        "history": operations.history,
        "metrics": operations.metrics,
    }
    return table[args.command](boto3.Session(), args)


def _fail(args: argparse.Namespace, message: str, code: int) -> int:
    """One message on stderr (a JSON object with --json), and the exit code."""
    from rich.markup import escape

    from stackrelay_cli import render

    if getattr(args, "json", False):
        sys.stderr.write(json.dumps({"error": message, "exit_code": code}) + "\n")
    else:
        render.errors.print(f"[red]error:[/] {escape(message)}", soft_wrap=True)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        NoCredentialsError,
        NoRegionError,
    )

    try:
        return _dispatch(args)
    except CliError as exc:
        return _fail(args, str(exc), exc.code)
    except NoCredentialsError:
        return _fail(
            args,
            "no AWS credentials. Configure a profile, or in GitLab CI set AWS_ROLE_ARN and "
            "AWS_WEB_IDENTITY_TOKEN_FILE from an id_tokens: token (ci/stackrelay.gitlab-ci.yml "
            "does this).",
            EXIT_CONFIG,
        )
    except NoRegionError:
        return _fail(
            args, "no AWS region: set AWS_REGION (the orchestrator's region).", EXIT_CONFIG
        )
    except (ClientError, BotoCoreError) as exc:
        if args.debug:
            raise
        return _fail(args, f"AWS refused: {exc}", EXIT_CONFIG)
    except KeyboardInterrupt:
        return _fail(
            args, "interrupted; the execution (if any) goes on in Step Functions.", EXIT_FAILED
        )
    except Exception as exc:  # the last line of defence: never a traceback
        if args.debug:
            raise
        return _fail(
            args,
            f"unexpected {type(exc).__name__}: {exc} (run again with --debug for details)",
            EXIT_FAILED,
        )


if __name__ == "__main__":
    sys.exit(main())
