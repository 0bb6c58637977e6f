"""Fixtures for the local engine's own tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from stackrelay_local import LocalEngine
from stackrelay_local.pytest_plugin import engine_config, local_engine

__all__ = ["engine_config", "local_engine"]

FIXTURE_APP = Path(__file__).resolve().parents[1] / "fixtures" / "engine_app" / "template.yaml"

QUEUE_TEMPLATE = {
    "Parameters": {"Label": {"Type": "String", "Default": "one"}},
    "Resources": {
        "Queue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {"Tags": [{"Key": "label", "Value": {"Ref": "Label"}}]},
        },
        "Table": {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            },
        },
    },
    "Outputs": {"QueueUrl": {"Value": {"Ref": "Queue"}}},
}


@pytest.fixture
def fixture_app() -> Path:
    return FIXTURE_APP


@pytest.fixture
def queue_template() -> str:
    return json.dumps(QUEUE_TEMPLATE)


@pytest.fixture
def app_engine(local_engine: LocalEngine) -> Iterator[tuple[LocalEngine, dict[str, str]]]:
    """The fixture app deployed in the orchestrator account (where the ASL runs)."""
    outputs = local_engine.deploy_app(FIXTURE_APP, stack_name="fixture")
    yield local_engine, outputs
