"""``python -m stackrelay_local up --port 4566``: the local engine as a server."""

from __future__ import annotations

import argparse
import sys

from stackrelay_local.config import DEFAULT_ACCOUNTS, EngineConfig
from stackrelay_local.server import serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stackrelay_local")
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="serve AWS on http://localhost:PORT")
    up.add_argument("--port", type=int, default=4566)
    up.add_argument("--region", default="us-east-1")
    up.add_argument("--stack-seconds", type=float, default=30.0)
    up.add_argument("--change-set-seconds", type=float, default=5.0)
    up.add_argument(
        "--account",
        action="append",
        default=[],
        metavar="STAGE=ID",
        help="target account, e.g. dev=111111111111 (repeatable; default "
        + ", ".join(f"{k}={v}" for k, v in DEFAULT_ACCOUNTS.items())
        + ")",
    )
    args = parser.parse_args(argv)
    accounts = dict(DEFAULT_ACCOUNTS)
    if args.account:
        accounts = dict(item.split("=", 1) for item in args.account)
    config = EngineConfig(
        region=args.region,
        accounts=accounts,
        stack_seconds=args.stack_seconds,
        change_set_seconds=args.change_set_seconds,
    )
    serve(config, port=args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
