"""registry: each app belongs to exactly one GitLab project."""

from __future__ import annotations

from typing import Any

import pytest
from stackrelay import identity, registry
from stackrelay.errors import AppNotRegistered, InvalidInput, ProjectMismatch


def who(mint: Any, issuer_config: identity.Issuer, **claims: Any) -> identity.Identity:
    return identity.verify(mint(**claims), issuer_config)


def test_check_own_project_passes(table: Any, mint: Any, issuer_config: Any) -> None:
    registry.register(table, "aws-news", "4711", "group/aws-news", by="admin")

    assert registry.check(table, "aws-news", who(mint, issuer_config))["project_id"] == "4711"


def test_check_unregistered_app_refused(table: Any, mint: Any, issuer_config: Any) -> None:
    with pytest.raises(AppNotRegistered, match="stackrelay register"):
        registry.check(table, "aws-news", who(mint, issuer_config))


def test_check_other_project_refused(table: Any, mint: Any, issuer_config: Any) -> None:
    registry.register(table, "victim", "1", "group/victim", by="admin")

    with pytest.raises(ProjectMismatch, match="belongs to GitLab project group/victim"):
        registry.check(table, "victim", who(mint, issuer_config))


def test_check_same_id_moved_path_refused(table: Any, mint: Any, issuer_config: Any) -> None:
    registry.register(table, "aws-news", "4711", "old/aws-news", by="admin")

    with pytest.raises(ProjectMismatch, match="renamed or moved"):
        registry.check(table, "aws-news", who(mint, issuer_config))


def test_check_same_path_other_id_refused(table: Any, mint: Any, issuer_config: Any) -> None:
    # A project deleted and re-created at the same path by someone else gets a new id.
    registry.register(table, "aws-news", "9999", "group/aws-news", by="admin")

    with pytest.raises(ProjectMismatch):
        registry.check(table, "aws-news", who(mint, issuer_config))


def test_register_other_project_refused_without_replace(table: Any) -> None:
    registry.register(table, "aws-news", "4711", "group/aws-news", by="admin")
    registry.register(table, "aws-news", "4711", "group/aws-news", by="admin")  # idempotent

    with pytest.raises(ProjectMismatch, match="--replace"):
        registry.register(table, "aws-news", "1", "evil/aws-news", by="admin")
    assert registry.lookup(table, "aws-news")["project_path"] == "group/aws-news"

    registry.register(table, "aws-news", "1", "new/aws-news", by="admin", replace=True)
    assert registry.lookup(table, "aws-news")["project_path"] == "new/aws-news"


@pytest.mark.parametrize(("first", "second"), [("shop", "shop-api"), ("shop-api", "shop")])
def test_register_hyphen_prefix_of_another_app_refused(table: Any, first: str, second: str) -> None:
    registry.register(table, first, "1", "group/one", by="admin")

    with pytest.raises(InvalidInput, match="share stack and resource names"):
        registry.register(table, second, "2", "group/two", by="admin")


def test_register_similar_names_not_prefixes_allowed(table: Any) -> None:
    registry.register(table, "shop", "1", "group/one", by="admin")
    registry.register(table, "shopping", "2", "group/two", by="admin")

    assert [r["app"] for r in registry.registered(table)] == ["shop", "shopping"]


@pytest.mark.parametrize(
    ("app", "project_id", "path"),
    [
        ("Bad", "1", "g/p"),
        ("my-review", "1", "g/p"),
        ("ok", "one", "g/p"),
        ("ok", "1", "no-group"),
        ("ok", "1", "g/p\u202e"),
        ("a" * 21, "1", "g/p"),  # longer than naming.MAX_APP_LENGTH: names would be cut
    ],
)
def test_register_invalid_values_refused(table: Any, app: str, project_id: str, path: str) -> None:
    with pytest.raises(InvalidInput):
        registry.register(table, app, project_id, path, by="admin")


@pytest.mark.parametrize(
    ("a", "b", "overlap"),
    [("a", "a-b", True), ("a-b", "a", True), ("a", "ab", False), ("a-b", "a-c", False)],
)
def test_overlaps(a: str, b: str, overlap: bool) -> None:
    assert registry.overlaps(a, b) is overlap
