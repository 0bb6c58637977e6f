"""Which GitLab project owns which app: the app <-> project binding.

Each app is registered to exactly one GitLab project, by numeric project id
*and* path, in the orchestrator's table (``REGISTRY#<app>`` / ``APP``). The
start and approval functions refuse a caller whose verified project is not the
app's (:func:`check`). Registration is an administrator's act
(``stackrelay register``): it writes the table directly, and no CI-held role may
(docs/setup.md). It is written conditionally, so an app is never silently
moved to another project: moving needs ``--replace``.

Why the id and the path: the id survives renames but IAM cannot see it (the CI
roles' trust pins the path); the path is what people read. A project that was
renamed or moved is refused until an administrator registers it again.

Why no app name may be another's hyphen-prefix (``shop`` and ``shop-api``):
stack and resource names are ``<prefix><app>-...``, and the target accounts'
per-app policies match ``<prefix><app>-*``; with such a pair one app's policy
would match the other's resources. Why at most ``naming.MAX_APP_LENGTH`` (20)
characters: CloudFormation shortens the stack part of the names it generates, and
a longer app name would be cut below ``sr-<app>-`` (``naming.app_scope``).
"""

from __future__ import annotations

import re
from typing import Any

from botocore.exceptions import ClientError

from stackrelay import clock, naming
from stackrelay.errors import AppNotRegistered, InvalidInput, ProjectMismatch
from stackrelay.identity import Identity
from stackrelay.model import APP_PATTERN, check_text
from stackrelay.records import clean, plain


def key(app: str) -> dict[str, str]:
    return {"pk": f"REGISTRY#{app}", "sk": "APP"}


def overlaps(a: str, b: str) -> bool:
    """True when one app name is the other's hyphen-prefix (or they are equal)."""
    return a == b or a.startswith(f"{b}-") or b.startswith(f"{a}-")


def registered(table: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "FilterExpression": "kind = :k",
        "ExpressionAttributeValues": {":k": "registration"},
    }
    while True:
        page = table.scan(**kwargs)
        items.extend(plain(i) for i in page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return sorted(items, key=lambda i: i["app"])
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def register(
    table: Any,
    app: str,
    project_id: str,
    project_path: str,
    by: str,
    replace: bool = False,
) -> dict[str, Any]:
    """Bind ``app`` to one GitLab project; refuses to rebind unless ``replace``."""
    if not re.match(APP_PATTERN, app) or naming.collides_with_review_stacks(app):
        raise InvalidInput(
            f"app {app!r} is not a valid app name ({APP_PATTERN}, no {naming.REVIEW!r})."
        )
    if len(app) > naming.MAX_APP_LENGTH:
        raise InvalidInput(
            f"app {app!r} is longer than {naming.MAX_APP_LENGTH} characters: the target "
            "accounts allow each app only names under its own prefix (sr-<app>-), and "
            "CloudFormation shortens generated names (S3 buckets, roles, functions) below a "
            "longer one. Choose a shorter app name."
        )
    if not str(project_id).isdigit():
        raise InvalidInput(f"project id {project_id!r} is not GitLab's numeric project id.")
    check_text("project_path", project_path)
    if not re.match(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$", project_path):
        raise InvalidInput(f"project path {project_path!r} is not a GitLab path (group/name).")
    for other in registered(table):
        if other["app"] != app and overlaps(app, other["app"]):
            raise InvalidInput(
                f"app {app!r} and the registered app {other['app']!r} would share stack and "
                "resource names (one is the other's hyphen-prefix). Choose another name."
            )
    item = {
        **key(app),
        "kind": "registration",
        "app": app,
        "project_id": str(project_id),
        "project_path": project_path,
        "registered_by": by,
        "registered_at": clock.now(),
    }
    condition: dict[str, Any] = {}
    if not replace:
        condition = {
            "ConditionExpression": "attribute_not_exists(pk) OR project_id = :id",
            "ExpressionAttributeValues": {":id": str(project_id)},
        }
    try:
        table.put_item(Item=clean(item), **condition)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            current = lookup(table, app)
            raise ProjectMismatch(
                f"{app} is registered to GitLab project {current['project_path']} "
                f"(id {current['project_id']}). To move it, run `stackrelay register` "
                "again with --replace."
            ) from None
        raise
    return plain({k: v for k, v in item.items() if k not in ("pk", "sk")})


def lookup(table: Any, app: str) -> dict[str, Any]:
    item = table.get_item(Key=key(app), ConsistentRead=True).get("Item")
    if not item:
        raise AppNotRegistered(
            f"{app} is not registered to a GitLab project. An administrator runs "
            f"`stackrelay register --app {app} --project-id <id> --project-path <group/name>` "
            "(docs/setup.md, step 4)."
        )
    return dict(plain(item))


def check(table: Any, app: str, identity: Identity) -> dict[str, Any]:
    """The app's registration, if ``identity``'s project owns the app; else refuse."""
    registration = lookup(table, app)
    if registration["project_id"] != identity.project_id:
        raise ProjectMismatch(
            f"{app} belongs to GitLab project {registration['project_path']}, not to "
            f"{identity.project_path} (project id {identity.project_id}). Nothing was "
            "started or decided."
        )
    if registration["project_path"] != identity.project_path:
        raise ProjectMismatch(
            f"{app} is registered to project id {identity.project_id} at path "
            f"{registration['project_path']}, but the token says {identity.project_path}: "
            "the project was renamed or moved. An administrator registers it again "
            "(`stackrelay register --replace`)."
        )
    return registration
