"""The command line: every command has --help, usage errors exit 2."""

from __future__ import annotations

import argparse

import pytest
from stackrelay_cli.errors import EXIT_USAGE
from stackrelay_cli.main import build_parser, main

COMMANDS = [
    "publish",
    "start",
    "status",
    "watch",
    "pending",
    "approve",
    "reject",
    "teardown",
    "register",
    "reviews",
    "recover",
    "history",
    "metrics",
    "topology",
    "local",
]
LOCAL_COMMANDS = ["up", "release", "demo"]


def _subcommands(parser: argparse.ArgumentParser) -> list[str]:
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return list(actions[0].choices) if actions else []


def test_parser_commands_are_the_documented_set() -> None:
    parser = build_parser()
    assert _subcommands(parser) == COMMANDS
    assert _subcommands(_sub(parser, "local")) == LOCAL_COMMANDS


def _sub(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return actions[0].choices[name]


@pytest.mark.parametrize(
    "argv",
    [[], *([c] for c in COMMANDS), *(["local", c] for c in LOCAL_COMMANDS)],
    ids=lambda argv: " ".join(argv) or "stackrelay",
)
def test_help_every_command_exits_zero(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: stackrelay")
    if argv and argv[0] != "local":
        assert "--json" in out and "exit codes:" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["publish"],  # --app is required
        ["start", "--app"],
        ["frobnicate"],
        ["recover", "--app", "a"],  # --stage is required
        ["history", "--app", "a", "--limit", "many"],
    ],
)
def test_parser_bad_usage_exits_two_without_traceback(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == EXIT_USAGE
    err = capsys.readouterr().err
    assert "usage: stackrelay" in err and "Traceback" not in err


def test_parser_approve_has_no_approver_flag_the_token_says_who(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["approve", "--app", "aws-news", "--approver", "mallory"])
    assert exited.value.code == EXIT_USAGE
    assert "--approver" in capsys.readouterr().err


def test_parser_approve_in_ci_takes_execution_from_release_dotenv(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STACKRELAY_EXECUTION_NAME", "aws-news-deploy-main-4711-abc123")
    args = build_parser().parse_args(["approve", "--app", "aws-news"])
    # No --stage: the approval function finds the one stage that waits (no stage named here)
    assert (args.execution, args.pipeline_id, args.stage) == (
        "aws-news-deploy-main-4711-abc123",
        None,
        None,
    )


@pytest.mark.parametrize("command", ["start", "teardown"])
def test_parser_start_has_no_source_flags_the_token_says_who(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([command, "--app", "aws-news", "--ref", "main"])
    assert exited.value.code == EXIT_USAGE


def test_parser_start_wait_until_stage_and_dotenv() -> None:
    args = build_parser().parse_args(
        ["start", "--app", "a", "--wait", "--until", "prod", "--dotenv", "x.env", "--json"]
    )
    assert (args.wait, args.until, args.dotenv, args.json) == (True, "prod", "x.env", True)
