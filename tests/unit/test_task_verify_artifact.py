"""tasks.verify_artifact.verify: the template at its version matches its sha256, is a
template, and every object it deploys matches the manifest at its pinned version."""

from __future__ import annotations

import dataclasses
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
    client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return client


@pytest.fixture
def verify(task_module: Any) -> Any:
    return task_module("verify_artifact").verify


def upload(s3: Any, body: bytes, key: str = "aws-news/x/packaged.yaml") -> Artifact:
    version = s3.put_object(Bucket=BUCKET, Key=key, Body=body)["VersionId"]
    return Artifact(
        bucket=BUCKET, key=key, sha256=hashlib.sha256(body).hexdigest(), version=version
    )


def test_verify_matching_template_returns_parameters_and_size(s3: Any, verify: Any) -> None:
    artifact = upload(s3, TEMPLATE)

    assert verify(s3, artifact) == {
        "parameters": ["LogLevel", "Stage"],
        "size": len(TEMPLATE),
        "objects": 0,
        "templates": {},
    }


def test_verify_overwritten_key_still_reads_the_published_version(s3: Any, verify: Any) -> None:
    artifact = upload(s3, TEMPLATE)
    s3.put_object(Bucket=BUCKET, Key=artifact.key, Body=TEMPLATE + b"# tampered\n")

    assert verify(s3, artifact)["size"] == len(TEMPLATE)


def test_verify_sha256_mismatch_raises_with_both_hashes(s3: Any, verify: Any) -> None:
    artifact = upload(s3, TEMPLATE)
    tampered = upload(s3, TEMPLATE + b"# tampered\n", key=artifact.key)
    claimed = dataclasses.replace(artifact, version=tampered.version)

    with pytest.raises(ArtifactMismatch) as caught:
        verify(s3, claimed)

    assert tampered.sha256 in str(caught.value)
    assert artifact.sha256 in str(caught.value)


def _app(s3: Any, code: bytes, *, listed_sha: str | None = None, pin: bool = True) -> Artifact:
    """A packaged app: one function whose zip is pinned and listed in the manifest."""
    version = s3.put_object(Bucket=BUCKET, Key="aws-news/code.zip", Body=code)["VersionId"]
    sha = listed_sha or hashlib.sha256(code).hexdigest()
    where = f"{{Bucket: {BUCKET}, Key: aws-news/code.zip, Version: {version}}}"
    if not pin:
        where = f"s3://{BUCKET}/aws-news/code.zip"
    body = (
        "Transform: AWS::Serverless-2016-10-31\n"
        "Metadata:\n  StackRelay:\n    Objects:\n"
        f"    - {{Bucket: {BUCKET}, Key: aws-news/code.zip, Version: {version}, Sha256: {sha}}}\n"
        "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n"
        f"    Properties: {{Handler: app.handler, CodeUri: {where}}}\n"
    ).encode()
    return upload(s3, body)


def test_verify_pinned_code_matching_manifest_counts_objects(s3: Any, verify: Any) -> None:
    assert verify(s3, _app(s3, b"zip bytes"))["objects"] == 1


def test_verify_code_zip_not_matching_manifest_names_the_object(s3: Any, verify: Any) -> None:
    artifact = _app(s3, b"zip bytes", listed_sha="0" * 64)

    with pytest.raises(ArtifactMismatch, match=r"CodeUri: s3://.*/aws-news/code.zip version"):
        verify(s3, artifact)


REGIONAL = f"{BUCKET}-eu-west-1"


@pytest.fixture
def regional_s3(s3: Any) -> Any:
    client = boto3.client("s3", region_name="eu-west-1")
    client.create_bucket(
        Bucket=REGIONAL, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    client.put_bucket_versioning(Bucket=REGIONAL, VersioningConfiguration={"Status": "Enabled"})
    return client


def test_verify_copies_the_artifact_to_each_further_region(
    s3: Any, regional_s3: Any, verify: Any
) -> None:
    from stackrelay import artifacts, templates

    artifact = _app(s3, b"zip bytes")
    s3.put_object(Bucket=BUCKET, Key="aws-news/code.zip", Body=b"overwritten later")

    result = verify(
        s3,
        artifact,
        regions=["us-east-1", "eu-west-1", "eu-west-1"],
        home_region="us-east-1",
        regional_s3=lambda region: regional_s3,
    )

    urls = result["templates"]
    assert urls["us-east-1"] == artifacts.s3_url(
        BUCKET, artifact.key, "us-east-1", artifact.version
    )
    assert urls["eu-west-1"].startswith(f"https://{REGIONAL}.s3.eu-west-1.amazonaws.com/aws-news/")
    key, version = urls["eu-west-1"].split(".amazonaws.com/")[1].split("?versionId=")
    regional = templates.load(
        regional_s3.get_object(Bucket=REGIONAL, Key=key, VersionId=version)["Body"].read().decode()
    )
    (ref,) = artifacts.references(regional)
    assert (ref.bucket, ref.key) == (REGIONAL, "aws-news/code.zip")
    # The copy is of the pinned version (not the later overwrite), at its own version.
    copied = regional_s3.get_object(Bucket=REGIONAL, Key=ref.key, VersionId=ref.version)
    assert copied["Body"].read() == b"zip bytes"
    (listed,) = artifacts.manifest(regional)
    assert listed == {
        "Bucket": REGIONAL,
        "Key": "aws-news/code.zip",
        "Version": ref.version,
        "Sha256": hashlib.sha256(b"zip bytes").hexdigest(),
    }


def test_verify_without_the_regional_bucket_says_what_to_deploy(s3: Any, verify: Any) -> None:
    with pytest.raises(ArtifactMismatch, match=f"artifact-bucket.yaml in eu-west-1 .*{REGIONAL}"):
        verify(
            s3,
            _app(s3, b"zip bytes"),
            regions=["eu-west-1"],
            home_region="us-east-1",
        )


def test_verify_unpinned_code_refused(s3: Any, verify: Any) -> None:
    with pytest.raises(ArtifactMismatch, match="without a version"):
        verify(s3, _app(s3, b"zip bytes", pin=False))


@pytest.mark.parametrize(
    ("bucket", "key", "code"),
    [(BUCKET, "missing/packaged.yaml", "NoSuchVersion"), ("other-bucket", "k", "NoSuchBucket")],
)
def test_verify_unreadable_artifact_raises_with_code(
    s3: Any, verify: Any, bucket: str, key: str, code: str
) -> None:
    artifact = Artifact(bucket=bucket, key=key, sha256="0" * 64, version="v1")

    with pytest.raises(
        ArtifactMismatch, match=f"s3://{bucket}/{key} .*cannot be read \\({code}\\)"
    ):
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
