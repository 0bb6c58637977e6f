"""Immutable artifacts: every S3 object a packaged template names, pinned and digested.

``sam package`` uploads code and definitions under content-hashed keys and
rewrites the template to name them, but it names no object version, and what
CloudFormation, Lambda and Step Functions read happens later (at execute time
for code). So after ``sam package`` StackRelay (``pin``):

- rewrites each reference to the object's S3 version (``Version`` /
  ``S3ObjectVersion`` / ``?versionId=``), nested templates first, recursively;
- records ``{bucket, key, version, sha256}`` of every object in the template's
  ``Metadata.StackRelay.Objects`` (the manifest);
- uploads the pinned template; its version and sha256 name the artifact.

The template's sha256 thus covers every byte that deploys. Verify Artifact
(``verify``) reads the template at its version, checks the sha256, and reads each
object of the manifest at its version and checks its sha256, and that every
reference in the template (and its nested templates) is pinned and listed.
Overwriting a key after that creates a new version nobody reads.

One table (``_PROPERTIES``) says where templates reference S3; publishing and
verifying both walk it, so they never disagree.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

MANIFEST_KEY = "StackRelay"

# (resource type, property) -> the shape of the reference:
#   "sam":    "s3://bucket/key" or {Bucket, Key, Version}          (SAM resources)
#   "lambda": {S3Bucket, S3Key, S3ObjectVersion}                    (Lambda code, layers)
#   "s3loc":  {Bucket, Key, Version}                                (DefinitionS3Location, ...)
#   "url":    https://bucket.s3.region.amazonaws.com/key?versionId= (nested templates)
_PROPERTIES: dict[tuple[str, str], str] = {
    ("AWS::Serverless::Function", "CodeUri"): "sam",
    ("AWS::Serverless::LayerVersion", "ContentUri"): "sam",
    ("AWS::Serverless::StateMachine", "DefinitionUri"): "sam",
    ("AWS::Serverless::Api", "DefinitionUri"): "sam",
    ("AWS::Serverless::HttpApi", "DefinitionUri"): "sam",
    ("AWS::Lambda::Function", "Code"): "lambda",
    ("AWS::Lambda::LayerVersion", "Content"): "lambda",
    ("AWS::StepFunctions::StateMachine", "DefinitionS3Location"): "s3loc",
    ("AWS::ApiGateway::RestApi", "BodyS3Location"): "s3loc",
    ("AWS::ApiGatewayV2::Api", "BodyS3Location"): "s3loc",
    ("AWS::CloudFormation::Stack", "TemplateURL"): "url",
    ("AWS::Serverless::Application", "Location"): "url",
}
_NESTED = {"AWS::CloudFormation::Stack", "AWS::Serverless::Application"}
_S3_HOST = re.compile(r"^(?:(?P<vhost>.+)\.)?s3[.-](?:(?P<region>[a-z0-9-]+)\.)?amazonaws\.com$")


class ArtifactError(ValueError):
    """A packaged template StackRelay cannot pin or verify; the message says why."""


class UnversionedBucket(ArtifactError):
    """The artifact bucket keeps no object versions, so nothing can be pinned."""


@dataclass(frozen=True)
class ObjectRef:
    """One S3 object a template names: where, and (once pinned) which version."""

    where: str  # "Resources.HelloFunction.Properties.CodeUri", for messages
    bucket: str
    key: str
    version: str | None
    nested: bool = False  # a nested stack's template (opened and checked in turn)
    include: bool = False  # AWS::Include: S3 takes no version there, the digest covers it


@dataclass(frozen=True)
class Pinned:
    bucket: str
    key: str
    version: str
    sha256: str

    def as_manifest(self) -> dict[str, str]:
        return {
            "Bucket": self.bucket,
            "Key": self.key,
            "Version": self.version,
            "Sha256": self.sha256,
        }


def s3_url(bucket: str, key: str, region: str, version: str | None = None) -> str:
    """The https URL CloudFormation reads a template from (with its version)."""
    url = f"https://{bucket}.s3.{region}.amazonaws.com/{key}"
    return f"{url}?versionId={version}" if version else url


def _parse_url(value: str) -> tuple[str, str, str | None] | None:
    """(bucket, key, version) of an s3:// or S3 https URL; None for anything else."""
    parsed = urlparse(value)
    versions = parse_qs(parsed.query).get("versionId")
    version = versions[0] if versions else None
    if parsed.scheme == "s3":
        return parsed.netloc, unquote(parsed.path.lstrip("/")), version
    if parsed.scheme not in ("https", "http"):
        return None
    host = parsed.hostname or ""
    match = _S3_HOST.match(host)
    path = unquote(parsed.path.lstrip("/"))
    if match and match.group("vhost"):
        return match.group("vhost"), path, version
    # Path style (s3.region.amazonaws.com/bucket/key), and what `sam package` writes
    # when AWS_ENDPOINT_URL points at an S3 emulator (http://localhost:4566/bucket/key).
    if (match or host in ("localhost", "127.0.0.1")) and "/" in path:
        bucket, key = path.split("/", 1)
        return bucket, key, version
    return None


