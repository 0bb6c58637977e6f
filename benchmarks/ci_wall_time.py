"""Does the CI job's wall time stay flat while CloudFormation gets slower?

Runs the repo's real ``review`` job (ci/stackrelay.gitlab-ci.yml: publish, start,
done) with gitlab-ci-local in shell mode against a local engine server, with
stack operations of 30 s, 5 min, 30 min and 3 h of simulated time, interleaved
round by round so all settings share the machine's conditions. For each setting
it reports the CI job's wall time (what a runner is busy for) next to the
deployment's simulated duration (what a CI-driven pipeline would have kept a
runner busy for), each as a ratio to the first setting.

    .venv/bin/python -m benchmarks.ci_wall_time [--rounds 3]

Needs ``make tools`` (gitlab-ci-local, rsync). Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "ci"))

from ci_harness import (  # noqa: E402
    GITLAB_CI_LOCAL,
    PROJECT_ID,
    PROJECT_PATH,
    EngineServer,
    build_wheel,
    free_port,
    fresh_venv,
    make_project,
    start_server,
    stop_server,
)

STACK_SECONDS = (30, 300, 900, 3600)


@dataclass
class Samples:
    job_wall: list[float] = field(default_factory=list)  # seconds of real time
    simulated: list[float] = field(default_factory=list)  # simulated seconds to the end
    execution_wall: list[float] = field(default_factory=list)


def _one(
    server: EngineServer, workdir: Path, seconds: float, run: int, wheel: Path | None
) -> tuple[float, float, float]:
    """Run the review job once on a new branch; returns job wall, simulated, execution wall.

    With ``wheel``, the job starts in a fresh virtualenv without the CLI, so the
    template's own ``pip install "$STACKRELAY_PIP_SPEC"`` runs inside the job (as on a
    runner without a cache) and is part of its wall time.
    """
    server.engine.set_stack_seconds(seconds)
    project = make_project(workdir / f"r{run}-{int(seconds)}", str(GITLAB_CI_LOCAL))
    project.variables = {**server.variables(), "CI_PIPELINE_ID": str(9000 + run)}
    project.identity = server.token
    if wheel is not None:
        venv = fresh_venv(workdir / f"venv{run}")
        project.path = f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
        project.variables["STACKRELAY_PIP_SPEC"] = str(wheel)
    project.checkout(f"feature/bench-{int(seconds)}-{run}", create=True)
    clock_before = server.engine.clock.now()
    started = time.perf_counter()
    project.run_job("review")
    job_wall = time.perf_counter() - started
    arn = project.dotenv("review")["STACKRELAY_EXECUTION_ARN"]
    result = server.engine.wait_execution(arn, timeout=600)
    if result["status"] != "SUCCEEDED":
        raise SystemExit(f"{arn} ended {result['status']}: {result.get('cause')}")
    execution_wall = time.perf_counter() - started
    simulated = server.engine.clock.now() - clock_before
    return job_wall, simulated, execution_wall


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--preinstalled",
        action="store_true",
        help="use the CLI already on PATH (leaves the job's install step out)",
    )
    args = parser.parse_args(argv)
    if not GITLAB_CI_LOCAL.exists():
        print("gitlab-ci-local is missing: run `make tools`", file=sys.stderr)
        return 2

    from stackrelay_cli.local import bootstrap
    from stackrelay_local import RemoteEngine

    samples = {s: Samples() for s in STACK_SECONDS}
    port = free_port()
    proc = start_server(port)
    try:
        url = f"http://localhost:{port}"
        engine = RemoteEngine(url)
        local = bootstrap(engine)
        local.register("aws-news", PROJECT_PATH, PROJECT_ID)
        server = EngineServer(url=url, engine=engine, orchestrator=local.orchestrator)
        with tempfile.TemporaryDirectory(prefix="stackrelay-bench-") as tmp:
            wheel = None if args.preinstalled else build_wheel(Path(tmp) / "dist")
            run = 0
            for _ in range(args.rounds):
                for seconds in STACK_SECONDS:  # interleaved: side by side in every round
                    run += 1
                    job, simulated, execution = _one(server, Path(tmp), seconds, run, wheel)
                    samples[seconds].job_wall.append(job)
                    samples[seconds].simulated.append(simulated)
                    samples[seconds].execution_wall.append(execution)
    finally:
        stop_server(proc)

    base = samples[STACK_SECONDS[0]]
    base_job = statistics.median(base.job_wall)
    base_sim = statistics.median(base.simulated)
    install = "CLI preinstalled" if args.preinstalled else "install step included (fresh venv)"
    print(
        f"review job (publish + start) via gitlab-ci-local, {install}, median of "
        f"{args.rounds} rounds; load average {os.getloadavg()[0]:.1f} (2 cores)"
    )
    header = (
        f"{'stack op (sim)':>14} | {'deploy (sim)':>12} | {'sim ratio':>9} | "
        f"{'CI job wall':>11} | {'job ratio':>9} | {'engine wall':>11}"
    )
    print(header)
    print("-" * len(header))
    for seconds in STACK_SECONDS:
        s = samples[seconds]
        job, simulated = statistics.median(s.job_wall), statistics.median(s.simulated)
        print(
            f"{_duration(seconds):>14} | {_duration(simulated):>12} | "
            f"{simulated / base_sim:>8.1f}x | {job:>10.2f}s | {job / base_job:>8.2f}x | "
            f"{statistics.median(s.execution_wall):>10.2f}s"
        )
    print(
        "\nThe CI job ends once the execution is started: its wall time stays flat while "
        "the deployment it started (run by Step Functions, not the runner) grows."
    )
    return 0


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.0f} s"


if __name__ == "__main__":
    sys.exit(main())
