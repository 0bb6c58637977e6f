"""Immutable artifacts (#11): what deploys is exactly what Verify Artifact checked.

The release parks on the prod approval, long after Verify Artifact. The publish
role then overwrites the packaged template and the code zip under their keys.
Prod still runs the verified bytes: CloudFormation and Lambda read the pinned
versions (TemplateURL ?versionId=, CodeUri Version), never "the latest".
"""

from __future__ import annotations

import base64
import hashlib
import json

from stackrelay import artifacts, templates
from stackrelay.naming import stack_name
from test_approval import Approvals

STAGING, PROD = "222222222222", "333333333333"


def _function_code_sha(releaser, account: str, stage: str) -> str:
    """CodeSha256 of the app's function in ``stage``'s stack."""
    cfn = releaser.engine.client("cloudformation", account=account)
    listed = cfn.list_stack_resources(StackName=stack_name("sr-", releaser.app, stage))
    (function,) = [
        r["PhysicalResourceId"]
        for r in listed["StackResourceSummaries"]
        if r.get("ResourceType") == "AWS::Lambda::Function"
    ]
    lam = releaser.engine.client("lambda", account=account)
    return str(lam.get_function(FunctionName=function)["Configuration"]["CodeSha256"])


def test_overwritten_template_and_zip_after_verify_prod_deploys_verified_bytes(releaser):
    artifact = releaser.publish()
    s3 = releaser.engine.client("s3")
    body = s3.get_object(
        Bucket=artifact["bucket"], Key=artifact["key"], VersionId=artifact["version"]
    )["Body"].read()
    (code,) = artifacts.manifest(templates.load(body.decode()))
    verified_zip = s3.get_object(Bucket=code["Bucket"], Key=code["Key"], VersionId=code["Version"])[
        "Body"
    ].read()
    verified_sha = base64.b64encode(hashlib.sha256(verified_zip).digest()).decode()

    # Given a release that passed Verify Artifact and waits for the prod approval
    arn = releaser.start(releaser.request("main", artifact))
    releaser.wait_approval(arn)
    # When the publish role overwrites the template and the code zip under their keys
    tampered = body.replace(b"Lists and adds AWS news items.", b"tampered")
    assert tampered != body
    s3.put_object(Bucket=artifact["bucket"], Key=artifact["key"], Body=tampered)
    s3.put_object(Bucket=code["Bucket"], Key=code["Key"], Body=b"PK\x05\x06" + b"\0" * 18)
    # and prod is approved (as the approve-prod job does)
    answer = Approvals(releaser).call("approve", approver="carol")
    assert "error" not in answer, answer
    run = releaser.finish(arn)

    # Then prod (and staging) run the verified zip, and nothing of the tampered bytes
    assert run.status == "SUCCEEDED", run.cause
    assert _function_code_sha(releaser, PROD, "prod") == verified_sha
    assert _function_code_sha(releaser, STAGING, "staging") == verified_sha
    cfn = releaser.engine.client("cloudformation", account=PROD)
    deployed = cfn.get_template(StackName=stack_name("sr-", releaser.app, "prod"))
    assert "tampered" not in json.dumps(deployed["TemplateBody"])


def test_overwritten_code_zip_before_start_verify_still_passes_on_pinned_versions(releaser):
    """An overwrite is a new version: the artifact still names (and deploys) its own."""
    artifact = releaser.publish()
    s3 = releaser.engine.client("s3")
    body = s3.get_object(
        Bucket=artifact["bucket"], Key=artifact["key"], VersionId=artifact["version"]
    )["Body"].read()
    (code,) = artifacts.manifest(templates.load(body.decode()))
    s3.put_object(Bucket=code["Bucket"], Key=code["Key"], Body=b"not the code")

    run = releaser.deploy("feature/pinned", artifact)

    assert run.status == "SUCCEEDED", run.cause


def test_artifact_naming_another_version_of_the_template_fails_artifact_mismatch(releaser):
    artifact = releaser.publish()
    s3 = releaser.engine.client("s3")
    other = s3.put_object(Bucket=artifact["bucket"], Key=artifact["key"], Body=b"Resources: {}")
    forged = {**artifact, "version": other["VersionId"]}

    run = releaser.deploy("feature/forged", forged)

    assert run.status == "FAILED"
    assert run.error == "ArtifactMismatch"
    assert artifact["sha256"] in run.cause