def _read(value: Any, shape: str) -> tuple[str, str, str | None] | None:
    if shape in ("sam", "url") and isinstance(value, str):
        return _parse_url(value)
    if not isinstance(value, dict):
        return None
    if shape == "lambda" and "S3Bucket" in value and "S3Key" in value:
        return str(value["S3Bucket"]), str(value["S3Key"]), value.get("S3ObjectVersion")
    if shape in ("sam", "s3loc") and "Bucket" in value and "Key" in value:
        return str(value["Bucket"]), str(value["Key"]), value.get("Version")
    return None


def _write(shape: str, bucket: str, key: str, version: str, region: str) -> Any:
    if shape == "lambda":
        return {"S3Bucket": bucket, "S3Key": key, "S3ObjectVersion": version}
    if shape == "url":
        return s3_url(bucket, key, region, version)
    return {"Bucket": bucket, "Key": key, "Version": version}


def _walk_includes(node: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every ``Fn::Transform: {Name: AWS::Include, Parameters: {Location}}`` mapping."""
    if isinstance(node, dict):
        transform = node.get("Fn::Transform")
        if isinstance(transform, dict) and transform.get("Name") == "AWS::Include":
            yield path, transform.get("Parameters") or {}
        for key, value in node.items():
            yield from _walk_includes(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk_includes(value, f"{path}[{index}]")


@dataclass
class _Slot:
    """A place in a template that holds a reference: read it, or replace it."""

    where: str
    shape: str
    resource_type: str
    get: Callable[[], Any]
    put: Callable[[Any], None]

    def location(self) -> tuple[str, str, str | None] | None:
        """(bucket, key, version) of the S3 object here, or None (inline code, an
        intrinsic, a SAR application: nothing in S3)."""
        value = self.get()
        if self.shape == "include":
            return _parse_url(value) if isinstance(value, str) else None
        return _read(value, self.shape)


def _slots(template: dict[str, Any]) -> Iterator[_Slot]:
    for logical_id, resource in (template.get("Resources") or {}).items():
        if not isinstance(resource, dict):
            continue
        kind = str(resource.get("Type"))
        props = resource.get("Properties")
        if not isinstance(props, dict):
            continue
        for (rtype, prop), shape in _PROPERTIES.items():
            if rtype == kind and prop in props:
                yield _Slot(
                    f"Resources.{logical_id}.Properties.{prop}",
                    shape,
                    kind,
                    lambda p=props, k=prop: p[k],  # type: ignore[misc]
                    lambda v, p=props, k=prop: p.__setitem__(k, v),  # type: ignore[misc]
                )
    for where, params in _walk_includes(template, ""):
        if "Location" in params:
            yield _Slot(
                f"{where.lstrip('.')}.Fn::Transform(AWS::Include).Location",
                "include",
                "AWS::Include",
                lambda p=params: p["Location"],  # type: ignore[misc]
                lambda v, p=params: p.__setitem__("Location", v),  # type: ignore[misc]
            )


def references(template: dict[str, Any]) -> list[ObjectRef]:
    """Every S3 object the template names directly (nested templates not opened)."""
    found = []
    for slot in _slots(template):
        parsed = slot.location()
        if parsed is not None:
            found.append(
                ObjectRef(
                    slot.where,
                    *parsed,
                    nested=slot.resource_type in _NESTED,
                    include=slot.shape == "include",
                )
            )
    return found


def manifest(template: dict[str, Any]) -> list[dict[str, str]]:
    metadata = template.get("Metadata") or {}
    objects = (
        (metadata.get(MANIFEST_KEY) or {}).get("Objects") if isinstance(metadata, dict) else None
    )
    return list(objects or [])


def pin(
    template: dict[str, Any],
    *,
    bucket: str,
    region: str,
    read: Callable[[str, str], tuple[bytes, str | None]],
    upload: Callable[[str, bytes], tuple[str, str]],
    prefix: str,
    each_template: Callable[[dict[str, Any]], Any] | None = None,
) -> tuple[dict[str, Any], list[Pinned]]:
    """Pin every reference of a packaged template (in place) and list what it pins.

    ``read(bucket, key)`` returns (bytes, version id) of the object's latest version;
    ``upload(key, body)`` stores a pinned nested template and returns (key, version).
    Only objects in ``bucket`` under ``prefix`` are accepted: StackRelay deploys
    what it verified, and it verifies only the app's own artifacts.
    ``each_template`` is applied to the root and every nested template first.
    """
    from stackrelay import templates  # yaml, for nested templates: not on every import

    pinned: dict[tuple[str, str], Pinned] = {}

    def take(where: str, obj_bucket: str, key: str) -> Pinned:
        if obj_bucket != bucket or not key.startswith(f"{prefix}/"):
            raise ArtifactError(
                f"{where} names s3://{obj_bucket}/{key}, outside this app's artifacts "
                f"(s3://{bucket}/{prefix}/). StackRelay deploys only what it verified: point "
                "it at a local file or folder and `stackrelay publish` packages it."
            )
        if (obj_bucket, key) not in pinned:
            body, version = read(obj_bucket, key)
            if not version or version == "null":
                raise UnversionedBucket(
                    f"s3://{bucket} has no object versions (versioning is off): StackRelay "
                    "pins every object it deploys by version. Create the bucket with "
                    "setup/artifact-bucket.yaml, or enable versioning on it."
                )
            pinned[(obj_bucket, key)] = Pinned(
                obj_bucket, key, version, hashlib.sha256(body).hexdigest()
            )
        return pinned[(obj_bucket, key)]

    def walk(node: dict[str, Any]) -> None:
        if each_template is not None:
            each_template(node)
        for slot in list(_slots(node)):
            parsed = slot.location()
            if parsed is None:
                value = slot.get()
                if slot.resource_type in _NESTED and isinstance(value, str):
                    raise ArtifactError(f"{slot.where}: {value!r} is not an S3 template URL.")
                continue  # inline code, a SAR application, an intrinsic: nothing in S3
            obj_bucket, key, _ = parsed
            if slot.resource_type in _NESTED:
                body, _version = read(obj_bucket, key)
                if obj_bucket != bucket or not key.startswith(f"{prefix}/"):
                    take(slot.where, obj_bucket, key)  # raises with the reason
                try:
                    child = templates.load(body.decode("utf-8"))
                except (UnicodeDecodeError, ValueError) as exc:
                    raise ArtifactError(f"{slot.where}: the nested template {exc}") from None
                walk(child)
                data = templates.dump(child).encode("utf-8")
                child_key, child_version = upload(
                    f"{prefix}/{hashlib.sha256(data).hexdigest()}.template", data
                )
                entry = Pinned(bucket, child_key, child_version, hashlib.sha256(data).hexdigest())
                pinned[(bucket, child_key)] = entry
                slot.put(_write(slot.shape, bucket, child_key, child_version, region))
                continue
            entry = take(slot.where, obj_bucket, key)
            if slot.shape != "include":  # AWS::Include has no version: the digest covers it
                slot.put(_write(slot.shape, bucket, key, entry.version, region))
            else:
                slot.put(f"s3://{bucket}/{key}")

    walk(template)
    objects = sorted(pinned.values(), key=lambda p: p.key)
    metadata = template.setdefault("Metadata", {}).setdefault(MANIFEST_KEY, {})
    metadata["Objects"] = [p.as_manifest() for p in objects]
    return template, objects


def verify(
    template: dict[str, Any],
    read_version: Callable[[str, str, str], bytes],
) -> list[Pinned]:
    """Check every object the template (and its nested templates) deploys.

    ``read_version(bucket, key, version)`` returns that version's bytes. Raises
    ArtifactError naming the first object that is unpinned, unlisted, missing or
    changed.
    """
    from stackrelay import templates  # yaml, for nested templates: not on every import

    listed = {(o["Bucket"], o["Key"], o["Version"]): o["Sha256"] for o in manifest(template)}
    checked: dict[tuple[str, str, str], Pinned] = {}

    def check(bucket: str, key: str, version: str, where: str) -> bytes:
        expected = listed.get((bucket, key, version))
        if expected is None:
            raise ArtifactError(
                f"{where} names s3://{bucket}/{key} (version {version}), which the artifact's "
                "manifest does not list: the template was not published by `stackrelay publish`."
            )
        try:
            body = read_version(bucket, key, version)
        except Exception as exc:
            raise ArtifactError(
                f"{where}: s3://{bucket}/{key} version {version} cannot be read ({exc})."
            ) from None
        actual = hashlib.sha256(body).hexdigest()
        if actual != expected:
            raise ArtifactError(
                f"{where}: s3://{bucket}/{key} version {version} has sha256 {actual}, not "
                f"{expected} as published."
            )
        checked[(bucket, key, version)] = Pinned(bucket, key, version, actual)
        return body

    def walk(node: dict[str, Any], path: str) -> None:
        for ref in references(node):
            where = f"{path}{ref.where}"
            if ref.version is None:
                if not ref.include:
                    raise ArtifactError(
                        f"{where} names s3://{ref.bucket}/{ref.key} without a version: "
                        "CloudFormation could read bytes other than the verified ones."
                    )
                versions = [v for (b, k, v) in listed if (b, k) == (ref.bucket, ref.key)]
                if len(versions) != 1:
                    raise ArtifactError(f"{where}: s3://{ref.bucket}/{ref.key} is not listed.")
                check(ref.bucket, ref.key, versions[0], where)
                continue
            body = check(ref.bucket, ref.key, ref.version, where)
            if ref.nested:
                try:
                    child = templates.load(body.decode("utf-8"))
                except (UnicodeDecodeError, ValueError) as exc:
                    raise ArtifactError(f"{where}: the nested template {exc}") from None
                walk(child, f"{where} > ")

    walk(template, "")
    return sorted(checked.values(), key=lambda p: p.key)


def regional_bucket(bucket: str, region: str, home_region: str) -> str:
    """The artifact bucket that holds ``bucket``'s copies in ``region``.

    Lambda reads a function's and a layer's code only from a bucket in its own
    region, so a stage deployed to several regions deploys, in each further region,
    copies in ``<bucket>-<region>`` (setup/artifact-bucket.yaml deployed there).
    The home region (the orchestrator's, where ``stackrelay publish`` uploads) uses
    the bucket itself.
    """
    return bucket if region == home_region else f"{bucket}-{region}"


def relocate(
    template: dict[str, Any],
    *,
    bucket: str,
    region: str,
    copy: Callable[[str, str, str], str],
    read_version: Callable[[str, str, str], bytes],
    upload: Callable[[str, bytes], str],
) -> dict[str, Any]:
    """A copy of a verified template whose every reference names ``bucket`` (in ``region``).

    ``copy(source_bucket, key, version)`` copies that version to ``bucket`` under the
    same key and returns the copy's version; ``upload(key, body)`` stores a rewritten
    nested template in ``bucket`` and returns its version; ``read_version`` reads a
    nested template to rewrite. The manifest lists the copies with the published
    sha256 (they are byte-identical), so ``verify`` checks the copies in turn.
    The template passed in is not changed.
    """
    import copy as _copy

    from stackrelay import templates  # yaml, for nested templates: not on every import

    listed = {(o["Bucket"], o["Key"], o["Version"]): o["Sha256"] for o in manifest(template)}
    moved: dict[tuple[str, str, str], Pinned] = {}

    def move(source: str, key: str, version: str, where: str) -> Pinned:
        if (source, key, version) not in listed:
            raise ArtifactError(f"{where}: s3://{source}/{key} (version {version}) is not listed.")
        if (source, key, version) not in moved:
            moved[(source, key, version)] = Pinned(
                bucket, key, copy(source, key, version), listed[(source, key, version)]
            )
        return moved[(source, key, version)]

    def walk(node: dict[str, Any]) -> None:
        for slot in list(_slots(node)):
            parsed = slot.location()
            if parsed is None:
                continue
            source, key, version = parsed
            if slot.shape == "include":
                versions = [v for (b, k, v) in listed if (b, k) == (source, key)]
                if len(versions) != 1:
                    raise ArtifactError(f"{slot.where}: s3://{source}/{key} is not listed.")
                move(source, key, versions[0], slot.where)
                slot.put(f"s3://{bucket}/{key}")
                continue
            if version is None:
                raise ArtifactError(f"{slot.where}: s3://{source}/{key} has no version.")
            if slot.resource_type in _NESTED:
                child = templates.load(read_version(source, key, version).decode("utf-8"))
                walk(child)
                data = templates.dump(child).encode("utf-8")
                digest = hashlib.sha256(data).hexdigest()
                child_key = f"{key.rsplit('/', 1)[0]}/{digest}.template" if "/" in key else key
                entry = Pinned(bucket, child_key, upload(child_key, data), digest)
                moved[(bucket, child_key, entry.version)] = entry
            else:
                entry = move(source, key, version, slot.where)
            slot.put(_write(slot.shape, bucket, entry.key, entry.version, region))

    regional = _copy.deepcopy(template)
    walk(regional)
    objects = sorted(moved.values(), key=lambda p: p.key)
    regional.setdefault("Metadata", {}).setdefault(MANIFEST_KEY, {})["Objects"] = [
        p.as_manifest() for p in objects
    ]
    return regional
