"""What ``stackrelay publish`` ships: what the SAM CLI builds and packages, pinned.

1. **Build**: ``.aws-sam/build/template.yaml`` when the app folder has one (a CI build
   job made it in an image matching the app's runtimes), else ``sam build`` into a
   temporary folder (removed afterwards). Every runtime, architecture, layer and
   nested application is the SAM CLI's business; StackRelay never zips code.
2. **Package**: ``sam package`` uploads code, layers, definitions and nested
   templates under content-hashed keys below ``<app>/``: an unchanged app uploads
   nothing.
3. **Pin**: :mod:`stackrelay.artifacts` pins every object by version and writes the
   manifest; the pinned template is the artifact (``<app>/<sha256>/packaged.yaml``).

The SAM CLI is found through ``STACKRELAY_SAM_CLI``, then ``sam`` on PATH, then a
checkout's ``.sam-venv`` (``make tools``).
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from stackrelay import artifacts, boundary, layers, templates

from stackrelay_cli.errors import EXIT_CONFIG, EXIT_INVALID, EXIT_REFUSED

SAM_CLI_ENV = "STACKRELAY_SAM_CLI"
SAM_CLI_VERSION = "1.170.0"  # what `make tools` installs and the tests run
PREBUILT = Path(".aws-sam") / "build" / "template.yaml"
_CHECKOUT = Path(__file__).resolve().parents[2]
_INSTALL_SAM = (
    f"Install it in its own venv (it pins its own boto3): python3 -m venv ~/.sam-cli && "
    f"~/.sam-cli/bin/pip install aws-sam-cli=={SAM_CLI_VERSION}, then put ~/.sam-cli/bin on "
    f"PATH or set {SAM_CLI_ENV}=~/.sam-cli/bin/sam. In GitLab CI, build in a SAM build "
    "image (public.ecr.aws/sam/build-<runtime>), which has it."
)


class BuildError(Exception):
    """The app cannot be built or packaged; the message says what to do."""

    def __init__(self, message: str, code: int = EXIT_INVALID) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Artifact:
    bucket: str
    key: str
    sha256: str
    version: str
    objects: list[artifacts.Pinned] = field(default_factory=list)
    uploaded: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    built_by: str = "sam build"
    boundary_note: str | None = None  # what publish added (stackrelay.boundary)
    layer_note: str | None = None  # what publish named (stackrelay.layers)

    def as_input(self) -> dict[str, str]:
        return {
            "bucket": self.bucket,
            "key": self.key,
            "sha256": self.sha256,
            "version": self.version,
        }


def find_template(app_dir: Path) -> Path:
    for name in ("template.yaml", "template.yml", "template.json"):
        if (app_dir / name).is_file():
            return app_dir / name
    raise BuildError(
        f"{app_dir} has no template.yaml: point --app-dir at a SAM app folder "
        "(the one `sam init` made)."
    )


def find_sam() -> str:
    """The SAM CLI executable, or a BuildError saying how to install it."""
    configured = os.environ.get(SAM_CLI_ENV)
    if configured:
        path = shutil.which(os.path.expanduser(configured))
        if path:
            return path
        raise BuildError(
            f"{SAM_CLI_ENV}={configured} is not an executable. {_INSTALL_SAM}", EXIT_CONFIG
        )
    found = shutil.which("sam") or shutil.which(str(_CHECKOUT / ".sam-venv" / "bin" / "sam"))
    if found:
        return found
    raise BuildError(f"The SAM CLI (`sam`) is not installed. {_INSTALL_SAM}", EXIT_CONFIG)


def load(path: Path) -> dict[str, Any]:
    try:
        return templates.load(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise BuildError(f"{path}: {exc}") from None


def refuse_images(template: dict[str, Any], where: Path) -> None:
    """Container-image functions are refused (see docs/build.md: why, and what instead)."""
    globals_fn = (template.get("Globals") or {}).get("Function") or {}
    images = []
    for logical_id, resource in (template.get("Resources") or {}).items():
        if not isinstance(resource, dict):
            continue
        props = resource.get("Properties") or {}
        kind = resource.get("Type")
        if kind == "AWS::Serverless::Function":
            package_type = props.get("PackageType", globals_fn.get("PackageType"))
            if package_type == "Image" or "ImageUri" in props:
                images.append(logical_id)
        elif kind == "AWS::Lambda::Function" and (
            props.get("PackageType") == "Image" or "ImageUri" in (props.get("Code") or {})
        ):
            images.append(logical_id)
    if images:
        what = "is a container-image function" if len(images) == 1 else "are container-image"
        what += "" if len(images) == 1 else " functions"
        raise BuildError(
            f"{where}: {', '.join(sorted(images))} {what}"
            " (PackageType: Image). StackRelay releases zip functions only: an image would need "
            "an ECR repository the target accounts can pull from, pinned by digest, which "
            "StackRelay does not set up. Use PackageType: Zip (a CodeUri folder), or deploy "
            "image functions with `sam deploy`.",
            EXIT_REFUSED,
        )


def _sam_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"SAM_CLI_TELEMETRY": "0", "SAM_CLI_UPDATE_CHECK": "0", "NO_COLOR": "1"})
    env.pop("VIRTUAL_ENV", None)  # the SAM CLI runs in its own venv
    node_tools = _CHECKOUT / ".tools" / "node_modules" / ".bin"  # a checkout's esbuild
    if node_tools.is_dir():
        env["PATH"] = f"{env.get('PATH', '')}{os.pathsep}{node_tools}"
    env.update(extra or {})
    return env


def _run(command: Sequence[str], what: str, cwd: Path, env: dict[str, str]) -> str:
    try:
        done = subprocess.run(
            list(command),
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except OSError as exc:
        raise BuildError(
            f"{what}: cannot run {command[0]} ({exc}). {_INSTALL_SAM}", EXIT_CONFIG
        ) from None
    output = f"{done.stdout}\n{done.stderr}"
    if done.returncode != 0:
        raise BuildError(_explain(what, output))
    return output


_MISSING_RUNTIME = re.compile(
    r"Binary validation failed for (?P<binary>\S+?),.*?runtime: (?P<runtime>[a-z0-9.]+?)\.?\s", re.S
)


def _explain(what: str, output: str) -> str:
    """The SAM CLI's failure as a person can act on it."""
    missing = _MISSING_RUNTIME.search(output)
    if missing:
        runtime = missing.group("runtime")
        return (
            f"{what}: this machine has no {runtime} ({missing.group('binary')} for {runtime} is "
            f"not on PATH), and StackRelay never builds for another runtime than the app's. "
            f"Install {runtime} and run again; or build in a container where Docker runs "
            f"(`--use-container`); or in CI build in public.ecr.aws/sam/build-{runtime} and "
            "hand .aws-sam/build to publish (docs/build.md)."
        )
    if "Cannot find esbuild" in output:
        return (
            f"{what}: the app builds with esbuild (Metadata BuildMethod: esbuild), which is not "
            "installed: npm install -g esbuild (in a checkout: make tools), or build in "
            "public.ecr.aws/sam/build-nodejs<version>, which has it."
        )
    lines = [line for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if "Error" in line or "error" in line]
    return f"{what} failed:\n" + "\n".join((errors or lines)[-12:])


