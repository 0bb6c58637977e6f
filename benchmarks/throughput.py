"""Engine throughput: review deploys per minute at 1, 5 and 20 concurrent executions.

One engine, bootstrapped once, one published artifact; for each concurrency C it
starts C review deploys of the sample app at once (each its own branch) and waits
for all of them. Reported per C: wall seconds, deploys per minute of wall time,
the process's CPU seconds per deploy (all threads; what a loaded machine disturbs
least), the deploys per minute one free core would give (60 / CPU per deploy),
AssumeRole and API calls per deploy, and how long handlers waited for the
engine's handler lock (``lambda_runtime.INVOKE_LOCK``) in total.

    .venv/bin/python -m benchmarks.throughput [--levels 1,5,20] [--rounds 1]

Prints a markdown table; asserts nothing.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "examples" / "aws-news"
_NAMES = itertools.count(1)


class LockTimer:
    """Wraps the handler lock: total real seconds spent waiting to acquire it."""

    def __init__(self, lock: Any) -> None:
        self._lock = lock
        self.waited = 0.0
        self._guard = threading.Lock()

    def __enter__(self) -> Any:
        started = time.perf_counter()
        self._lock.acquire()
        waited = time.perf_counter() - started
        with self._guard:
            self.waited += waited
        return self

    def __exit__(self, *exc: Any) -> None:
        self._lock.release()

    def acquire(self, *args: Any, **kwargs: Any) -> bool:
        return bool(self._lock.acquire(*args, **kwargs))

    def release(self) -> None:
        self._lock.release()


def run(levels: list[int], rounds: int) -> list[dict[str, Any]]:
    from stackrelay_cli.local import Release, bootstrap
    from stackrelay_local import EngineConfig, LocalEngine, lambda_runtime

    timer = LockTimer(lambda_runtime.INVOKE_LOCK)
    lambda_runtime.INVOKE_LOCK = timer  # type: ignore[assignment]
    rows = []
    with LocalEngine(EngineConfig(stack_seconds=30.0)) as engine:
        local = bootstrap(engine)
        if hasattr(local, "isolate"):  # a checkout before per-app isolation (--compare) has none
            local.isolate("tput")  # the app's own execution role in the target accounts (#11)
        sfn = engine.client("stepfunctions")
        artifact = Release(local=local, app_dir=APP, app="tput", quiet=True).publish()
        machine = local.outputs["DeployStateMachineArn"]
        runtime = engine.runtime
        if not hasattr(runtime, "api_calls"):  # a checkout that counts no calls
            runtime.api_calls = {}

        def assume_roles() -> int:
            return sum(
                n for key, n in runtime.api_calls.items() if key[-2:] == ("sts", "AssumeRole")
            )

        for level in levels:
            for _ in range(rounds):
                calls_before = sum(runtime.api_calls.values())
                assumed_before = assume_roles()
                waited_before = timer.waited
                w0, c0 = time.perf_counter(), time.process_time()
                arns = []
                for n in range(level):
                    k = next(_NAMES)
                    request = {
                        "app": "tput",
                        "artifact": artifact,
                        "source": {
                            "project": "bench/tput",
                            "ref": f"feature/t{k}",
                            "commit": "abcdef1234",
                            "pipeline_id": str(k),
                        },
                    }
                    arns.append(
                        sfn.start_execution(
                            stateMachineArn=machine, name=f"tput-{k}-{n}", input=json.dumps(request)
                        )["executionArn"]
                    )
                statuses = [engine.wait_execution(a, timeout=3600)["status"] for a in arns]
                wall, cpu = time.perf_counter() - w0, time.process_time() - c0
                if set(statuses) != {"SUCCEEDED"}:
                    raise SystemExit(f"concurrency {level}: {statuses}")
                rows.append(
                    {
                        "level": level,
                        "wall": wall,
                        "per_min": 60 * level / wall,
                        "cpu_per_deploy": cpu / level,
                        "per_core_min": 60 * level / cpu,
                        "assume_role": (assume_roles() - assumed_before) / level,
                        "calls": (sum(runtime.api_calls.values()) - calls_before) / level,
                        "lock_wait": timer.waited - waited_before,
                    }
                )
                print(f"  {level} concurrent: {wall:.1f} s", file=sys.stderr)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="1,5,20")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--compare", type=Path, help="run another checkout's code instead")
    args = parser.parse_args(argv)
    if args.compare:
        # Another checkout's code (e.g. main before #17), this benchmark's harness.
        sys.path[:0] = [str(args.compare / "functions"), str(args.compare / "scripts")]
        global APP
        APP = args.compare / "examples" / "aws-news"
    load = os.getloadavg()[0]
    rows = run([int(x) for x in args.levels.split(",")], args.rounds)
    print(f"load average {load:.1f} at start, {os.getloadavg()[0]:.1f} at end (2 cores)\n")
    print(
        "| concurrent | wall (s) | deploys/min (wall) | CPU s / deploy | deploys/min per free "
        "core | AssumeRole / deploy | API calls / deploy | handler-lock wait (s) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['level']} | {r['wall']:.1f} | {r['per_min']:.1f} | {r['cpu_per_deploy']:.2f} "
            f"| {r['per_core_min']:.1f} | {r['assume_role']:.1f} | {r['calls']:.0f} "
            f"| {r['lock_wait']:.1f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
