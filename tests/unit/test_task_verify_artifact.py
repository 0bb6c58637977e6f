"""tasks.verify_artifact.verify: the artifact exists, matches its sha256 and is a template."""

from __future__ import annotations

import hashlib
from typing import Any

import boto3
import pytest
from stackrelay.errors import ArtifactMismatch
from stackrelay.model import Artifact

BUCKET = "stackrelay-artifacts"
TEMPLATE = b"""\
AWSTemplateFormatVersion: 2010-09-09
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage: {Type: String}
  LogLevel: {Type: String, Default: INFO}
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.handler
      Environment:
        Variables:
          STAGE: !Ref Stage
"""


@pytest.fixture
def s3(aws: None) -> Any:
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def verify(task_module: Any) -> Any:
    return task_module("verify_artifact").verify


def upload(s3: Any, body: bytes, key: str = "aws-news/x/packaged.yaml") -> Artifact:
    s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    return Artifact(bucket=BUCKET, key=key, sha256=hashlib.sha256(body).hexdigest())


def test_verify_matching_template_returns_parameters_and_size(s3: Any, verify: Any) -> None:
    artifact = upload(s3, TEMPLATE)

    assert verify(s3, artifact) == {"parameters": ["LogLevel", "Stage"], "size": len(TEMPLATE)}


def test_verify_sha256_mismatch_raises_with_both_hashes(s3: Any, verify: Any) -> None:
    artifact = upload(s3, TEMPLATE)
    s3.put_object(Bucket=BUCKET, Key=artifact.key, Body=TEMPLATE + b"# tampered\n")

    with pytest.raises(ArtifactMismatch) as caught:
        verify(s3, artifact)

    actual = hashlib.sha256(TEMPLATE + b"# tampered\n").hexdigest()
    assert actual in str(caught.value)
    assert artifact.sha256 in str(caught.value)


@pytest.mark.parametrize(
    ("bucket", "key", "code"),
    [(BUCKET, "missing/packaged.yaml", "NoSuchKey"), ("other-bucket", "k", "NoSuchBucket")],
)
def test_verify_unreadable_artifact_raises_with_code(
    s3: Any, verify: Any, bucket: str, key: str, code: str
) -> None:
    artifact = Artifact(bucket=bucket, key=key, sha256="0" * 64)

    with pytest.raises(ArtifactMismatch, match=f"s3://{bucket}/{key} cannot be read \\({code}\\)"):
        verify(s3, artifact)


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"\xff\xfe not utf-8", "codec"),
        (b"just: a mapping\n", "no Resources"),
        (b"{broken json", "not a CloudFormation template"),
    ],
)
def test_verify_not_a_template_raises(s3: Any, verify: Any, body: bytes, why: str) -> None:
    artifact = upload(s3, body)

    with pytest.raises(ArtifactMismatch, match=why):
        verify(s3, artifact)
