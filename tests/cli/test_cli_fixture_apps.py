"""What publish ships runs on Lambda: the published zips of each fixture app, opened.

Each app under tests/fixtures/apps is built by the SAM CLI once per test run
(``sam_build``), published to a versioned bucket (moto over HTTP, as the SAM CLI
reaches S3 through AWS_ENDPOINT_URL) and then read back at its pinned versions.
"""

from __future__ import annotations

import io
import json
import os
import socket
import stat
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from stackrelay import artifacts, templates
from stackrelay_cli import build

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
APPS = REPO / "tests" / "fixtures" / "apps"
EM_AARCH64 = 183  # ELF e_machine of arm64


@pytest.fixture(scope="module")
def s3_url() -> Iterator[str]:
    """moto's S3 over HTTP: the SAM CLI (another process) reaches it like AWS."""
    from moto.server import ThreadedMotoServer

    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="localhost", port=port, verbose=False)
    server.start()
    try:
        yield f"http://localhost:{port}"
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _aws(clean_env: None, s3_url: str, sam_cli_path: str, monkeypatch) -> None:
    for name, value in {
        "AWS_ENDPOINT_URL": s3_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "STACKRELAY_SAM_CLI": sam_cli_path,
    }.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="module")
def bucket(s3_url: str) -> str:
    s3 = boto3.client(
        "s3",
        endpoint_url=s3_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(Bucket="fixture-artifacts")
    s3.put_bucket_versioning(
        Bucket="fixture-artifacts", VersioningConfiguration={"Status": "Enabled"}
    )
    return "fixture-artifacts"


class Published:
    """One fixture app's artifact, read at its pinned versions."""

    def __init__(self, artifact: build.Artifact) -> None:
        self.artifact = artifact
        self.s3 = boto3.client("s3")
        self.template = self.read_template(artifact.key, artifact.version)

    def read(self, key: str, version: str) -> bytes:
        bucket = self.artifact.bucket
        return bytes(self.s3.get_object(Bucket=bucket, Key=key, VersionId=version)["Body"].read())

    def read_template(self, key: str, version: str) -> dict[str, Any]:
        return templates.load(self.read(key, version).decode())

    def zip_of(self, template: dict[str, Any], logical_id: str) -> zipfile.ZipFile:
        (ref,) = [
            r for r in artifacts.references(template) if f"Resources.{logical_id}." in r.where
        ]
        assert ref.version, f"{logical_id} is not pinned"
        return zipfile.ZipFile(io.BytesIO(self.read(ref.key, ref.version)))


@pytest.fixture(scope="module")
def publish(bucket: str, sam_build: Callable[[Path], Path]) -> Callable[[str], Published]:
    done: dict[str, Published] = {}

    def _publish(name: str) -> Published:
        if name not in done:
            artifact = build.publish(sam_build(APPS / name), name, boto3.Session(), bucket)
            assert ".aws-sam/build" in artifact.built_by  # the run's one build, reused
            done[name] = Published(artifact)
        return done[name]

    return _publish


def _elf_machine(data: bytes) -> int:
    assert data[:4] == b"\x7fELF"
    return int.from_bytes(data[18:20], "little")


def test_python_arm64_native_dependency_ships_aarch64_so(publish) -> None:
    app = publish("python-arm64-native")
    code = app.zip_of(app.template, "NativeFunction")
    names = code.namelist()
    assert "app.py" in names
    shared = [n for n in names if n.endswith(".so")]
    assert any(n.startswith("markupsafe/_speedups") for n in shared), names
    assert all("aarch64" in n for n in shared)
    assert all(_elf_machine(code.read(n)) == EM_AARCH64 for n in shared)


def test_python_layer_from_requirements_has_python_prefix(publish) -> None:
    app = publish("python-layer")
    layer = app.zip_of(app.template, "DepsLayer").namelist()
    assert "python/six.py" in layer
    assert all(n.startswith("python/") for n in layer)
    assert "app.py" in app.zip_of(app.template, "LayeredFunction").namelist()


def test_node_dependency_ships_node_modules_and_keeps_execute_bits(publish) -> None:
    app = publish("node-dep")
    code = app.zip_of(app.template, "NodeFunction")
    names = code.namelist()
    assert "app.js" in names and "node_modules/ms/package.json" in names
    mode = code.getinfo("bin/tool.sh").external_attr >> 16
    assert mode & stat.S_IXUSR, oct(mode)


def test_typescript_esbuild_ships_app_js_not_app_ts(publish) -> None:
    app = publish("typescript-esbuild")
    names = app.zip_of(app.template, "TypeScriptFunction").namelist()
    assert "app.js" in names and "app.ts" not in names
    bundle = app.zip_of(app.template, "TypeScriptFunction").read("app.js").decode()
    assert "node_modules" not in names and "ms" in bundle  # ms is bundled into app.js


def test_nested_application_local_location_is_pinned_with_its_code(publish) -> None:
    app = publish("nested-app")
    location = app.template["Resources"]["Child"]["Properties"]["Location"]
    (ref,) = [r for r in artifacts.references(app.template) if r.nested]
    assert "?versionId=" in location and ref.version
    child = app.read_template(ref.key, ref.version)
    assert "app.py" in app.zip_of(child, "ChildFunction").namelist()
    listed = {o["Key"] for o in artifacts.manifest(app.template)}
    assert ref.key in listed and len(listed) == 2  # the child template and its zip
    checked = artifacts.verify(app.template, lambda _bucket, key, version: app.read(key, version))
    assert {c.key for c in checked} == listed  # every object checks at its version


def test_state_machine_definition_file_is_pinned_with_its_substitutions(publish) -> None:
    app = publish("step-functions")
    props = app.template["Resources"]["TradingStateMachine"]["Properties"]
    (ref,) = [r for r in artifacts.references(app.template) if "TradingStateMachine" in r.where]
    assert ref.version and props["DefinitionUri"]["Version"] == ref.version
    definition = json.loads(app.read(ref.key, ref.version))
    assert definition["States"]["Check Price"]["Resource"] == "${CheckerFunctionArn}"
    assert set(props["DefinitionSubstitutions"]) == {"CheckerFunctionArn", "DDBPutItem", "DDBTable"}


def test_function_without_codeuri_ships_the_template_folder(publish) -> None:
    app = publish("no-codeuri")
    assert "app.py" in app.zip_of(app.template, "RootFunction").namelist()


# -- each fixture through `local release` (full releases are slow: one test) -------------


@pytest.mark.parametrize(
    ("name", "extra"),
    [
        ("python-arm64-native", []),
        ("python-layer", []),
        ("node-dep", []),
        ("typescript-esbuild", []),
        ("nested-app", []),
        ("step-functions", []),
        ("no-codeuri", ["--parameter", "Greeting=hello"]),
    ],
)
def test_fixture_app_local_release_deploys_every_stage(
    name: str, extra: list[str], sam_build: Callable[[Path], Path], sam_cli_path: str, tmp_path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "STACKRELAY_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "scripts"), str(REPO / "functions")])
    env["STACKRELAY_SAM_CLI"] = sam_cli_path
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "stackrelay_cli.main",
            "local",
            "release",
            "--app",
            str(sam_build(APPS / name)),
            "--name",
            name,
            "--json",
            *extra,
        ],
        capture_output=True,
        text=True,
        env={**env, "AWS_CONFIG_FILE": str(tmp_path / "none")},
        cwd=tmp_path,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert [(s["stage"], s["outcome"]) for s in result["stages"]] == [
        ("review", "deployed"),
        ("staging", "deployed"),
        ("prod", "deployed"),
        ("review", "deleted"),
    ]
