"""The package installs like a user's: a wheel in a fresh venv, no extras, every command works.

The tests use the dev venv everywhere else, so a dependency missing from
pyproject.toml (PyYAML once) would go unnoticed: here nothing but the wheel and
its declared dependencies is installed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
from pathlib import Path

import pytest
from ci_harness import REPO, EngineServer, Install, fresh_venv
from stackrelay_cli.main import build_parser

pytestmark = pytest.mark.slow

SAMPLE = REPO / "examples" / "aws-news"


def _commands() -> list[list[str]]:
    """Every command and sub-command of the CLI, from its own parser."""
    found: list[list[str]] = []

    def walk(parser: argparse.ArgumentParser, prefix: list[str]) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    found.append([*prefix, name])
                    walk(sub, [*prefix, name])

    walk(build_parser(), [])
    return found


@pytest.fixture(scope="module")
def installed(install: Install, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv of its own with the wheel installed, without extras (the CI jobs' venv
    must stay empty: they install the CLI themselves)."""
    venv = fresh_venv(tmp_path_factory.mktemp("user") / "venv")
    done = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", str(install.wheel)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return venv / "bin" / "stackrelay"


def _env(**extra: str) -> dict[str, str]:
    leaks = ("AWS_", "STACKRELAY_", "CI_", "GITLAB_", "VIRTUAL_ENV")
    env = {k: v for k, v in os.environ.items() if not k.startswith(leaks)}
    return {**env, "NO_COLOR": "1", **extra}


def test_install_wheel_without_extras_every_command_help_works(installed: Path) -> None:
    commands = _commands()
    assert ["publish"] in commands and ["local", "release"] in commands
    for command in commands:
        done = subprocess.run(
            [str(installed), *command, "--help"],
            capture_output=True,
            text=True,
            timeout=60,
            env=_env(),
            check=False,
        )
        assert done.returncode == 0, (command, done.stderr[-2000:])
        assert "usage: stackrelay" in done.stdout, command


def test_install_wheel_without_extras_local_engine_says_how_to_install(installed: Path) -> None:
    done = subprocess.run(
        [str(installed), "local", "release", "--app", str(SAMPLE)],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(),
        check=False,
    )
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr
    assert "stackrelay[local]" in done.stderr


def test_install_wheel_without_extras_publish_reaches_local_engine_server(
    installed: Path, engine_server: EngineServer, tmp_path: Path
) -> None:
    env = _env(**engine_server.variables(), **_sam_cli())
    out = tmp_path / "artifact.json"
    done = subprocess.run(
        [
            str(installed),
            "publish",
            "--app",
            "aws-news",
            "--app-dir",
            str(SAMPLE),
            "--json",
            "--output",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    artifact = json.loads(out.read_text())
    s3 = engine_server.engine.client("s3")
    body = s3.get_object(Bucket=artifact["bucket"], Key=artifact["key"])["Body"].read()
    assert b"AWS::Serverless::Function" in body


def _sam_cli() -> dict[str, str]:
    """Where this checkout's SAM CLI is (make tools), for publish's build."""
    sam = REPO / ".sam-venv" / "bin" / "sam"
    return {"STACKRELAY_SAM_CLI": str(sam)} if sam.exists() else {}
