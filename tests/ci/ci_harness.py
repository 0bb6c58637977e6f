"""Helpers and fixtures for the CI tests: gitlab-ci-local, the local engine server, a scratch repo.

gitlab-ci-local comes from ``make tools`` (.tools/, pinned). Where it or rsync is
missing the tests skip, except in CI (CI=true), where they fail: a green CI must
not hide a missing install step.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
CI_FILES = [REPO / ".gitlab-ci.yml", *sorted((REPO / "ci").glob("*.yml"))]
GITLAB_CI_LOCAL = REPO / ".tools" / "node_modules" / ".bin" / "gitlab-ci-local"
PROJECT_URL = "https://gitlab.example.com/group/aws-news.git"
PROJECT_PATH, PROJECT_ID = "group/aws-news", "4711"


def require_tool(path: str | None, what: str) -> str:
    """The tool's path; a skip where it is missing, a failure in CI."""
    if path and Path(path).exists():
        return path
    message = f"{what} is not installed: run `make tools`"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def gitlab_ci_local() -> str:
    found = os.environ.get("GITLAB_CI_LOCAL") or (
        str(GITLAB_CI_LOCAL) if GITLAB_CI_LOCAL.exists() else shutil.which("gitlab-ci-local")
    )
    return require_tool(found, "gitlab-ci-local")


@pytest.fixture(scope="session")
def rsync() -> str:
    return require_tool(shutil.which("rsync"), "rsync (gitlab-ci-local runs jobs with it)")


# -- the CLI as a user installs it: a wheel in a fresh venv, no extras -----------------


@dataclass(frozen=True)
class Install:
    """A built wheel and a fresh virtual environment that does not have it yet.

    CI jobs get ``STACKRELAY_PIP_SPEC`` = the wheel and the venv's ``bin`` first on
    PATH: the template's ``pip install "$STACKRELAY_PIP_SPEC"`` then installs the CLI
    into that venv, exactly as a GitLab job does (never from the dev venv).
    """

    wheel: Path
    venv: Path

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    def path(self) -> str:
        return f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}"


def build_wheel(out: Path) -> Path:
    """``pip wheel`` of a copy of the sources (the build never writes into the checkout)."""
    src = out / "src"
    src.mkdir(parents=True)
    shutil.copy(REPO / "pyproject.toml", src / "pyproject.toml")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("functions", "scripts"):
        shutil.copytree(REPO / folder, src / folder, ignore=ignore)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(src)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = out.glob("stackrelay-*.whl")
    return wheel


def fresh_venv(where: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True, timeout=120)
    return where


@pytest.fixture(scope="session")
def install(tmp_path_factory: pytest.TempPathFactory) -> Install:
    root = tmp_path_factory.mktemp("install")
    return Install(wheel=build_wheel(root / "dist"), venv=fresh_venv(root / "venv"))


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout.strip()


