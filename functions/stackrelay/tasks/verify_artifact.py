"""Verify Artifact: the template at its version matches its sha256, and so does every
object it deploys (code, layers, definitions, nested templates) at its pinned version.

CloudFormation then reads the same versions (stackrelay.artifacts): what was
verified is what deploys, whatever is written to the bucket afterwards.

Lambda reads code only from a bucket in the function's region: for each region of
the plan's targets other than the orchestrator's, every object is copied at its
version into that region's artifact bucket (``artifacts.regional_bucket``), each copy
checked against the published sha256, and a regional template naming the copies is
uploaded there under a content-addressed key. ``templates`` maps each target region
to the pinned template URL its change sets use (Create Change Set)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, TypedDict

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from stackrelay import artifacts, sessions, templates
from stackrelay.config import Settings
from stackrelay.errors import THROTTLING_CODES, ArtifactMismatch, retryable_throttling
from stackrelay.model import Artifact
from stackrelay.parsing import Model, event_parser
from stackrelay.plan import Stage

logger = Logger()


@dataclass(frozen=True, kw_only=True)
class VerifyEvent(Model):
    artifact: Artifact
    stages: list[Stage] = field(default_factory=list)
    """The plan's targets: their regions get regional copies."""


class Result(TypedDict):
    parameters: list[str]
    """The parameters the template declares (Create Change Set passes only these)."""
    size: int
    objects: int
    """How many artifact objects the template names, each verified at its version."""
    templates: dict[str, str]
    """Target region -> the pinned template URL its change sets use."""


def verify(
    s3: Any,
    artifact: Artifact,
    regions: list[str] | None = None,
    home_region: str = "",
    regional_s3: Any = None,
) -> Result:
    """Verify the artifact; copy it to each of ``regions`` other than ``home_region``.

    ``regional_s3(region)`` is the S3 client of a region (default ``s3``).
    """
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
    urls: dict[str, str] = {}
    for region in sorted(set(regions or ())):
        if region == home_region:
            urls[region] = artifacts.s3_url(artifact.bucket, artifact.key, region, artifact.version)
        else:
            client = regional_s3(region) if regional_s3 is not None else s3
            urls[region] = _copy_to(client, artifact, template, region, home_region)
    return {
        "parameters": templates.declared_parameters(template),
        "size": len(body),
        "objects": len(objects),
        "templates": urls,
    }


def _copy_to(
    s3: Any, artifact: Artifact, template: dict[str, Any], region: str, home_region: str
) -> str:
    """Copy the verified artifact into ``region``'s bucket; the regional template's URL."""
    bucket = artifacts.regional_bucket(artifact.bucket, region, home_region)

    def copy(source: str, key: str, version: str) -> str:
        return str(
            s3.copy_object(
                Bucket=bucket,
                Key=key,
                CopySource={"Bucket": source, "Key": key, "VersionId": version},
            )["VersionId"]
        )

    def read_version(source: str, key: str, version: str) -> bytes:
        return bytes(s3.get_object(Bucket=source, Key=key, VersionId=version)["Body"].read())

    def upload(key: str, data: bytes) -> str:
        return str(s3.put_object(Bucket=bucket, Key=key, Body=data)["VersionId"])

    try:
        regional = artifacts.relocate(
            template,
            bucket=bucket,
            region=region,
            copy=copy,
            read_version=read_version,
            upload=upload,
        )
        artifacts.verify(regional, read_version)  # each copy is the published bytes
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in THROTTLING_CODES:
            raise
        raise ArtifactMismatch(
            f"The artifact cannot be copied to s3://{bucket} for {region} ({code}): "
            f"deploy setup/artifact-bucket.yaml in {region} with BucketName {bucket} "
            "(docs/setup.md), then start a new execution."
        ) from None
    except artifacts.ArtifactError as exc:
        raise ArtifactMismatch(f"The copy in s3://{bucket} for {region}: {exc}") from None
    data = templates.dump(regional).encode("utf-8")
    prefix = artifact.key.rsplit("/", 1)[0] if "/" in artifact.key else ""
    key = f"{prefix}/{hashlib.sha256(data).hexdigest()}.template".lstrip("/")
    version = upload(key, data)
    return artifacts.s3_url(bucket, key, region, version)


@logger.inject_lambda_context
@event_parser(model=VerifyEvent)
@retryable_throttling
def lambda_handler(event: VerifyEvent, context: LambdaContext) -> Result:
    return verify(
        sessions.client("s3"),
        event.artifact,
        regions=[stage.region for stage in event.stages],
        home_region=Settings.from_env().region,
        regional_s3=lambda region: sessions.client("s3", region),
    )
