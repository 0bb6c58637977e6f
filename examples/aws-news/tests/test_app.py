"""Unit tests of the sample app (run by the template's stackrelay-unit-tests job)."""

import importlib
import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


class FakeTable:
    def __init__(self):
        self.items = []

    def put_item(self, Item):  # noqa: N803 - boto3's argument name
        self.items.append(Item)

    def scan(self):
        return {"Items": list(self.items)}


@pytest.fixture
def app(monkeypatch):
    for name, value in {
        "TABLE_NAME": "news",
        "STAGE": "review",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    module = importlib.import_module("app")
    monkeypatch.setattr(module, "TABLE", FakeTable())
    return module


def test_post_then_get_lists_the_item(app):
    created = app.lambda_handler({"httpMethod": "POST", "body": '{"title": "SAM 2"}'}, None)
    assert created["statusCode"] == 201
    listed = app.lambda_handler({"httpMethod": "GET"}, None)
    body = json.loads(listed["body"])
    assert listed["statusCode"] == 200
    assert body["stage"] == os.environ["STAGE"]
    assert [item["title"] for item in body["news"]] == ["SAM 2"]