def sam_build(app_dir: Path, use_container: bool = False) -> Path:
    """`sam build` in the app folder, as a person or a CI build job runs it: the
    result is the app's own .aws-sam/build, which publish then ships."""
    source = find_template(app_dir)
    refuse_images(load(source), source)
    command = [find_sam(), "build", *(["--use-container"] if use_container else [])]
    _run(command, f"sam build of {app_dir}", cwd=app_dir, env=_sam_env())
    return app_dir / PREBUILT


@contextmanager
def built(app_dir: Path, use_container: bool = False) -> Iterator[tuple[Path, str]]:
    """The built template: the app's own .aws-sam/build, else a fresh `sam build`."""
    source = find_template(app_dir)
    refuse_images(load(source), source)
    prebuilt = app_dir / PREBUILT
    if prebuilt.is_file():
        refuse_images(load(prebuilt), prebuilt)
        yield prebuilt, f"the SAM CLI's build in {app_dir / PREBUILT.parent}"
        return
    sam = find_sam()
    work = Path(tempfile.mkdtemp(prefix="stackrelay-build-"))
    try:
        command = [
            sam,
            "build",
            "--template-file",
            str(source.resolve()),
            "--build-dir",
            str(work / "build"),
            *(["--use-container"] if use_container else []),
        ]
        _run(command, f"sam build of {app_dir}", cwd=work, env=_sam_env())
        yield work / "build" / "template.yaml", "sam build"
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _endpoint(s3: Any) -> str | None:
    """Where the S3 client really goes, when it is not AWS (the local engine)."""
    url = str(getattr(s3.meta, "endpoint_url", "") or "")
    return url if url and "amazonaws.com" not in url else None


