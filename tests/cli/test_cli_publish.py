"""publish: the SAM CLI builds and packages, StackRelay pins every object by version.

moto serves S3 over HTTP here (a thread of this process): `sam package` runs in
the SAM CLI's own venv and reaches it through AWS_ENDPOINT_URL, as it reaches AWS.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import socket
import subprocess
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import pytest
from stackrelay import artifacts, templates
from stackrelay_cli.main import main

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "aws-news"

pytestmark = pytest.mark.slow  # every publish runs the SAM CLI


@pytest.fixture
def s3_server(fake_credentials: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="localhost", port=port, verbose=False)
    server.start()
    url = f"http://localhost:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture
def versioned(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The artifact bucket as setup/artifact-bucket.yaml makes it (versioned)."""
    s3 = boto3.client("s3")
    name = f"artifacts-{s3_server.rsplit(':', 1)[-1]}"
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    monkeypatch.setenv("STACKRELAY_ARTIFACT_BUCKET", name)
    return name


@pytest.fixture(autouse=True)
def _sam(monkeypatch: pytest.MonkeyPatch, sam_cli_path: str) -> None:
    monkeypatch.setenv("STACKRELAY_SAM_CLI", sam_cli_path)


def _publish(app_dir: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> dict:
    capsys.readouterr()
    code = main(["publish", "--app", "aws-news", "--app-dir", str(app_dir), "--json", *extra])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return dict(json.loads(captured.out))


def _fail(app_dir: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["publish", "--app", "aws-news", "--app-dir", str(app_dir)])
    err = capsys.readouterr().err
    assert "Traceback" not in err and "unexpected" not in err
    return code, " ".join(err.split())


def _template(artifact: dict) -> dict:
    body = (
        boto3.client("s3")
        .get_object(Bucket=artifact["bucket"], Key=artifact["key"], VersionId=artifact["version"])[
            "Body"
        ]
        .read()
    )
    assert hashlib.sha256(body).hexdigest() == artifact["sha256"]
    return templates.load(body.decode())


def _copy(tmp_path: Path, source: Path = SAMPLE) -> Path:
    app = tmp_path / source.name
    shutil.copytree(source, app, ignore=shutil.ignore_patterns("__pycache__", ".aws-sam"))
    return app


def test_publish_pins_code_by_version_and_manifest_digests_every_object(
    versioned: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    artifact = _publish(_copy(tmp_path), capsys)
    assert artifact["key"] == f"aws-news/{artifact['sha256']}/packaged.yaml"
    assert artifact["built_by"] == "sam build"
    template = _template(artifact)
    code = template["Resources"]["NewsFunction"]["Properties"]["CodeUri"]
    assert set(code) == {"Bucket", "Key", "Version"} and code["Key"].startswith("aws-news/")
    (listed,) = artifacts.manifest(template)
    assert (listed["Key"], listed["Version"]) == (code["Key"], code["Version"])
    s3 = boto3.client("s3")
    blob = s3.get_object(Bucket=versioned, Key=code["Key"], VersionId=code["Version"])[
        "Body"
    ].read()
    assert hashlib.sha256(blob).hexdigest() == listed["Sha256"]
    assert "app.py" in zipfile.ZipFile(io.BytesIO(blob)).namelist()
    assert sorted(artifact["uploaded"]) == sorted([code["Key"], artifact["key"]])


def test_publish_unchanged_app_uploads_nothing_new(
    versioned: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = _copy(tmp_path)
    first = _publish(app, capsys)
    second = _publish(app, capsys)
    assert second["uploaded"] == []
    assert sorted(second["reused"]) == sorted(first["uploaded"])
    assert {k: second[k] for k in ("key", "sha256", "version")} == {
        k: first[k] for k in ("key", "sha256", "version")
    }


def test_publish_changed_code_uploads_new_zip_and_template_only(
    versioned: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = _copy(tmp_path)
    first = _publish(app, capsys)
    (app / "src" / "app.py").write_text((app / "src" / "app.py").read_text() + "\n# change\n")
    second = _publish(app, capsys)
    assert second["sha256"] != first["sha256"]
    assert len(second["uploaded"]) == 2 and second["reused"] == []


def test_publish_uses_the_apps_own_sam_build(
    versioned: str,
    sam_build: Callable[[Path], Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    built = sam_build(SAMPLE)
    artifact = _publish(built, capsys)
    assert ".aws-sam/build" in artifact["built_by"]


def test_publish_output_file_is_start_input(
    versioned: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "artifact.json"
    artifact = _publish(_copy(tmp_path), capsys, "--output", str(out))
    assert json.loads(out.read_text()) == {
        "bucket": versioned,
        "key": artifact["key"],
        "sha256": artifact["sha256"],
        "version": artifact["version"],
    }


def test_publish_unversioned_bucket_refused_with_setup_hint(
    s3_server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    boto3.client("s3").create_bucket(Bucket="plain-bucket")
    monkeypatch.setenv("STACKRELAY_ARTIFACT_BUCKET", "plain-bucket")
    code, err = _fail(_copy(tmp_path), capsys)
    assert code == 3
    assert "versioning is off" in err and "setup/artifact-bucket.yaml" in err


def test_publish_container_image_function_refused_exit_9(
    versioned: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = tmp_path / "image-app"
    app.mkdir()
    (app / "template.yaml").write_text(
        "Transform: AWS::Serverless-2016-10-31\n"
        "Resources:\n"
        "  ImageFunction:\n"
        "    Type: AWS::Serverless::Function\n"
        "    Properties:\n"
        "      PackageType: Image\n"
        "    Metadata:\n"
        "      DockerContext: ./src\n"
        "      Dockerfile: Dockerfile\n"
    )
    code, err = _fail(app, capsys)
    assert code == 9
    assert "ImageFunction is a container-image function" in err and "PackageType: Zip" in err


def test_publish_without_sam_cli_says_how_to_install(
    versioned: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    monkeypatch.setenv("STACKRELAY_SAM_CLI", str(tmp_path / "no-such-sam"))
    code, err = _fail(_copy(tmp_path), capsys)
    assert code == 3
    assert "pip install aws-sam-cli==" in err and "STACKRELAY_SAM_CLI" in err


def test_publish_runtime_missing_on_this_machine_says_what_to_do(
    versioned: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The sample app is python3.12; this machine's python is 3.11 (pyenv's shim for
    # 3.12 exists but does not run). With requirements.txt, pip must run for 3.12.
    found = shutil.which("python3.12")
    if found and subprocess.run([found, "--version"], capture_output=True).returncode == 0:
        pytest.skip("this machine has python3.12")
    app = _copy(tmp_path)
    (app / "src" / "requirements.txt").write_text("six==1.17.0\n")
    code, err = _fail(app, capsys)
    assert code == 8
    assert "no python3.12" in err and "--use-container" in err
    assert "public.ecr.aws/sam/build-python3.12" in err


def test_publish_human_output_names_artifact(
    versioned: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["publish", "--app", "aws-news", "--app-dir", str(_copy(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert f"s3://{versioned}/aws-news/" in out and "2 new object(s)" in out
