"""The execution input: what CI asks StackRelay to deploy.

One model, used by the first state of the workflow and by the CLI that builds
the input, so a request the CLI accepts is a request the workflow accepts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypeVar

from stackrelay import naming
from stackrelay.errors import InvalidInput
from stackrelay.parsing import Model, Secret, dump, parse, text, unsafe_character

__all__ = [
    "APP_PATTERN",
    "Artifact",
    "DeployRequest",
    "Source",
    "StartCommand",
    "check_text",
    "parse_model",
    "parse_request",
    "unsafe_character",
]

APP_PATTERN = r"^[a-z][a-z0-9-]{0,39}$"
PIPELINE_PATTERN = r"^[A-Za-z0-9-]{1,40}$"
COMMIT_TIMESTAMP_PATTERN = r"^\d{4}-\d{2}-\d{2}[T ][0-9:.]+(Z|[+-]\d{2}:?\d{2})?$"
"""ISO 8601, as GitLab's CI_COMMIT_TIMESTAMP (``2026-11-28T15:18:18+00:00``)."""
DIGEST_PATTERN = r"^[0-9a-f]{64}$"


def check_text(field: str, value: str | None) -> str | None:
    """Raise InvalidInput when ``value`` holds a control or bidi character."""
    if value is not None:
        found = unsafe_character(value)
        if found is not None:
            raise InvalidInput(
                f"{field}: must not contain control or bidirectional characters "
                f"(found {found}). Nothing was started."
            )
    return value


@dataclass(frozen=True, kw_only=True)
class Artifact(Model):
    _forbid_extra: ClassVar[bool] = True
    _strip: ClassVar[bool] = True

    bucket: str = text(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    key: str = text(min_length=1, max_length=1024)
    sha256: str = text(pattern=r"^[0-9a-f]{64}$")
    # The template's S3 version: CloudFormation reads exactly it (TemplateURL ?versionId=).
    version: str = text(pattern=r"^[A-Za-z0-9._-]{1,1024}$")


@dataclass(frozen=True, kw_only=True)
class Source(Model):
    """Who asks: in a started execution, copied from a verified GitLab ID token.

    The start function (``stackrelay.tasks.start``) is the only principal allowed
    to start executions, and it fills this from the token's claims
    (:func:`stackrelay.identity.source_of`); routing reads ``ref_type``,
    ``ref_protected`` and ``ref`` from here (:func:`stackrelay.plan.is_release`).
    """

    _forbid_extra: ClassVar[bool] = True
    _strip: ClassVar[bool] = True

    project: str = text(min_length=1, max_length=255, safe=True)
    project_id: str | None = text(None, pattern=r"^\d{1,20}$")
    ref: str = text(min_length=1, max_length=255, safe=True)
    ref_type: Literal["branch", "tag"] = "branch"
    ref_protected: bool = False
    commit: str = text(pattern=r"^[0-9a-f]{7,64}$")
    default_branch: str | None = text(None, max_length=255, safe=True)
    pipeline_id: str = text(pattern=PIPELINE_PATTERN)
    pipeline_url: str | None = text(None, max_length=2048, safe=True)
    job_url: str | None = text(None, max_length=2048, safe=True)
    user: str | None = text(None, max_length=255, safe=True)
    commit_timestamp: str | None = text(None, max_length=64, pattern=COMMIT_TIMESTAMP_PATTERN)
    """When the commit was made (CI_COMMIT_TIMESTAMP): lead time starts here (metrics only)."""


def _artifact_problems(action: str, artifact: Artifact | None) -> list[tuple[str, str]]:
    if action == "deploy" and artifact is None:
        return [("", "artifact is required to deploy")]
    return []


@dataclass(frozen=True, kw_only=True)
class DeployRequest(Model):
    """``{"app", "artifact", "source", "action"}`` as in DESIGN.md."""

    _forbid_extra: ClassVar[bool] = True
    _strip: ClassVar[bool] = True

    app: str = text(pattern=APP_PATTERN)
    artifact: Artifact | None = None
    source: Source
    action: Literal["deploy", "teardown"] = "deploy"

    def _problems(self) -> list[tuple[str, str]]:
        found = _artifact_problems(self.action, self.artifact)
        if naming.collides_with_review_stacks(self.app):
            found.insert(0, ("app", f"must not contain the word {naming.REVIEW!r} between hyphens"))
        return found


@dataclass(frozen=True, kw_only=True)
class StartCommand(Model):
    """What a CI job sends the start function: its ID token, and what to deploy.

    Nothing here says who asks or where to deploy: that follows from the token's
    verified claims (:mod:`stackrelay.identity`). The CLI builds it with this model,
    the start function parses it with this model.
    """

    _forbid_extra: ClassVar[bool] = True

    id_token: Secret = text(repr=False)
    app: str = text(pattern=APP_PATTERN)
    action: Literal["deploy", "teardown"] = "deploy"
    artifact: Artifact | None = None
    commit_timestamp: str | None = text(None, max_length=64, pattern=COMMIT_TIMESTAMP_PATTERN)
    """CI_COMMIT_TIMESTAMP: the one caller-written source field, for lead time only
    (it routes nothing, and the token does not carry it)."""

    def _problems(self) -> list[tuple[str, str]]:
        return _artifact_problems(self.action, self.artifact)

    def payload(self) -> dict[str, Any]:
        """The JSON the CLI sends (the token in clear: only over the Lambda invoke)."""
        body = dict(dump(self, exclude_none=True))
        body["id_token"] = self.id_token.get_secret_value()
        return body


_M = TypeVar("_M")


def parse_model(model: type[_M], payload: Any, what: str) -> _M:
    """Validate ``payload`` as ``model`` or raise :class:`InvalidInput` (no values echoed)."""
    return parse(model, payload, what)


def parse_request(payload: Any) -> DeployRequest:
    """Validate ``payload`` or raise :class:`InvalidInput` naming each bad field."""
    if not isinstance(payload, dict):
        raise InvalidInput(
            f"The execution input must be a JSON object, got {type(payload).__name__}. "
            "Start executions with `stackrelay start`, which builds it."
        )
    return parse_model(DeployRequest, payload, "execution input")
