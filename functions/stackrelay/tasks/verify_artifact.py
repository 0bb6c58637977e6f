"""Verify Artifact: the template at its version matches its sha256, and so does every
object it deploys (code, layers, definitions, nested templates) at its pinned version.

CloudFormation then reads the same versions (stackrelay.artifacts): what was
verified is what deploys, whatever is written to the bucket afterwards."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, TypedDict

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from stackrelay import artifacts, sessions, templates
from stackrelay.errors import THROTTLING_CODES, ArtifactMismatch, retryable_throttling
from stackrelay.model import Artifact
from stackrelay.parsing import Model, event_parser

logger = Logger()


@dataclass(frozen=True, kw_only=True)
class VerifyEvent(Model):
    artifact: Artifact


class Result(TypedDict):
    parameters: list[str]
    """The parameters the template declares (Create Change Set passes only these)."""
    size: int
    objects: int
    """How many artifact objects the template names, each verified at its version."""


def verify(s3: Any, artifact: Artifact) -> Result:
    where = f"s3://{artifact.bucket}/{artifact.key} (version {artifact.version})"
    try:
        body = s3.get_object(Bucket=artifact.bucket, Key=artifact.key, VersionId=artifact.version)[
            "Body"
        ].read()
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in THROTTLING_CODES:
            raise  # S3 is slowing us down: retried as Throttled, not a bad artifact
        raise ArtifactMismatch(
            f"The artifact {where} cannot be read ({code}). Publish it again with "
            "`stackrelay publish` and start a new execution."
        ) from None
    actual = hashlib.sha256(body).hexdigest()
    if actual != artifact.sha256:
        raise ArtifactMismatch(
            f"The artifact {where} has sha256 {actual}, not {artifact.sha256} as the input says: "
            "it changed after it was published. Publish again and start a new execution."
        )
    try:
        template = templates.load(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ArtifactMismatch(f"The artifact {where} is {exc}.") from None

    def read_version(bucket: str, key: str, version: str) -> bytes:
        return bytes(s3.get_object(Bucket=bucket, Key=key, VersionId=version)["Body"].read())

    try:
        objects = artifacts.verify(template, read_version)
    except artifacts.ArtifactError as exc:
        raise ArtifactMismatch(
            f"The artifact {where} cannot deploy: {exc} Publish again with `stackrelay publish` "
            "and start a new execution."
        ) from None
    return {
        "parameters": templates.declared_parameters(template),
        "size": len(body),
        "objects": len(objects),
    }


@logger.inject_lambda_context
@event_parser(model=VerifyEvent)
@retryable_throttling
def lambda_handler(event: VerifyEvent, context: LambdaContext) -> Result:
    return verify(sessions.client("s3"), event.artifact)