@dataclass
class Pipeline:
    """A scratch GitLab project: the repo's CI files and the sample app, in git."""

    root: Path
    tool: str
    variables: dict[str, str] = field(default_factory=dict)
    path: str | None = None  # the jobs' PATH (a fresh venv's bin first: see Install)
    identity: Any = None
    """``(ref, pipeline_id) -> token``: the job's STACKRELAY_IDENTITY_TOKEN, as GitLab's
    id_tokens: would set it (gitlab-ci-local cannot mint one)."""

    def checkout(self, branch: str, create: bool = False) -> None:
        _git(self.root, "checkout", "-q", *(["-b"] if create else []), branch)

    def set_default_branch(self, branch: str) -> None:
        """What a clone of a GitLab project whose default branch is ``branch`` has."""
        _git(self.root, "update-ref", f"refs/remotes/origin/{branch}", "HEAD")
        _git(self.root, "symbolic-ref", "refs/remotes/origin/HEAD", f"refs/remotes/origin/{branch}")

    def _command(self, *args: str) -> tuple[list[str], dict[str, str]]:
        command = [self.tool, *args]
        for name, value in self.variables.items():
            command += ["--variable", f"{name}={value}"]
        if "CI_PIPELINE_ID" in self.variables:
            command += ["--ignore-predefined-vars", "CI_PIPELINE_ID"]
        if self.identity is not None and "--list-json" not in args:
            branch = _git(self.root, "rev-parse", "--abbrev-ref", "HEAD")
            token = self.identity(branch, self.variables.get("CI_PIPELINE_ID", "1"))
            command += ["--variable", f"STACKRELAY_IDENTITY_TOKEN={token}"]
        # The job sees only what --variable gives it, not this machine's CI or AWS settings.
        leaks = ("CI_", "GITLAB_", "AWS_", "STACKRELAY_", "GCL_")
        env = {k: v for k, v in os.environ.items() if not k.startswith(leaks) and k != "CI"}
        env.pop("VIRTUAL_ENV", None)
        if self.path:
            env["PATH"] = self.path
        return command, {**env, "FORCE_COLOR": "0", "NO_COLOR": "1"}

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command, env = self._command(*args)
        done = subprocess.run(
            command,
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"gitlab-ci-local {' '.join(args)} exited {done.returncode}:\n"
                f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
            )
        return done

    def jobs(self) -> dict[str, dict[str, Any]]:
        """``--list-json`` for the checked-out branch: every job, by name."""
        listed = json.loads(self.run("--list-json").stdout)
        return {job["name"]: job for job in listed}

    def run_job(self, job: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """One job in shell mode (image: ignored, the host's tools)."""
        return self.run(
            "--force-shell-executor",
            "--shell-isolation",
            "--no-artifacts-to-source",
            job,
            check=check,
        )

    def start_job(self, job: str) -> RunningJob:
        """One job in shell mode, in the background: read its output as it comes."""
        command, env = self._command(
            "--force-shell-executor", "--shell-isolation", "--no-artifacts-to-source", job
        )
        proc = subprocess.Popen(
            command,
            cwd=self.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        return RunningJob(proc)

    def head(self) -> str:
        return _git(self.root, "rev-parse", "HEAD")

    def commit(self, message: str) -> None:
        """Commit every change, new files included."""
        _git(self.root, "add", "-A")
        _git(self.root, "commit", "-q", "-m", message)

    def dotenv(self, job: str) -> dict[str, str]:
        path = self.root / ".gitlab-ci-local" / "builds" / job / "stackrelay.env"
        pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
        return dict(pairs)


class RunningJob:
    """A gitlab-ci-local run in the background; its output lines, read by a thread."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def output(self) -> str:
        with self._changed:
            return "".join(self.lines)

    def wait_for(self, text: str, timeout: float = 180) -> None:
        """Block until ``text`` is in the output (bounded; fails if the job ends first)."""
        with self._changed:
            self._changed.wait_for(
                lambda: text in "".join(self.lines) or not self._reader.is_alive(), timeout
            )
            if text not in "".join(self.lines):
                raise AssertionError(f"{text!r} not in the job's output:\n{''.join(self.lines)}")

    def finish(self, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Wait for the job to end (killed after ``timeout``); its exit code and output."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(timeout=10)
        return subprocess.CompletedProcess(self.proc.args, self.proc.returncode, self.output, "")


def make_project(root: Path, tool: str) -> Pipeline:
    """A git repo with .gitlab-ci.yml, ci/ and examples/aws-news on ``main``."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / ".gitlab-ci.yml", root / ".gitlab-ci.yml")
    shutil.copytree(REPO / "ci", root / "ci")
    shutil.copytree(
        REPO / "examples" / "aws-news",
        root / "examples" / "aws-news",
        ignore=shutil.ignore_patterns("__pycache__", ".aws-sam"),
    )
    _git(root, "init", "-q", "-b", "main")
    _git(root, "config", "user.email", "alice@example.com")
    _git(root, "config", "user.name", "Alice")
    _git(root, "remote", "add", "origin", PROJECT_URL)
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "sample app")
    return Pipeline(root=root, tool=tool)


@pytest.fixture
def project(tmp_path: Path, gitlab_ci_local: str) -> Pipeline:
    return make_project(tmp_path / "aws-news", gitlab_ci_local)


# -- the local engine as a server --------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return int(sock.getsockname()[1])


@dataclass
class EngineServer:
    url: str
    engine: Any  # stackrelay_local.RemoteEngine
    orchestrator: Any  # stackrelay_cli.orchestrator.Orchestrator
    log: Path | None = None  # the server's stderr (handler logs), for failure messages

    def log_tail(self, size: int = 4000) -> str:
        return self.log.read_text()[-size:] if self.log and self.log.exists() else ""

    def variables(self) -> dict[str, str]:
        """What a CI job needs to reach the orchestrator on this engine."""
        o = self.orchestrator
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": self.engine.config.region,
            "AWS_REGION": self.engine.config.region,
            "STACKRELAY_STATE_MACHINE_ARN": o.state_machine_arn,
            "STACKRELAY_TEARDOWN_STATE_MACHINE_ARN": o.teardown_state_machine_arn,
            "STACKRELAY_APPROVAL_FUNCTION": o.approval_function,
            "STACKRELAY_START_FUNCTION": o.start_function,
            "STACKRELAY_OPERATIONS_FUNCTION": o.operations_function,
            "STACKRELAY_ARTIFACT_BUCKET": o.bucket,
            # The SAM CLI for publish (`sam build`/`sam package`): this checkout's (make tools).
            "STACKRELAY_SAM_BIN": str(REPO / ".sam-venv" / "bin" / "sam"),
        }

    def token(self, ref: str, pipeline_id: str, user: str = "alice") -> str:
        """The StackRelay ID token GitLab gives a job of group/aws-news on ``ref``."""
        return str(
            self.engine.mint_token(
                project_path=PROJECT_PATH,
                project_id=PROJECT_ID,
                ref=ref,
                pipeline_id=pipeline_id,
                sha="1f2e3d4c5b6a7988",
                user_login=user,
            )
        )

    def wait_approval(self, arn: str, stage: str = "prod", timeout: float = 120) -> Any:
        """Follow the execution until ``stage`` waits for approval or it ends (bounded)."""
        from stackrelay_cli import progress

        sfn = self.engine.client("stepfunctions")
        pause = threading.Event()
        deadline = time.monotonic() + timeout
        while True:
            current = progress.fetch(sfn, arn)
            waiting = current.stage(stage)
            if current.done or (waiting is not None and waiting.step == "waiting for approval"):
                return current
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{arn} neither parked on {stage} nor ended in {timeout}s: {current}\n"
                    f"server log:\n{self.log_tail()}"
                )
            pause.wait(0.05)

    def stacks(self, account: str) -> dict[str, str]:
        """Stack name to status in one account (deleted stacks left out)."""
        cfn = self.engine.client("cloudformation", account)
        return {
            s["StackName"]: s["StackStatus"]
            for s in cfn.describe_stacks()["Stacks"]
            if s["StackStatus"] != "DELETE_COMPLETE"
        }


def start_server(port: int, *extra: str, log: Path | None = None) -> subprocess.Popen[str]:
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(REPO / "scripts"), str(REPO / "functions")]),
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "stackrelay_local", "up", "--port", str(port), *extra],
        stdout=subprocess.PIPE,
        stderr=log.open("w") if log else subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # blocks until the server says it is ready (or dies)
    if not line.startswith(f"StackRelay local engine on http://localhost:{port}"):
        proc.kill()
        raise RuntimeError(f"the local engine did not start: {line!r}")
    return proc


def stop_server(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def engine_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineServer]:
    """A fresh engine server with the orchestrator bootstrapped (setup/ + template.yaml)."""
    from stackrelay_cli.local import bootstrap
    from stackrelay_local import RemoteEngine

    port = free_port()
    log = tmp_path_factory.mktemp("engine") / "server.log"
    proc = start_server(port, log=log)
    try:
        url = f"http://localhost:{port}"
        engine = RemoteEngine(url)
        local = bootstrap(engine)
        local.register("aws-news", PROJECT_PATH, PROJECT_ID)
        yield EngineServer(url=url, engine=engine, orchestrator=local.orchestrator, log=log)
    finally:
        stop_server(proc)
