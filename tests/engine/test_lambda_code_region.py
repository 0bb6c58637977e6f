"""Lambda reads a function's and a layer's S3 code only from a bucket in its own region.

moto's S3 is one global namespace, so it would take any bucket; AWS refuses with
PermanentRedirect (CreateFunction, PublishLayerVersion). The engine does as AWS.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError
from stackrelay_local import EngineConfig, LocalEngine

HOME, OTHER = "us-east-1", "eu-west-1"


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return 1\n")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def engine() -> Iterator[tuple[LocalEngine, dict[str, str]]]:
    with LocalEngine(EngineConfig(region=HOME)) as engine:
        versions = {}
        for region in (HOME, OTHER):
            s3 = engine.client("s3", "orchestrator", region)
            bucket = f"code-{region}"
            kwargs = (
                {}
                if region == "us-east-1"
                else {"CreateBucketConfiguration": {"LocationConstraint": region}}
            )
            s3.create_bucket(Bucket=bucket, **kwargs)
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
            versions[region] = s3.put_object(Bucket=bucket, Key="app.zip", Body=_zip())["VersionId"]
        iam = engine.client("iam", "orchestrator")
        role = iam.create_role(
            RoleName="code-region-role",
            AssumeRolePolicyDocument='{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
            '"Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}',
        )["Role"]["Arn"]
        yield engine, {"role": role, **versions}


def _code(bucket_region: str, versions: dict[str, str]) -> dict[str, str]:
    return {
        "S3Bucket": f"code-{bucket_region}",
        "S3Key": "app.zip",
        "S3ObjectVersion": versions[bucket_region],
    }


@pytest.mark.parametrize("bucket_region", [HOME, OTHER])
def test_function_code_in_another_region_is_refused_as_aws_does(
    engine: tuple[LocalEngine, dict[str, str]], bucket_region: str
) -> None:
    local, facts = engine
    function_region = OTHER if bucket_region == HOME else HOME
    awslambda = local.client("lambda", "orchestrator", function_region)
    with pytest.raises(ClientError) as raised:
        awslambda.create_function(
            FunctionName=f"far-{bucket_region}",
            Runtime="python3.11",
            Role=facts["role"],
            Handler="app.handler",
            Code=_code(bucket_region, facts),
        )
    message = raised.value.response["Error"]["Message"]
    assert "S3 Error Code: PermanentRedirect" in message
    assert f"The bucket is in this region: {bucket_region}." in message


def test_layer_content_in_another_region_is_refused(
    engine: tuple[LocalEngine, dict[str, str]],
) -> None:
    local, facts = engine
    awslambda = local.client("lambda", "orchestrator", OTHER)
    with pytest.raises(ClientError, match="PermanentRedirect"):
        awslambda.publish_layer_version(LayerName="far", Content=_code(HOME, facts))


def test_code_in_the_functions_own_region_deploys(
    engine: tuple[LocalEngine, dict[str, str]],
) -> None:
    local, facts = engine
    for region in (HOME, OTHER):
        awslambda = local.client("lambda", "orchestrator", region)
        awslambda.publish_layer_version(LayerName="near", Content=_code(region, facts))
        created = awslambda.create_function(
            FunctionName="near",
            Runtime="python3.11",
            Role=facts["role"],
            Handler="app.handler",
            Code=_code(region, facts),
        )
        assert created["FunctionName"] == "near"
