"""The execution input: what CI asks StackRelay to deploy.

One model, used by the first state of the workflow and by the CLI that builds
the input, so a request the CLI accepts is a request the workflow accepts.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from stackrelay import naming
from stackrelay.errors import InvalidInput

APP_PATTERN = r"^[a-z][a-z0-9-]{0,39}$"
PIPELINE_PATTERN = r"^[A-Za-z0-9-]{1,40}$"
COMMIT_TIMESTAMP_PATTERN = r"^\d{4}-\d{2}-\d{2}[T ][0-9:.]+(Z|[+-]\d{2}:?\d{2})?$"
"""ISO 8601, as GitLab's CI_COMMIT_TIMESTAMP (``2026-11-28T15:18:18+00:00``)."""
DIGEST_PATTERN = r"^[0-9a-f]{64}$"
_Strict = ConfigDict(extra="forbid", str_strip_whitespace=True)

# Unicode bidirectional formatting characters ("Trojan Source", CVE-2021-42574): they
# make a ref, a user or a reason read differently in a terminal or a GitLab page than
# what it is. Category Cf holds them, but also harmless joiners; these are refused.
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def unsafe_character(text: str) -> str | None:
    """The first control or bidi character in ``text`` (as ``U+XXXX``), or None.

    The one rule for every free-text field a caller or a token supplies (ref, user,
    reason, project, ...): refused with InvalidInput by the model, the CLI and the
    handlers alike. A NUL in a ref must never reach CloudFormation.
    """
    for char in text:
        if char in _BIDI or unicodedata.category(char) in ("Cc", "Zl", "Zp"):
            return f"U+{ord(char):04X}"
    return None


def _safe(text: Any) -> Any:
    # Before the model strips whitespace, so a trailing newline is refused, not trimmed.
    found = unsafe_character(text) if isinstance(text, str) else None
    if found is not None:
        raise ValueError(f"must not contain control or bidirectional characters (found {found})")
    return text


SafeText = Annotated[str, BeforeValidator(_safe)]
"""A string free of control and bidi characters: every free-text field."""


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


class Artifact(BaseModel):
    model_config = _Strict

    bucket: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    key: str = Field(min_length=1, max_length=1024)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    # The template's S3 version: CloudFormation reads exactly it (TemplateURL ?versionId=).
    version: str = Field(pattern=r"^[A-Za-z0-9._-]{1,1024}$")


class Source(BaseModel):
    """Who asks: in a started execution, copied from a verified GitLab ID token.

    The start function (``stackrelay.tasks.start``) is the only principal allowed
    to start executions, and it fills this from the token's claims
    (:func:`stackrelay.identity.source_of`); routing reads ``ref_type``,
    ``ref_protected`` and ``ref`` from here (:func:`stackrelay.plan.is_release`).
    """

    model_config = _Strict

    project: SafeText = Field(min_length=1, max_length=255)
    project_id: str | None = Field(default=None, pattern=r"^\d{1,20}$")
    ref: SafeText = Field(min_length=1, max_length=255)
    ref_type: Literal["branch", "tag"] = "branch"
    ref_protected: bool = False
    commit: str = Field(pattern=r"^[0-9a-f]{7,64}$")
    default_branch: SafeText | None = Field(default=None, max_length=255)
    pipeline_id: str = Field(pattern=PIPELINE_PATTERN)
    pipeline_url: SafeText | None = Field(default=None, max_length=2048)
    job_url: SafeText | None = Field(default=None, max_length=2048)
    user: SafeText | None = Field(default=None, max_length=255)
    commit_timestamp: str | None = Field(
        default=None, max_length=64, pattern=COMMIT_TIMESTAMP_PATTERN
    )
    """When the commit was made (CI_COMMIT_TIMESTAMP): lead time starts here (metrics only)."""


class DeployRequest(BaseModel):
    """``{"app", "artifact", "source", "action"}`` as in DESIGN.md."""

    model_config = _Strict

    app: str = Field(pattern=APP_PATTERN)
    artifact: Artifact | None = None
    source: Source
    action: Literal["deploy", "teardown"] = "deploy"

    @field_validator("app")
    @classmethod
    def _no_review_segment(cls, app: str) -> str:
        if naming.collides_with_review_stacks(app):
            raise ValueError(f"must not contain the word {naming.REVIEW!r} between hyphens")
        return app

    @model_validator(mode="after")
    def _artifact_for_deploy(self) -> DeployRequest:
        if self.action == "deploy" and self.artifact is None:
            raise ValueError("artifact is required to deploy")
        return self


class StartCommand(BaseModel):
    """What a CI job sends the start function: its ID token, and what to deploy.

    Nothing here says who asks or where to deploy: that follows from the token's
    verified claims (:mod:`stackrelay.identity`). The CLI builds it with this model,
    the start function parses it with this model.
    """

    model_config = ConfigDict(extra="forbid")

    id_token: SecretStr = Field(repr=False)
    app: str = Field(pattern=APP_PATTERN)
    action: Literal["deploy", "teardown"] = "deploy"
    artifact: Artifact | None = None
    commit_timestamp: str | None = Field(
        default=None, max_length=64, pattern=COMMIT_TIMESTAMP_PATTERN
    )
    """CI_COMMIT_TIMESTAMP: the one caller-written source field, for lead time only
    (it routes nothing, and the token does not carry it)."""

    @model_validator(mode="after")
    def _artifact_for_deploy(self) -> StartCommand:
        if self.action == "deploy" and self.artifact is None:
            raise ValueError("artifact is required to deploy")
        return self

    def payload(self) -> dict[str, Any]:
        """The JSON the CLI sends (the token in clear: only over the Lambda invoke)."""
        body = self.model_dump(exclude_none=True)
        body["id_token"] = self.id_token.get_secret_value()
        return body


def _field_path(location: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in location) or "(input)"


def problems(exc: ValidationError) -> str:
    """Each bad field and why, never its value (a value may be a secret)."""
    found = []
    for error in exc.errors():
        where = _field_path(error["loc"])
        message = error["msg"]
        if error["type"] == "string_pattern_mismatch":
            message = f"does not match {error['ctx']['pattern']}"
        elif error["type"] == "extra_forbidden":
            message = "is not a known field"
        elif error["type"] == "value_error":
            message = str(error["ctx"]["error"])
        found.append(f"{where}: {message}")
    return "; ".join(found)


_M = TypeVar("_M", bound=BaseModel)


def parse_model(model: type[_M], payload: Any, what: str) -> _M:
    """Validate ``payload`` as ``model`` or raise :class:`InvalidInput` (no values echoed)."""
    if not isinstance(payload, dict):
        raise InvalidInput(f"{what} must be a JSON object, got {type(payload).__name__}.")
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise InvalidInput(f"Invalid {what}: {problems(exc)}") from None


def parse_request(payload: Any) -> DeployRequest:
    """Validate ``payload`` or raise :class:`InvalidInput` naming each bad field."""
    if not isinstance(payload, dict):
        raise InvalidInput(
            f"The execution input must be a JSON object, got {type(payload).__name__}. "
            "Start executions with `stackrelay start`, which builds it."
        )
    return parse_model(DeployRequest, payload, "execution input")
