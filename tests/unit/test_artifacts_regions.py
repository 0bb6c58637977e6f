"""artifacts.regional_bucket and artifacts.relocate: a further region's copy of an artifact."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from stackrelay import artifacts

HOME = "stackrelay-artifacts"


def test_regional_bucket_is_the_bucket_at_home_and_suffixed_elsewhere() -> None:
    assert artifacts.regional_bucket(HOME, "us-east-1", "us-east-1") == HOME
    assert artifacts.regional_bucket(HOME, "eu-west-1", "us-east-1") == f"{HOME}-eu-west-1"


def _template() -> dict[str, Any]:
    zip_sha = hashlib.sha256(b"code").hexdigest()
    layer_sha = hashlib.sha256(b"layer").hexdigest()
    return {
        "Metadata": {
            "StackRelay": {
                "Objects": [
                    {"Bucket": HOME, "Key": "app/code.zip", "Version": "v1", "Sha256": zip_sha},
                    {"Bucket": HOME, "Key": "app/layer.zip", "Version": "v2", "Sha256": layer_sha},
                ]
            }
        },
        "Resources": {
            "Fn": {
                "Type": "AWS::Serverless::Function",
                "Properties": {"CodeUri": {"Bucket": HOME, "Key": "app/code.zip", "Version": "v1"}},
            },
            "Raw": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Code": {"S3Bucket": HOME, "S3Key": "app/code.zip", "S3ObjectVersion": "v1"}
                },
            },
            "Layer": {
                "Type": "AWS::Lambda::LayerVersion",
                "Properties": {
                    "Content": {"S3Bucket": HOME, "S3Key": "app/layer.zip", "S3ObjectVersion": "v2"}
                },
            },
        },
    }


def test_relocate_names_each_copy_once_and_lists_it_with_the_published_sha() -> None:
    template = _template()
    copies: list[tuple[str, str, str]] = []

    def copy(source: str, key: str, version: str) -> str:
        copies.append((source, key, version))
        return f"copy-of-{version}"

    regional = artifacts.relocate(
        template,
        bucket=f"{HOME}-eu-west-1",
        region="eu-west-1",
        copy=copy,
        read_version=lambda b, k, v: b"",
        upload=lambda k, d: "x",
    )

    assert copies == [(HOME, "app/code.zip", "v1"), (HOME, "app/layer.zip", "v2")]
    refs = {(r.bucket, r.key, r.version) for r in artifacts.references(regional)}
    assert refs == {
        (f"{HOME}-eu-west-1", "app/code.zip", "copy-of-v1"),
        (f"{HOME}-eu-west-1", "app/layer.zip", "copy-of-v2"),
    }
    assert [(o["Bucket"], o["Version"], o["Sha256"]) for o in artifacts.manifest(regional)] == [
        (f"{HOME}-eu-west-1", "copy-of-v1", hashlib.sha256(b"code").hexdigest()),
        (f"{HOME}-eu-west-1", "copy-of-v2", hashlib.sha256(b"layer").hexdigest()),
    ]
    assert template == _template()  # the verified template is left as it was
    stored = {
        (o["Bucket"], o["Key"], o["Version"]): b"code" if "code" in o["Key"] else b"layer"
        for o in artifacts.manifest(regional)
    }
    assert len(artifacts.verify(regional, lambda b, k, v: stored[(b, k, v)])) == 2


def test_relocated_copy_that_differs_fails_verify() -> None:
    regional = artifacts.relocate(
        _template(),
        bucket=f"{HOME}-eu-west-1",
        region="eu-west-1",
        copy=lambda s, k, v: v,
        read_version=lambda b, k, v: b"",
        upload=lambda k, d: "x",
    )
    with pytest.raises(artifacts.ArtifactError, match="has sha256"):
        artifacts.verify(regional, lambda b, k, v: b"other bytes")


def test_relocate_rewrites_a_nested_template_into_the_regional_bucket() -> None:
    from stackrelay import templates

    child = _template()
    child.pop("Metadata")
    body = templates.dump(child).encode()
    sha = hashlib.sha256(body).hexdigest()
    root = _template()
    root["Metadata"]["StackRelay"]["Objects"].append(
        {"Bucket": HOME, "Key": "app/n.template", "Version": "v3", "Sha256": sha}
    )
    root["Resources"]["Nested"] = {
        "Type": "AWS::CloudFormation::Stack",
        "Properties": {"TemplateURL": artifacts.s3_url(HOME, "app/n.template", "us-east-1", "v3")},
    }
    uploaded: dict[str, bytes] = {}

    def upload(key: str, data: bytes) -> str:
        uploaded[key] = data
        return "n1"

    regional = artifacts.relocate(
        root,
        bucket=f"{HOME}-eu-west-1",
        region="eu-west-1",
        copy=lambda s, k, v: f"copy-of-{v}",
        read_version=lambda b, k, v: body,
        upload=upload,
    )

    (key,) = uploaded
    nested = templates.load(uploaded[key].decode())
    assert {r.bucket for r in artifacts.references(nested)} == {f"{HOME}-eu-west-1"}
    url = regional["Resources"]["Nested"]["Properties"]["TemplateURL"]
    assert url == artifacts.s3_url(f"{HOME}-eu-west-1", key, "eu-west-1", "n1")