def package(
    sam: str,
    template: Path,
    *,
    bucket: str,
    prefix: str,
    region: str,
    credentials: Any,
    endpoint_url: str | None,
) -> tuple[dict[str, Any], list[str]]:
    """`sam package` to the bucket; the packaged template and the keys it reused."""
    work = Path(tempfile.mkdtemp(prefix="stackrelay-package-"))
    try:
        extra = {"AWS_REGION": region, "AWS_DEFAULT_REGION": region}
        if credentials is not None:
            frozen = credentials.get_frozen_credentials()
            extra.update(
                {"AWS_ACCESS_KEY_ID": frozen.access_key, "AWS_SECRET_ACCESS_KEY": frozen.secret_key}
            )
            if frozen.token:
                extra["AWS_SESSION_TOKEN"] = frozen.token
        env = _sam_env(extra)
        if credentials is not None:
            for name in ("AWS_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
                env.pop(name, None)  # the frozen credentials above are the session's
            if not frozen.token:
                env.pop("AWS_SESSION_TOKEN", None)
        if endpoint_url:
            env["AWS_ENDPOINT_URL"] = endpoint_url
        out = work / "packaged.yaml"
        output = _run(
            [
                sam,
                "package",
                "--template-file",
                str(template),
                "--s3-bucket",
                bucket,
                "--s3-prefix",
                prefix,
                "--output-template-file",
                str(out),
                "--region",
                region,
                "--no-progressbar",
            ],
            f"sam package to s3://{bucket}/{prefix}/",
            cwd=template.parent,
            env=env,
        )
        reused = re.findall(r"already exists at (\S+?),? skipping upload", output)
        return load(out), reused
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _put_once(s3: Any, bucket: str, key: str, body: bytes) -> tuple[str, str, bool]:
    """(key, version, uploaded): reuse the latest version when its bytes are these."""
    try:
        current = s3.get_object(Bucket=bucket, Key=key)
        if current["Body"].read() == body and current.get("VersionId"):
            return key, str(current["VersionId"]), False
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
            raise
    put = s3.put_object(Bucket=bucket, Key=key, Body=body)
    version = put.get("VersionId")
    if not version:
        raise BuildError(
            f"s3://{bucket} has no object versions (versioning is off): StackRelay pins every "
            "object it deploys by version. Create the bucket with setup/artifact-bucket.yaml, "
            "or enable versioning on it.",
            EXIT_CONFIG,
        )
    return key, str(version), True


def publish(
    app_dir: Path,
    app: str,
    session: Any,
    bucket: str,
    *,
    sam_endpoint_url: str | None = None,
    use_container: bool = False,
    prebuilt: tuple[Path, str] | None = None,
) -> Artifact:
    """Build (or take the build), package, pin and upload; the artifact to start.

    ``sam_endpoint_url``: where ``sam package`` (another process) reaches S3 when the
    session's S3 is not AWS's (the in-process local engine's endpoint).
    ``prebuilt``: (built template, who built it) from :func:`built`, already entered.
    """
    s3 = session.client("s3")
    region = session.region_name or s3.meta.region_name or "us-east-1"
    ours: dict[str, bool] = {}  # templates StackRelay put: key -> uploaded (else reused)

    def read(obj_bucket: str, key: str) -> tuple[bytes, str | None]:
        got = s3.get_object(Bucket=obj_bucket, Key=key)
        return got["Body"].read(), got.get("VersionId")

    def upload(key: str, body: bytes) -> tuple[str, str]:
        key, version, new = _put_once(s3, bucket, key, body)
        ours[key] = new
        return key, version

    building = nullcontext(prebuilt) if prebuilt else built(app_dir, use_container=use_container)
    with building as (template_path, built_by):
        packaged, reused = package(
            find_sam(),
            template_path,
            bucket=bucket,
            prefix=app,
            region=region,
            credentials=session.get_credentials(),
            endpoint_url=sam_endpoint_url or _endpoint(s3),
        )
    try:
        template, objects = artifacts.pin(
            packaged,
            bucket=bucket,
            region=region,
            read=read,
            upload=upload,
            prefix=app,
            # every role gets the app's own boundary, every layer a name in its scope
            each_template=functools.partial(_scope_to_app, app=app),
        )
    except artifacts.UnversionedBucket as exc:
        raise BuildError(str(exc), EXIT_CONFIG) from None
    except artifacts.ArtifactError as exc:
        raise BuildError(str(exc)) from None
    body = templates.dump(template).encode("utf-8")
    sha256 = hashlib.sha256(body).hexdigest()
    key, version = upload(f"{app}/{sha256}/packaged.yaml", body)
    sam_keys = {o.key for o in objects} - set(ours)
    return Artifact(
        bucket=bucket,
        key=key,
        sha256=sha256,
        version=version,
        objects=objects,
        uploaded=sorted(
            [k for k in sam_keys if k not in reused] + [k for k, n in ours.items() if n]
        ),
        reused=sorted([k for k in sam_keys if k in reused] + [k for k, n in ours.items() if not n]),
        built_by=built_by,
        boundary_note=boundary.applied_note(boundary.applied(template)),
        layer_note=layers.applied_note(layers.applied(template)),
    )


def _scope_to_app(template: dict[str, Any], app: str) -> None:
    """What publish changes so the target accounts accept the app's template."""
    boundary.apply(template, name=boundary.name_for(app))
    layers.apply(template)
