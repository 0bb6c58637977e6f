"""publish: build and package once, upload content-addressed; unchanged uploads nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import boto3
import pytest
from stackrelay_cli.main import main

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "aws-news"


def _publish(app_dir: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> dict:
    capsys.readouterr()
    assert main(["publish", "--app", "aws-news", "--app-dir", str(app_dir), "--json", *extra]) == 0
    return dict(json.loads(capsys.readouterr().out))


def _keys(bucket: str) -> set[str]:
    listed = boto3.client("s3").list_objects_v2(Bucket=bucket).get("Contents", [])
    return {o["Key"] for o in listed}


def test_publish_first_time_uploads_code_and_template_under_sha(
    bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    artifact = _publish(SAMPLE, capsys)
    assert artifact["bucket"] == bucket
    assert artifact["key"] == f"aws-news/{artifact['sha256']}/packaged.yaml"
    assert len(artifact["uploaded"]) == 2 and artifact["reused"] == []
    assert _keys(bucket) == set(artifact["uploaded"])
    packaged = boto3.client("s3").get_object(Bucket=bucket, Key=artifact["key"])["Body"].read()
    zip_key = next(k for k in artifact["uploaded"] if k.endswith(".zip"))
    assert f"s3://{bucket}/{zip_key}".encode() in packaged


def test_publish_unchanged_app_uploads_nothing_new(
    bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    first = _publish(SAMPLE, capsys)
    before = _keys(bucket)
    second = _publish(SAMPLE, capsys)
    assert second["uploaded"] == []
    assert sorted(second["reused"]) == sorted(first["uploaded"])
    assert (second["key"], second["sha256"]) == (first["key"], first["sha256"])
    assert _keys(bucket) == before


def test_publish_changed_code_uploads_new_zip_and_template_only(
    bucket: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = tmp_path / "aws-news"
    shutil.copytree(SAMPLE, app, ignore=shutil.ignore_patterns("__pycache__"))
    first = _publish(app, capsys)
    (app / "src" / "app.py").write_text((app / "src" / "app.py").read_text() + "\n# change\n")
    second = _publish(app, capsys)
    assert second["sha256"] != first["sha256"]
    assert len(second["uploaded"]) == 2 and second["reused"] == []
    assert {k.rsplit(".", 1)[-1] for k in second["uploaded"]} == {"zip", "yaml"}


def test_publish_output_file_is_start_input(
    bucket: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "artifact.json"
    artifact = _publish(SAMPLE, capsys, "--output", str(out))
    assert json.loads(out.read_text()) == {
        "bucket": bucket,
        "key": artifact["key"],
        "sha256": artifact["sha256"],
    }


def test_publish_human_output_names_artifact(
    bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["publish", "--app", "aws-news", "--app-dir", str(SAMPLE)]) == 0
    out = capsys.readouterr().out
    assert f"s3://{bucket}/aws-news/" in out and "2 new object(s)" in out
