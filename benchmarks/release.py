"""Local release of the sample app, phase by phase: wall and CPU seconds, API calls.

Runs what ``stackrelay local release --app examples/aws-news`` runs (bootstrap, then
review -> staging -> prod (approved) -> teardown) in a fresh interpreter per round and
times each phase: engine start, bootstrap, publish, each execution (start to end,
or to the prod approval and from the approval to the end), and the follow loop's
own cost inside them (its looks at the execution). CPU is the process's CPU time
(all threads), the number that a loaded machine disturbs least; wall is what a
person waits.

    .venv/bin/python -m benchmarks.release [--rounds 3] [--compare DIR]

``--compare DIR`` runs the same rounds, interleaved, against another checkout
(e.g. ``git worktree add /tmp/base main``): its ``functions`` and ``scripts`` come
first on PYTHONPATH, so both sides share this virtualenv and this machine's load.
Prints a markdown table of medians (and ratios); asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "examples" / "aws-news"
PHASES = (
    "engine start",
    "bootstrap",
    "publish",
    "review",
    "staging + prod to approval",
    "approve",
    "prod after approval",
    "teardown",
    "review + staging + prod",
    "total",
    "follow (inside the stages)",
)


class Clock:
    def __init__(self) -> None:
        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)

    def add(self, phase: str, wall: float, cpu: float) -> None:
        self.wall[phase] += wall
        self.cpu[phase] += cpu


def _timed(clock: Clock, phase: str, func: Any) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        w, c = time.perf_counter(), time.process_time()
        try:
            return func(*args, **kwargs)
        finally:
            clock.add(phase, time.perf_counter() - w, time.process_time() - c)

    return wrapper


def one_round() -> dict[str, Any]:
    """One release in this interpreter; phases as JSON (run in a fresh process)."""
    w0, c0 = time.perf_counter(), time.process_time()
    from stackrelay_cli import commands, local, progress

    clock = Clock()
    looks = [0]
    # Follow overhead: what the CLI spends looking at the execution (new: Follower.poll;
    # before #17: progress.fetch on every tick).
    if hasattr(progress, "Follower"):
        original_poll = progress.Follower.poll

        def poll(self: Any) -> Any:
            looks[0] += 1
            return _timed(clock, "follow (inside the stages)", original_poll)(self)

        progress.Follower.poll = poll  # type: ignore[method-assign]
    else:
        original_fetch = progress.fetch

        def fetch(*args: Any) -> Any:
            looks[0] += 1
            return _timed(clock, "follow (inside the stages)", original_fetch)(*args)

        progress.fetch = fetch  # type: ignore[assignment]
        commands.progress.fetch = fetch  # type: ignore[attr-defined]

    engine = local._engine(30.0)
    _timed(clock, "engine start", engine.start)()
    try:
        result = _timed(clock, "bootstrap", local.bootstrap)(engine)
        r = local.Release(local=result, app_dir=APP, app="aws-news", quiet=True)
        if hasattr(r, "register"):  # trust (#11): apps are registered to a project first
            r.register()
        artifact = _timed(clock, "publish", r.publish)()
        _timed(clock, "review", r.start)("feature/login", artifact, "1f2e3d4c5b6a")
        arn, _ = _timed(clock, "staging + prod to approval", r.start)(
            "main", artifact, "2a3b4c5d6e7f", until="prod"
        )
        _timed(clock, "approve", r.approve)("prod")
        _timed(clock, "prod after approval", r.follow)(arn, "release main")
        _timed(clock, "teardown", r.start)("feature/login", None, "1f2e3d4c5b6a", "teardown")
        runtime = engine.runtime
        assumed = dict(getattr(runtime, "assumed_sessions", {}))
        calls = sum(getattr(runtime, "api_calls", {}).values())
    finally:
        _timed(clock, "engine stop", engine.stop)()
    stages = ("review", "staging + prod to approval", "approve", "prod after approval")
    clock.wall["review + staging + prod"] = sum(clock.wall[p] for p in stages)
    clock.cpu["review + staging + prod"] = sum(clock.cpu[p] for p in stages)
    clock.wall["total"] = time.perf_counter() - w0
    clock.cpu["total"] = time.process_time() - c0
    return {
        "wall": dict(clock.wall),
        "cpu": dict(clock.cpu),
        "looks": looks[0],
        "assume_role": assumed,
        "api_calls": calls,
        "outcomes": [s["outcome"] for s in r.finished],
    }


def _run(checkout: Path | None) -> dict[str, Any]:
    env = dict(os.environ)
    if checkout is not None:
        paths = [str(checkout / "functions"), str(checkout / "scripts"), str(ROOT)]
        env["PYTHONPATH"] = os.pathsep.join(paths)
    else:
        env["PYTHONPATH"] = str(ROOT)
    for name in [k for k in env if k.startswith(("AWS_", "STACKRELAY_"))]:
        del env[name]
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.release", "--one"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
        timeout=1800,
    )
    if done.returncode != 0:
        where = checkout or "this tree"
        raise SystemExit(f"release round failed ({where}):\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _median(rounds: list[dict[str, Any]], kind: str, phase: str) -> float:
    return statistics.median(r[kind].get(phase, 0.0) for r in rounds)


def table(sides: dict[str, list[dict[str, Any]]]) -> str:
    names = list(sides)
    head = "| phase | " + " | ".join(f"{n} wall (s) | {n} CPU (s)" for n in names)
    sep = "|---|" + "---:|---:|" * len(names)
    if len(names) == 2:
        head += " | CPU ratio |"
        sep += "---:|"
    else:
        head += " |"
    lines = [head, sep]
    for phase in PHASES:
        cells = []
        for n in names:
            wall, cpu = _median(sides[n], "wall", phase), _median(sides[n], "cpu", phase)
            cells += [f"{wall:.2f}", f"{cpu:.2f}"]
        row = f"| {phase} | " + " | ".join(cells) + " |"
        if len(names) == 2:
            before = _median(sides[names[1]], "cpu", phase)
            after = _median(sides[names[0]], "cpu", phase)
            row += f" {after / before:.2f}x |" if before else " - |"
        lines.append(row)
    for n in names:
        rounds = sides[n]
        assumed = rounds[-1]["assume_role"]
        per_stage = {k: v for k, v in assumed.items() if k.startswith("stackrelay-")}
        lines.append("")
        lines.append(
            f"{n}: {statistics.median(r['looks'] for r in rounds):.0f} follow looks, "
            f"{statistics.median(r['api_calls'] for r in rounds):.0f} API calls served, "
            f"AssumeRole by session: {json.dumps(per_stage, sort_keys=True)} "
            f"(outcomes {rounds[-1]['outcomes']})"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--compare", type=Path, help="another checkout, run interleaved")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(one_round()))
        return 0
    sides: dict[str, list[dict[str, Any]]] = {"this tree": []}
    if args.compare:
        sides["compare"] = []
    load = os.getloadavg()
    for n in range(args.rounds):
        sides["this tree"].append(_run(None))
        if args.compare:
            sides["compare"].append(_run(args.compare))
        print(f"  round {n + 1}/{args.rounds} done", file=sys.stderr)
    print(f"load average at start {load[0]:.1f}, at end {os.getloadavg()[0]:.1f} (2 cores)")
    print(table(sides))
    return 0


if __name__ == "__main__":
    sys.exit(main())
