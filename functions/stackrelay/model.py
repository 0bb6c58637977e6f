"""The execution input: what CI asks StackRelay to deploy.

One model, used by the first state of the workflow and by the CLI that builds
the input, so a request the CLI accepts is a request the workflow accepts.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from stackrelay.errors import InvalidInput

APP_PATTERN = r"^[a-z][a-z0-9-]{0,39}$"
_Strict = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Artifact(BaseModel):
    model_config = _Strict

    bucket: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    key: str = Field(min_length=1, max_length=1024)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class Source(BaseModel):
    model_config = _Strict

    project: str = Field(min_length=1, max_length=255)
    ref: str = Field(min_length=1, max_length=255)
    commit: str = Field(pattern=r"^[0-9a-f]{7,64}$")
    default_branch: str | None = Field(default=None, max_length=255)
    pipeline_id: str = Field(pattern=r"^[A-Za-z0-9-]{1,40}$")
    pipeline_url: str | None = Field(default=None, max_length=2048)
    job_url: str | None = Field(default=None, max_length=2048)
    user: str | None = Field(default=None, max_length=255)


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
        # Stack names are <prefix><app>-<stage> and <prefix><app>-review-<branch>: an app
        # with a "review" segment could collide with another app's review stacks.
        if "review" in app.split("-"):
            raise ValueError("must not contain the word 'review' between hyphens")
        return app

    @model_validator(mode="after")
    def _artifact_for_deploy(self) -> DeployRequest:
        if self.action == "deploy" and self.artifact is None:
            raise ValueError("artifact is required to deploy")
        return self


def _field_path(location: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in location) or "(input)"


def parse_request(payload: Any) -> DeployRequest:
    """Validate ``payload`` or raise :class:`InvalidInput` naming each bad field."""
    if not isinstance(payload, dict):
        raise InvalidInput(
            f"The execution input must be a JSON object, got {type(payload).__name__}. "
            "Start executions with `stackrelay start`, which builds it."
        )
    try:
        return DeployRequest.model_validate(payload)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = _field_path(error["loc"])
            message = error["msg"]
            if error["type"] == "string_pattern_mismatch":
                message = f"does not match {error['ctx']['pattern']}"
            elif error["type"] == "extra_forbidden":
                message = "is not a known field"
            problems.append(f"{where}: {message}")
        raise InvalidInput("Invalid execution input: " + "; ".join(problems)) from None
