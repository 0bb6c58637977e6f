"""model.parse_request: the execution input, validated with field-naming errors."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from stackrelay.errors import InvalidInput
from stackrelay.model import DeployRequest, parse_request

LoadEvent = Callable[[str], dict[str, Any]]


@pytest.mark.parametrize("event", ["deploy_feature.json", "deploy_main.json"])
def test_parse_request_valid_deploy_event_returns_model(load_event: LoadEvent, event: str) -> None:
    payload = load_event(event)

    request = parse_request(payload)

    assert isinstance(request, DeployRequest)
    assert request.app == "aws-news"
    assert request.action == "deploy"
    assert request.artifact is not None
    assert request.artifact.sha256 == payload["artifact"]["sha256"]
    assert request.source.ref == payload["source"]["ref"]


def test_parse_request_teardown_without_artifact_is_accepted(load_event: LoadEvent) -> None:
    request = parse_request(load_event("teardown_feature.json"))

    assert request.action == "teardown"
    assert request.artifact is None


def test_parse_request_action_missing_defaults_to_deploy(load_event: LoadEvent) -> None:
    payload = load_event("deploy_feature.json")
    del payload["action"]

    assert parse_request(payload).action == "deploy"


def test_parse_request_whitespace_around_strings_is_stripped(load_event: LoadEvent) -> None:
    payload = load_event("deploy_feature.json")
    payload["source"]["ref"] = "  feature/login  "

    assert parse_request(payload).source.ref == "feature/login"


def _mutate(payload: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """Set (or delete, for value ``...``) the dotted ``path`` in a copy of payload."""
    data = copy.deepcopy(payload)
    *parents, last = path.split(".")
    node = data
    for part in parents:
        node = node[part]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("app", ..., "app"),
        ("app", "Aws_News", "app"),
        ("app", "1news", "app"),
        ("app", "a" * 41, "app"),
        ("app", 42, "app"),
        ("artifact.sha256", "abc", "artifact.sha256"),
        ("artifact.sha256", "G" * 64, "artifact.sha256"),
        ("artifact.sha256", "A" * 64, "artifact.sha256"),
        ("artifact.bucket", "Bad_Bucket", "artifact.bucket"),
        ("artifact.key", "", "artifact.key"),
        ("artifact.extra", "x", "artifact.extra"),
        ("artifact", "s3://bucket/key", "artifact"),
        ("source", ..., "source"),
        ("source.commit", "not-a-sha", "source.commit"),
        ("source.commit", 1234567, "source.commit"),
        ("source.ref", "", "source.ref"),
        ("source.ref", "r" * 256, "source.ref"),
        ("source.pipeline_id", "47/11", "source.pipeline_id"),
        ("source.pipeline_id", 4711, "source.pipeline_id"),
        ("source.project", ["group/aws-news"], "source.project"),
        ("source.token", "secret", "source.token"),
        ("action", "destroy", "action"),
        ("accounts", {"prod": "999999999999"}, "accounts"),
        ("stages", ["prod"], "stages"),
        ("approval", False, "approval"),
    ],
)
def test_parse_request_malformed_field_raises_invalid_input_naming_field(
    load_event: LoadEvent, path: str, value: Any, field: str
) -> None:
    payload = _mutate(load_event("deploy_main.json"), path, value)

    with pytest.raises(InvalidInput) as caught:
        parse_request(payload)

    assert f"{field}:" in str(caught.value)


def test_parse_request_extra_field_says_not_known(load_event: LoadEvent) -> None:
    payload = _mutate(load_event("deploy_main.json"), "accounts", {"prod": "1"})

    with pytest.raises(InvalidInput, match=r"accounts: is not a known field"):
        parse_request(payload)


def test_parse_request_pattern_mismatch_shows_pattern(load_event: LoadEvent) -> None:
    payload = _mutate(load_event("deploy_main.json"), "artifact.sha256", "abc")

    with pytest.raises(
        InvalidInput, match=r"artifact\.sha256: does not match \^\[0-9a-f\]\{64\}\$"
    ):
        parse_request(payload)


def test_parse_request_deploy_without_artifact_raises(load_event: LoadEvent) -> None:
    payload = _mutate(load_event("deploy_main.json"), "artifact", ...)

    with pytest.raises(InvalidInput, match="artifact is required to deploy"):
        parse_request(payload)


def test_parse_request_several_problems_all_reported(load_event: LoadEvent) -> None:
    payload = _mutate(load_event("deploy_main.json"), "app", "BAD")
    payload = _mutate(payload, "source.commit", "zzz")

    with pytest.raises(InvalidInput) as caught:
        parse_request(payload)

    assert "app:" in str(caught.value)
    assert "source.commit:" in str(caught.value)


@pytest.mark.parametrize(
    ("payload", "type_name"),
    [(None, "NoneType"), ([], "list"), ("{}", "str"), (42, "int")],
)
def test_parse_request_non_object_raises_invalid_input(payload: Any, type_name: str) -> None:
    with pytest.raises(InvalidInput, match=f"must be a JSON object, got {type_name}"):
        parse_request(payload)


def test_parse_request_empty_object_names_required_fields() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_request({})

    assert "app:" in str(caught.value)
    assert "source:" in str(caught.value)


@pytest.mark.parametrize("app", ["review", "aws-review", "review-app", "a-review-b"])
def test_parse_request_app_with_review_segment_names_app(app):
    payload = {
        "app": app,
        "action": "teardown",
        "source": {"project": "g/p", "ref": "x", "commit": "abc1234", "pipeline_id": "1"},
    }
    with pytest.raises(InvalidInput, match="app"):
        parse_request(payload)
