"""The SAM side of CloudFormation: the transform, and state machine definitions.

CloudFormation applies ``AWS::Serverless-2016-10-31`` server-side; moto does
not, so the engine runs aws-sam-translator on every template that asks for it
(any SAM app, not only ours).

Apps are built and packaged by the SAM CLI (``stackrelay publish``,
stackrelay_cli.build). ``package_local`` only serves ``LocalEngine.deploy_app``:
it puts StackRelay's *own* templates (the orchestrator, setup/) into the engine
from source, so the engine runs the handlers from functions/ (real files, real
tracebacks) and a bootstrap costs no SAM CLI run. It is the engine standing in
for ``sam deploy`` of the orchestrator, not a second packager for apps.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import re
import threading
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stackrelay import templates

SERVERLESS_TRANSFORM = "AWS::Serverless-2016-10-31"
_SUBSTITUTION = re.compile(r"\$\{([^}]+)\}")

# AWS managed policies SAM's policy templates and defaults refer to by name.
MANAGED_POLICIES = {
    name: f"arn:aws:iam::aws:policy/{path}{name}"
    for name, path in {
        "AWSLambdaBasicExecutionRole": "service-role/",
        "AWSLambdaVPCAccessExecutionRole": "service-role/",
        "AWSLambdaRole": "service-role/",
        "AWSLambdaSQSQueueExecutionRole": "service-role/",
        "AWSLambdaDynamoDBExecutionRole": "service-role/",
        "AWSLambdaKinesisExecutionRole": "service-role/",
        "AWSXrayWriteOnlyAccess": "",
        "AWSXRayDaemonWriteAccess": "",
        "CloudWatchLambdaInsightsExecutionRolePolicy": "",
        "AWSStepFunctionsFullAccess": "",
        "AmazonS3ReadOnlyAccess": "",
        "AmazonDynamoDBReadOnlyAccess": "",
        "CloudWatchLogsFullAccess": "",
        "AWSCloudFormationReadOnlyAccess": "",
        "AmazonAPIGatewayPushToCloudWatchLogs": "service-role/",
    }.items()
}


class TemplateError(ValueError):
    """A template the engine cannot deploy, with what to fix."""


class _StaticPolicyLoader:
    """samtranslator's ManagedPolicyLoader without the IAM ListPolicies call."""

    def load(self) -> dict[str, str]:
        return dict(MANAGED_POLICIES)


def load_template(text: str | bytes) -> dict[str, Any]:
    """The shared template reader (stackrelay.templates), with the engine's error type."""
    try:
        return templates.parse(text)
    except ValueError as exc:
        raise TemplateError(str(exc)) from None


def has_serverless_transform(template: dict[str, Any]) -> bool:
    transform = template.get("Transform")
    names = transform if isinstance(transform, list) else [transform]
    return SERVERLESS_TRANSFORM in names


def process_template(
    template: dict[str, Any],
    parameters: dict[str, str],
    account_id: str,
    region: str,
    read_s3: Callable[[str, str, str | None], bytes],
) -> dict[str, Any]:
    """What CloudFormation does to a template before creating resources.

    Applies the SAM transform, gives moto's ``AWS::ApiGateway::RestApi`` the
    ``Name`` it insists on, and inlines ``DefinitionS3Location`` state machine
    definitions (moto only supports ``DefinitionString``). Substitutions stay
    for the resource to resolve once their values (ARNs) exist.
    """
    result = copy.deepcopy(template)
    if has_serverless_transform(result):
        values: dict[str, Any] = {
            "AWS::Region": region,
            "AWS::AccountId": account_id,
            "AWS::Partition": "aws",
        }
        values.update(parameters)
        try:
            result = sam_transform(result, values, region)
        except Exception as exc:
            raise TemplateError(f"Transform {SERVERLESS_TRANSFORM} failed with: {exc}") from exc
    for logical_id, resource in (result.get("Resources") or {}).items():
        kind = resource.get("Type")
        props = resource.setdefault("Properties", {})
        if kind == "AWS::ApiGateway::RestApi" and "Name" not in props:
            body = props.get("Body") or {}
            title = (body.get("info") or {}).get("title") if isinstance(body, dict) else None
            props["Name"] = title or logical_id
        if kind == "AWS::StepFunctions::StateMachine" and "DefinitionS3Location" in props:
            location = props.pop("DefinitionS3Location")
            # Substitutions are textual (a number may be a bare ${X}): keep the raw text.
            body = read_s3(location["Bucket"], location["Key"], location.get("Version"))
            props["DefinitionString"] = body.decode("utf-8")
        if kind == "AWS::StepFunctions::StateMachine" and isinstance(props.get("Definition"), dict):
            props["DefinitionString"] = json.dumps(props.pop("Definition"))
    return result


