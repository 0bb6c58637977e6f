"""Verify Artifact: the packaged template exists and matches its sha256."""

from __future__ import annotations

import hashlib
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parser import BaseModel, event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from stackrelay import templates
from stackrelay.errors import ArtifactMismatch, retryable_throttling
from stackrelay.model import Artifact

logger = Logger()
S3 = boto3.client("s3")


class VerifyEvent(BaseModel):
    artifact: Artifact


def verify(s3: Any, artifact: Artifact) -> dict[str, Any]:
    where = f"s3://{artifact.bucket}/{artifact.key}"
    try:
        body = s3.get_object(Bucket=artifact.bucket, Key=artifact.key)["Body"].read()
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
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
    return {"parameters": templates.declared_parameters(template), "size": len(body)}


@logger.inject_lambda_context
@event_parser(model=VerifyEvent)
@retryable_throttling
def lambda_handler(event: VerifyEvent, context: LambdaContext) -> dict[str, Any]:
    return verify(S3, event.artifact)
