"""Cold import of every Lambda task against a bare ``import boto3``, side by side.

Each sample is a fresh interpreter that imports, in order and timed one after the
other, ``boto3`` and then the task module: both halves share the same moment of
the machine's load, so their ratio holds on a busy machine where absolute
milliseconds do not. The ratio is ``(boto3 + task) / boto3``: the cold start of an
invocation that makes a client (tasks make them on first use, so the import alone
leaves boto3 out). Also the parts, each timed after the ones before it: Powertools
Logger, the product's models (``stackrelay.parsing``, ``stackrelay.model``,
``stackrelay.plan``), and last what no task imports any more (pydantic, the Powertools
parser), for scale. ``--compare DIR`` also imports each task from another checkout (e.g.
main before a change), interleaved with this one's, so both columns share the load.

    .venv/bin/python -m benchmarks.imports [--rounds 7] [--tasks check_stack,plan]
                                           [--compare DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TASKS = sorted(
    p.stem for p in (ROOT / "functions/stackrelay/tasks").glob("*.py") if p.stem != "__init__"
)
ENV = {
    "PATH": os.environ.get("PATH", ""),
    "PYTHONPATH": str(ROOT / "functions"),
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "DEV_ACCOUNT_ID": "111111111111",
    "STAGING_ACCOUNT_ID": "222222222222",
    "PROD_ACCOUNT_ID": "333333333333",
    "TARGET_REGION": "us-east-1",
    "DEPLOY_ROLE_NAME": "StackRelayDeployRole",
    "EXECUTION_ROLE_NAME": "StackRelayExecution",
    "DEFAULT_BRANCH": "main",
    "TABLE_NAME": "table",
    "ARTIFACT_BUCKET": "bucket",
    "EVENT_BUS_NAME": "stackrelay",
    "TOKEN_ISSUER": "https://gitlab.com",
    "TOKEN_AUDIENCE": "stackrelay",
    "POWERTOOLS_SERVICE_NAME": "stackrelay",
    "POWERTOOLS_METRICS_NAMESPACE": "StackRelay",
    "POWERTOOLS_TRACE_DISABLED": "1",
}
PROBE = (
    "import time\nmarks = [time.perf_counter()]\n"
    "{steps}"
    "print(' '.join(str(b - a) for a, b in zip(marks, marks[1:])))"
)
PARTS = {
    "Powertools Logger": "from aws_lambda_powertools import Logger",
    "stackrelay.parsing (model dataclasses)": "import stackrelay.parsing",
    "stackrelay.model (execution input)": "import stackrelay.model",
    "stackrelay.plan (Stage)": "import stackrelay.plan",
    "pydantic (no task imports it)": "import pydantic",
    "Powertools parser (no task imports it)": (
        "from aws_lambda_powertools.utilities.parser import event_parser"
    ),
}


def sample(*steps: str, root: Path = ROOT) -> list[float]:
    """Seconds each import statement took, one after the other, in a fresh interpreter."""
    timed = "".join(f"{step}\nmarks.append(time.perf_counter())\n" for step in steps)
    code = PROBE.format(steps=timed)
    env = {**ENV, "PYTHONPATH": str(root / "functions")}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"{steps} failed:\n{done.stderr[-2000:]}")
    return [float(x) for x in done.stdout.strip().splitlines()[-1].split()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--compare", type=Path, help="another checkout, interleaved")
    args = parser.parse_args(argv)
    tasks = [t for t in args.tasks.split(",") if t]
    other: Path | None = args.compare
    ratios: dict[str, list[float]] = {t: [] for t in tasks}
    task_ms: dict[str, list[float]] = {t: [] for t in tasks}
    before: dict[str, list[float]] = {t: [] for t in tasks}
    boto_ms: list[float] = []
    parts: dict[str, list[float]] = {name: [] for name in PARTS}
    load = os.getloadavg()[0]
    for n in range(args.rounds):
        for task in tasks:
            boto, own = sample("import boto3", f"import stackrelay.tasks.{task}")
            boto_ms.append(boto)
            task_ms[task].append(own)
            ratios[task].append((boto + own) / boto)
            if other is not None and (other / f"functions/stackrelay/tasks/{task}.py").exists():
                boto, own = sample("import boto3", f"import stackrelay.tasks.{task}", root=other)
                before[task].append((boto + own) / boto)
        boto, *rest = sample("import boto3", *PARTS.values())
        for name, value in zip(PARTS, rest, strict=True):
            parts[name].append(value / boto)
        print(f"  round {n + 1}/{args.rounds}", file=sys.stderr)
    print(
        f"median of {args.rounds} fresh interpreters per task; load average {load:.1f} at "
        f"start, {os.getloadavg()[0]:.1f} at end (2 cores); `import boto3` median "
        f"{statistics.median(boto_ms) * 1000:.0f} ms\n"
    )
    compared = f" | {other} (boto3 + task) / boto3" if other else ""
    print(f"| task | task after boto3 (ms) | (boto3 + task) / boto3{compared} |")
    print("|---|---:|---:|" + ("---:|" if other else ""))
    for task in tasks:
        then = ""
        if other is not None:
            then = f" {statistics.median(before[task]):.2f}x |" if before[task] else " - |"
        print(
            f"| {task} | {statistics.median(task_ms[task]) * 1000:.0f} "
            f"| {statistics.median(ratios[task]):.2f}x |{then}"
        )
    worst = max(statistics.median(r) for r in ratios.values())
    print(f"\nworst task: {worst:.2f}x `import boto3`\n")
    print("| part, imported after boto3 and the parts above it | cost / boto3 |")
    print("|---|---:|")
    for name in PARTS:
        print(f"| {name} | {statistics.median(parts[name]):.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
