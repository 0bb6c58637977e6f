"""Build once, package once: a SAM app folder to a content-addressed artifact.

What ``sam package`` does, without Docker or the SAM CLI: every local code
folder becomes a deterministic zip named by its sha256, every local
definition file an object named by its sha256, and the template is rewritten
to point at them. The packaged template's own sha256 names the artifact, so
an unchanged app uploads nothing new and the same bytes deploy everywhere.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from stackrelay import templates

_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_SKIP_DIRS = {"__pycache__", ".git", ".aws-sam", "node_modules", ".venv", "tests", ".pytest_cache"}

# (resource type, property, kind): kind "zip" for code folders, "file" for single files.
_LOCAL_REFERENCES = (
    ("AWS::Serverless::Function", "CodeUri", "zip"),
    ("AWS::Serverless::LayerVersion", "ContentUri", "zip"),
    ("AWS::Serverless::StateMachine", "DefinitionUri", "file"),
    ("AWS::Serverless::Api", "DefinitionUri", "file"),
    ("AWS::Serverless::HttpApi", "DefinitionUri", "file"),
    ("AWS::Lambda::Function", "Code", "zip"),
)


class PackagingError(Exception):
    """The app folder cannot be packaged; the message says what to fix."""


@dataclass
class Artifact:
    bucket: str
    key: str
    sha256: str
    uploaded: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    boundary_note: str | None = None  # what publish added (stackrelay.boundary)

    def as_input(self) -> dict[str, str]:
        return {"bucket": self.bucket, "key": self.key, "sha256": self.sha256}


def find_template(app_dir: Path) -> Path:
    for name in ("template.yaml", "template.yml", "template.json"):
        if (app_dir / name).is_file():
            return app_dir / name
    raise PackagingError(
        f"{app_dir} has no template.yaml: point --app at a SAM app folder "
        "(the one `sam init` made)."
    )


def _files(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.rglob("*")):
        skipped = any(part in _SKIP_DIRS for part in path.relative_to(folder).parts)
        if path.is_file() and not skipped and path.suffix != ".pyc":
            yield path


def deterministic_zip(folder: Path) -> bytes:
    """The same files give the same bytes: fixed times, sorted names, fixed modes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in _files(folder):
            info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), _FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


def _install_requirements(source: Path) -> Path:
    """Copy a Python code folder and pip-install its requirements.txt into it."""
    build = Path(tempfile.mkdtemp(prefix="stackrelay-build-"))
    for path in _files(source):
        target = build / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "-r",
        str(source / "requirements.txt"),
        "-t",
        str(build),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise PackagingError(
            f"pip could not install {source / 'requirements.txt'}:\n{done.stderr.strip()[-2000:]}"
        )
    return build


def _has_requirements(folder: Path) -> bool:
    req = folder / "requirements.txt"
    return req.is_file() and any(
        line.strip() and not line.strip().startswith("#") for line in req.read_text().splitlines()
    )


class _Uploader:
    def __init__(self, s3: Any, bucket: str, prefix: str) -> None:
        self.s3, self.bucket, self.prefix = s3, bucket, prefix
        self.uploaded: list[str] = []
        self.reused: list[str] = []

    def put(self, body: bytes, key: str) -> str:
        """Upload unless the (content-addressed) key is already there."""
        try:
            self.s3.head_object(Bucket=self.bucket, Key=key)
            self.reused.append(key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
                raise
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)
            self.uploaded.append(key)
        return key

    def put_content(self, body: bytes, suffix: str) -> str:
        """``<prefix>/<sha256><suffix>``."""
        return self.put(body, f"{self.prefix}/{hashlib.sha256(body).hexdigest()}{suffix}")


def _local_path(value: Any, base: Path) -> Path | None:
    if not isinstance(value, str) or value.startswith("s3://") or "://" in value:
        return None
    path = (base / value).resolve()
    if not path.exists():
        raise PackagingError(f"{value!r} does not exist (relative to {base}).")
    return path


def package(app_dir: Path, app: str, s3: Any, bucket: str, install: bool = True) -> Artifact:
    """Package ``app_dir`` into ``bucket`` under ``<app>/``; returns the artifact."""
    template_path = find_template(app_dir)
    try:
        template = templates.load(template_path.read_text())
    except ValueError as exc:
        raise PackagingError(f"{template_path}: {exc}") from None
    from stackrelay import boundary

    boundary.apply(template)
    base = template_path.parent
    uploader = _Uploader(s3, bucket, app)
    zips: dict[Path, str] = {}

    def upload_folder(folder: Path) -> str:
        if folder not in zips:
            source = (
                _install_requirements(folder) if install and _has_requirements(folder) else folder
            )
            zips[folder] = uploader.put_content(deterministic_zip(source), ".zip")
        return zips[folder]

    global_code = ((template.get("Globals") or {}).get("Function") or {}).get("CodeUri")
    for logical_id, resource in (template.get("Resources") or {}).items():
        rtype = resource.get("Type")
        props = resource.setdefault("Properties", {}) or {}
        resource["Properties"] = props
        for ref_type, prop, kind in _LOCAL_REFERENCES:
            if rtype != ref_type:
                continue
            value = props.get(prop)
            if value is None and prop == "CodeUri" and global_code is not None:
                value = global_code
            if value is None and rtype == "AWS::Serverless::Function" and props.get("InlineCode"):
                continue
            if value is None and prop == "CodeUri":
                raise PackagingError(f"{logical_id} has no CodeUri (and Globals has none).")
            path = _local_path(value, base)
            if path is None:
                continue
            if kind == "zip":
                if not path.is_dir():
                    raise PackagingError(f"{logical_id}.{prop}: {path} is not a folder.")
                key = upload_folder(path)
                if rtype == "AWS::Lambda::Function":
                    props[prop] = {"S3Bucket": bucket, "S3Key": key}
                else:
                    props[prop] = f"s3://{bucket}/{key}"
            else:
                key = uploader.put_content(path.read_bytes(), path.suffix)
                props[prop] = {"Bucket": bucket, "Key": key}
    if global_code is not None:
        template["Globals"]["Function"].pop("CodeUri", None)
    body = templates.dump(template).encode("utf-8")
    sha256 = hashlib.sha256(body).hexdigest()
    key = uploader.put(body, f"{app}/{sha256}/packaged.yaml")
    return Artifact(
        bucket=bucket,
        key=key,
        sha256=sha256,
        uploaded=uploader.uploaded,
        reused=uploader.reused,
        boundary_note=boundary.applied_note(boundary.applied(template)),
    )
