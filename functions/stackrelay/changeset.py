"""The change-set summary and digest: what an approver sees and signs.

One function builds the summary (counts first, then a row per resource), one
renders it, one digests the change set's content. The approval binds to the
digest, so a change set that changed after review is caught before it runs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

IAM_TYPE_PREFIXES = ("AWS::IAM::", "AWS::SSO::")
IAM_TYPES = {"AWS::Lambda::Permission", "AWS::KMS::Key", "AWS::S3::BucketPolicy"}

_ACTIONS = {"Add": "add", "Modify": "modify", "Remove": "remove", "Import": "import"}


def _resource_change(change: dict[str, Any]) -> dict[str, Any]:
    return change.get("ResourceChange", change)


def _is_iam(rc: dict[str, Any]) -> bool:
    rtype = rc.get("ResourceType", "")
    if rtype.startswith(IAM_TYPE_PREFIXES) or rtype in IAM_TYPES:
        return True
    for detail in rc.get("Details") or []:
        name = (detail.get("Target") or {}).get("Name") or ""
        if name in {"Role", "Policies", "ManagedPolicyArns", "AssumeRolePolicyDocument"}:
            return True
    return False


def summarize(changes: list[dict[str, Any]], notes: list[str] | None = None) -> dict[str, Any]:
    """Counts, flags and one row per changed resource, ordered by risk.

    ``notes`` are what StackRelay itself changed in the app (e.g. the permissions
    boundary publish added): the approver sees them under the headline.
    """
    rows = []
    for change in changes:
        rc = _resource_change(change)
        action = _ACTIONS.get(rc.get("Action", ""), (rc.get("Action") or "?").lower())
        replacement = rc.get("Replacement") if action == "modify" else None
        rows.append(
            {
                "action": action,
                "logical_id": rc.get("LogicalResourceId", "?"),
                "type": rc.get("ResourceType", "?"),
                "replacement": replacement,
                "scope": sorted(rc.get("Scope") or []),
                "iam": _is_iam(rc),
            }
        )
    risk = {"remove": 0, "modify": 1, "add": 2}
    rows.sort(key=lambda r: (risk.get(r["action"], 3), r["replacement"] != "True", r["logical_id"]))
    counts = {
        "add": sum(r["action"] == "add" for r in rows),
        "modify": sum(r["action"] == "modify" for r in rows),
        "remove": sum(r["action"] == "remove" for r in rows),
        "replace": sum(r["replacement"] in ("True", "Conditional") for r in rows),
        "iam": sum(r["iam"] for r in rows),
    }
    summary: dict[str, Any] = {"counts": counts, "rows": rows}
    if notes:
        summary["notes"] = list(notes)
    return summary


def headline(summary: dict[str, Any]) -> str:
    """``3 to add, 1 to modify (1 replacement), 0 to remove; IAM changes``."""
    c = summary["counts"]
    text = f"{c['add']} to add, {c['modify']} to modify, {c['remove']} to remove"
    notes = []
    if c["replace"]:
        notes.append(f"{c['replace']} replacement{'s' * (c['replace'] != 1)}")
    if c["remove"]:
        notes.append(f"{c['remove']} deletion{'s' * (c['remove'] != 1)}")
    if c["iam"]:
        notes.append(f"{c['iam']} IAM-affecting")
    return text + (f" ({', '.join(notes)})" if notes else "")


def render(summary: dict[str, Any]) -> str:
    """A plain-text table, the same in the CLI, the approval function and logs."""
    lines = [headline(summary)]
    lines += [f"note: {note}" for note in summary.get("notes") or []]
    if summary["rows"]:
        header = ("ACTION", "RESOURCE", "TYPE", "REPLACEMENT", "FLAGS")
        table = [header]
        for r in summary["rows"]:
            # A summary read back from DynamoDB has no None values (records.clean).
            flags = []
            if r["iam"]:
                flags.append("IAM")
            if r["action"] == "remove":
                flags.append("DELETES")
            if r.get("replacement") in ("True", "Conditional"):
                flags.append("REPLACES")
            table.append(
                (
                    r["action"],
                    r["logical_id"],
                    r["type"],
                    r.get("replacement") or "-",
                    ",".join(flags) or "-",
                )
            )
        widths = [max(len(row[i]) for row in table) for i in range(len(header))]
        lines.append("")
        for row in table:
            lines.append(
                "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            )
    return "\n".join(lines)


def flags(summary: dict[str, Any]) -> dict[str, bool]:
    """What an approver must not miss: replacements, deletions, IAM changes."""
    c = summary["counts"]
    return {"replacement": c["replace"] > 0, "deletion": c["remove"] > 0, "iam": c["iam"] > 0}


def _md(cell: str) -> str:
    return cell.replace("|", "\\|").replace("\n", " ")


def markdown(summary: dict[str, Any]) -> str:
    """The summary's rows as a Markdown table (GitLab notes, chat); the headline is apart."""
    lines = ["| Action | Resource | Type | Replacement | Flags |", "|---|---|---|---|---|"]
    for r in summary["rows"]:
        marks = [
            name
            for name, on in (
                ("IAM", r["iam"]),
                ("DELETES", r["action"] == "remove"),
                ("REPLACES", r.get("replacement") in ("True", "Conditional")),
            )
            if on
        ]
        cells = (
            r["action"],
            f"`{r['logical_id']}`",
            r["type"],
            r.get("replacement") or "-",
            ", ".join(f"**{m}**" for m in marks) or "-",
        )
        lines.append("| " + " | ".join(_md(str(c)) for c in cells) + " |")
    return "\n".join(lines)


def digest(change_set: dict[str, Any]) -> str:
    """sha256 over what the change set would do: its changes and parameters.

    Ids and timestamps are left out on purpose: the digest says *what* runs.
    """
    content = {
        "stack": change_set.get("StackName"),
        "changes": [_resource_change(c) for c in change_set.get("Changes") or []],
        "parameters": sorted(
            (p.get("ParameterKey"), p.get("ParameterValue"))
            for p in change_set.get("Parameters") or []
        ),
    }
    blob = json.dumps(content, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


EXECUTED = ("EXECUTE_IN_PROGRESS", "EXECUTE_COMPLETE")
"""Execution statuses of a change set that already ran (a retried execute finds these)."""


@dataclass(frozen=True)
class Stale:
    """Why a reviewed change set can no longer run."""

    reason: str
    """``the change set no longer exists``, ``... is FAILED, not AVAILABLE``, ..."""
    discard: bool
    """The change set is still there but is not what was reviewed: delete it."""


def already_executed(found: dict[str, Any] | None) -> bool:
    """The reviewed change set already ran (a retry of Execute after its answer was lost)."""
    return found is not None and found.get("ExecutionStatus") in EXECUTED


def stale_reason(found: dict[str, Any] | None, reviewed: str) -> Stale | None:
    """Is ``found`` (DescribeChangeSet, None when gone) still the change set whose
    summary had the digest ``reviewed``, and may it run? None when it may; else why not.

    The one rule the approval function (before it answers) and Execute Change Set
    (before it executes) both apply.
    """
    if found is None:
        return Stale("the change set no longer exists", discard=False)
    status = found.get("ExecutionStatus")
    if status != "AVAILABLE":
        return Stale(f"the change set is {status}, not AVAILABLE", discard=False)
    if digest(found) != reviewed:
        return Stale("the change set's content changed after it was summarised", discard=True)
    return None