_TRANSFORMED: dict[str, str] = {}
_TRANSFORMED_LOCK = threading.Lock()
_TRANSFORMED_MAX = 64


def sam_transform(template: dict[str, Any], values: dict[str, Any], region: str) -> dict[str, Any]:
    """The SAM transform of ``template``, translated once per content in this process.

    The translation is a pure function of the template, the parameter values and the
    region (the managed-policy map is static here), and it costs a boto3 Session and a
    scan of botocore's data per call: N deploys of one app's artifact with the same
    parameters translate once. Each caller gets its own copy.
    """
    key = hashlib.sha256(
        json.dumps([template, values, region], sort_keys=True, default=str).encode()
    ).hexdigest()
    text = _TRANSFORMED.get(key)
    if text is None:
        text = json.dumps(_translate(copy.deepcopy(template), values, region))
        with _TRANSFORMED_LOCK:
            if len(_TRANSFORMED) >= _TRANSFORMED_MAX:
                _TRANSFORMED.pop(next(iter(_TRANSFORMED)))
            _TRANSFORMED[key] = text
    return dict(json.loads(text))


def _translate(template: dict[str, Any], values: dict[str, Any], region: str) -> dict[str, Any]:
    """``samtranslator.translator.transform.transform`` with an explicit region.

    The stock ``transform`` builds a boto3 Session from the environment to
    find the region; a server thread has none, and the stack's region is the
    right one anyway.
    """
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator
    from samtranslator.utils.py27hash_fix import (
        to_py27_compatible_template,
        undo_mark_unicode_str_in_template,
    )

    to_py27_compatible_template(template, values)
    translator = Translator(None, Parser(), boto_session=boto3.Session(region_name=region))
    translated = translator.translate(
        template, parameter_values=values, get_managed_policy_map=_StaticPolicyLoader().load
    )
    return dict(undo_mark_unicode_str_in_template(translated))


def substitute_definition(definition: str, substitutions: dict[str, Any]) -> str:
    """Resolve every ``${X}``; an unresolved one is an error naming X."""
    missing = sorted({m for m in _SUBSTITUTION.findall(definition) if m not in substitutions})
    if missing:
        raise TemplateError(
            "State machine definition has unresolved substitution(s): "
            + ", ".join("${" + m + "}" for m in missing)
            + ". Add them to DefinitionSubstitutions."
        )
    return _SUBSTITUTION.sub(lambda m: str(substitutions[m.group(1)]), definition)


def zip_folder(folder: Path) -> bytes:
    """A deterministic zip of a code folder (same content -> same bytes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_dir() or "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            info = zipfile.ZipInfo(str(path.relative_to(folder)), date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


def package_local(
    template: dict[str, Any],
    base_dir: Path,
    upload: Callable[[str, bytes], tuple[str, str]],
    register_code: Callable[[str, str, Path], None],
) -> dict[str, Any]:
    """``sam package`` for a template on disk.

    Local ``CodeUri`` folders are zipped and uploaded (and remembered, so the
    function later runs from the real folder); local ``DefinitionUri`` files
    are uploaded after checking that each ``${X}`` has a substitution.
    """
    result = copy.deepcopy(template)
    globals_fn = (result.get("Globals") or {}).get("Function") or {}
    for logical_id, resource in (result.get("Resources") or {}).items():
        props = resource.setdefault("Properties", {})
        kind = resource.get("Type")
        if kind == "AWS::Serverless::Function":
            code_uri = props.get("CodeUri", globals_fn.get("CodeUri"))
            if isinstance(code_uri, str) and not code_uri.startswith("s3://"):
                folder = (base_dir / code_uri).resolve()
                if not folder.is_dir():
                    raise TemplateError(f"{logical_id}: CodeUri {code_uri!r} is not a folder")
                bucket, key = upload(".zip", zip_folder(folder))
                register_code(bucket, key, folder)
                props["CodeUri"] = f"s3://{bucket}/{key}"
        elif kind == "AWS::Serverless::StateMachine":
            uri = props.get("DefinitionUri")
            if isinstance(uri, str) and not uri.startswith("s3://"):
                path = (base_dir / uri).resolve()
                text = path.read_text()
                names = set(_SUBSTITUTION.findall(text))
                missing = sorted(names - set(props.get("DefinitionSubstitutions") or {}))
                if missing:
                    raise TemplateError(
                        f"{logical_id}: {uri} uses unresolved substitution(s) "
                        + ", ".join("${" + m + "}" for m in missing)
                        + "; add them to DefinitionSubstitutions"
                    )
                bucket, key = upload(".json", text.encode("utf-8"))
                props["DefinitionUri"] = {"Bucket": bucket, "Key": key}
    return result


def content_key(prefix: str, suffix: str, data: bytes) -> str:
    return f"{prefix}/{hashlib.sha256(data).hexdigest()}{suffix}"
