"""Delivery metrics from the deployment records: one module, used by the task that
records an outcome (CloudWatch metrics, as it happens) and by ``stackrelay metrics``
(computed over the records of a period). docs/metrics.md says what each means.

- **deployment frequency**: stage outcomes ``deployed`` per day;
- **lead time for changes**: the commit's time (``CI_COMMIT_TIMESTAMP``, carried by
  ``stackrelay start`` as ``source.commit_timestamp``) to the stage's ``deployed``;
  a deployment without a commit time is not measured;
- **change failure rate**: change failures / (deployments + change failures);
  a change failure is a failed stage, except where no change was attempted
  because a person, the clock or another execution said no (:data:`NOT_A_CHANGE`);
- **time to restore**: from the first change failure of a stage to its next
  ``deployed`` or ``recovered`` outcome.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from stackrelay.errors import InvalidInput

DAY = 86400.0

NOT_A_CHANGE = frozenset({"DeploymentRejected", "ApprovalExpired", "ChangeSetStale", "StackBusy"})
"""Failed stages that changed nothing: rejected or expired approvals, a change set that
changed after review, a stack another execution held too long."""

RESTORING = frozenset({"deployed", "recovered"})

DEPLOYMENTS = "Deployments"
CHANGE_FAILURES = "ChangeFailures"
LEAD_TIME = "LeadTimeSeconds"
TIME_TO_RESTORE = "TimeToRestoreSeconds"
METRIC_NAMES = (DEPLOYMENTS, CHANGE_FAILURES, LEAD_TIME, TIME_TO_RESTORE)
"""The CloudWatch metrics (namespace StackRelay, dimensions App and Stage)."""


def is_deployment(record: dict[str, Any]) -> bool:
    return record.get("outcome") == "deployed"


def is_change_failure(record: dict[str, Any]) -> bool:
    return record.get("outcome") == "failed" and record.get("error") not in NOT_A_CHANGE


def commit_time(record: dict[str, Any]) -> float | None:
    """The commit's time as epoch seconds, from ``commit_timestamp`` (ISO 8601)."""
    value = record.get("commit_timestamp")
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def lead_time(record: dict[str, Any]) -> float | None:
    """Commit to deployed, in seconds; None when not a deployment or no commit time."""
    if not is_deployment(record):
        return None
    committed, finished = commit_time(record), record.get("finished_at")
    if committed is None or finished is None:
        return None
    return max(float(finished) - committed, 0.0)


def failing_since(previous: dict[str, Any] | None, record: dict[str, Any]) -> float | None:
    """When the stage's current run of change failures began (None: it is healthy).

    ``previous`` is the stack's LATEST item before ``record`` was written.
    """
    if not is_change_failure(record):
        return None if record.get("outcome") in RESTORING else _since(previous)
    return _since(previous) or float(record.get("finished_at") or 0) or None


def _since(previous: dict[str, Any] | None) -> float | None:
    value = (previous or {}).get("failing_since")
    return float(value) if value is not None else None


def point_metrics(
    record: dict[str, Any], previous: dict[str, Any] | None
) -> list[tuple[str, float, str]]:
    """``(name, value, unit)`` to emit as the stage's outcome is recorded."""
    found: list[tuple[str, float, str]] = []
    if is_deployment(record):
        found.append((DEPLOYMENTS, 1, "Count"))
        lead = lead_time(record)
        if lead is not None:
            found.append((LEAD_TIME, round(lead, 3), "Seconds"))
    if is_change_failure(record):
        found.append((CHANGE_FAILURES, 1, "Count"))
    since = _since(previous)
    if record.get("outcome") in RESTORING and since is not None and record.get("finished_at"):
        found.append((TIME_TO_RESTORE, round(float(record["finished_at"]) - since, 3), "Seconds"))
    return found


# -- over a period -----------------------------------------------------------------

_SINCE = re.compile(r"^(\d{1,5})([dhw])$")


def parse_since(text: str, now: float) -> float:
    """``30d``, ``12h``, ``2w`` or an ISO date/time: the start of the period (epoch s)."""
    text = (text or "").strip()
    match = _SINCE.match(text)
    if match:
        count, unit = int(match.group(1)), match.group(2)
        return now - count * {"h": 3600, "d": DAY, "w": 7 * DAY}[unit]
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"--since {text!r}: give a period such as 30d, 12h or 2w, or a date such as 2026-11-01."
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if parsed.timestamp() > now:
        raise InvalidInput(f"--since {text!r} is in the future.")
    return parsed.timestamp()


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def _mean(values: list[float]) -> float | None:
    return round(statistics.fmean(values), 3) if values else None


def summarize(records: Iterable[dict[str, Any]], since: float, now: float) -> list[dict[str, Any]]:
    """The four metrics per app and stage, over the records finished since ``since``.

    A record is never in the future; one stamped a hair after ``now`` (records keep
    milliseconds, rounded) still counts.
    """
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for record in records:
        finished = record.get("finished_at")
        if finished is None or float(finished) < since:
            continue
        groups.setdefault((str(record.get("app")), str(record.get("stage"))), []).append(record)
    days = max((now - since) / DAY, 1 / 24)
    rows = []
    for (app, stage), found in sorted(groups.items()):
        found.sort(key=lambda r: float(r["finished_at"]))
        deployments = [r for r in found if is_deployment(r)]
        failures = [r for r in found if is_change_failure(r)]
        leads = [t for t in (lead_time(r) for r in deployments) if t is not None]
        restores: list[float] = []
        down_since: float | None = None
        for r in found:
            if is_change_failure(r):
                down_since = down_since if down_since is not None else float(r["finished_at"])
            elif r.get("outcome") in RESTORING and down_since is not None:
                restores.append(float(r["finished_at"]) - down_since)
                down_since = None
        attempts = len(deployments) + len(failures)
        rows.append(
            {
                "app": app,
                "stage": stage,
                "deployments": len(deployments),
                "deployments_per_day": round(len(deployments) / days, 3),
                "lead_time_median_seconds": _median(leads),
                "lead_time_mean_seconds": _mean(leads),
                "lead_time_samples": len(leads),
                "change_failures": len(failures),
                "change_failure_rate": round(len(failures) / attempts, 4) if attempts else None,
                "time_to_restore_median_seconds": _median(restores),
                "restores": len(restores),
                "failing_since": down_since,
            }
        )
    return rows


def period(since: float, now: float) -> dict[str, Any]:
    start = datetime.fromtimestamp(since, tz=UTC)
    return {
        "since": start.isoformat(timespec="seconds"),
        "until": datetime.fromtimestamp(now, tz=UTC).isoformat(timespec="seconds"),
        "days": round((now - since) / DAY, 3),
    }


def human_duration(seconds: float | None) -> str:
    """``3d 4h``, ``2h 5m``, ``4m 10s`` (``-`` for None)."""
    if seconds is None:
        return "-"
    delta = timedelta(seconds=round(seconds))
    days, rest = delta.days, delta.seconds
    hours, minutes, secs = rest // 3600, rest % 3600 // 60, rest % 60
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s"
