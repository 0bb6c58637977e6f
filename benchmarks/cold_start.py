"""Cold-start import cost of each Lambda task, beside the same import plus Tracer.

Each handler imports only what it uses (Logger, the parser, Metrics where it
records): Powertools' Tracer would pull in aws-xray-sdk. This measures, in
fresh interpreters side by side, the median import time of every task module,
and of the same module with ``from aws_lambda_powertools import Tracer``
added, and prints the ratio. Run: ``.venv/bin/python -m benchmarks.cold_start``.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TASKS = sorted(
    p.stem for p in (ROOT / "functions/stackrelay/tasks").glob("*.py") if p.stem != "__init__"
)
RUNS = 9
ENV = {
    **os.environ,
    "PYTHONPATH": str(ROOT / "functions"),
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "DEV_ACCOUNT_ID": "111111111111",
    "STAGING_ACCOUNT_ID": "222222222222",
    "PROD_ACCOUNT_ID": "333333333333",
    "TARGET_REGION": "us-east-1",
    "DEPLOY_ROLE_NAME": "StackRelayDeployRole",
    "EXECUTION_ROLE_NAME": "StackRelayCloudFormationExecutionRole",
    "DEFAULT_BRANCH": "main",
    "TABLE_NAME": "table",
    "ARTIFACT_BUCKET": "bucket",
    "TOKEN_ISSUER": "https://gitlab.com",
    "TOKEN_AUDIENCE": "stackrelay",
    "POWERTOOLS_METRICS_NAMESPACE": "StackRelay",
    "POWERTOOLS_TRACE_DISABLED": "1",
}
PROBE = "import time; t = time.perf_counter(); {imports}; print(time.perf_counter() - t)"


def import_seconds(imports: str) -> float:
    samples = []
    for _ in range(RUNS):
        done = subprocess.run(
            [sys.executable, "-c", PROBE.format(imports=imports)],
            env=ENV,
            capture_output=True,
            text=True,
            check=True,
        )
        samples.append(float(done.stdout.strip()))
    return statistics.median(samples)


def main() -> None:
    print("| task | import (ms) | with Tracer (ms) | ratio |")
    print("|---|---:|---:|---:|")
    for task in TASKS:
        plain = import_seconds(f"import stackrelay.tasks.{task}")
        traced = import_seconds(
            f"import stackrelay.tasks.{task}; from aws_lambda_powertools import Tracer; Tracer()"
        )
        print(f"| {task} | {plain * 1000:.0f} | {traced * 1000:.0f} | {traced / plain:.2f}x |")


if __name__ == "__main__":
    main()
