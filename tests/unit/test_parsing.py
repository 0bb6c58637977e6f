"""stackrelay.parsing: model dataclasses checked field by field, without pydantic."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import pytest
from stackrelay.errors import InvalidInput
from stackrelay.parsing import Model, Secret, event_parser, limits, parse, text


@dataclass(frozen=True, kw_only=True)
class Inner(Model):
    _forbid_extra: ClassVar[bool] = True

    name: str = text(pattern=r"^[a-z]+$")


@dataclass(frozen=True, kw_only=True)
class Ask(Model):
    app: str
    limit: int = limits(5, ge=1, le=10)
    ratio: float | None = None
    on: bool = False
    kind: Literal["a", "b"] = "a"
    token: Secret | None = text(None, repr=False)
    inner: Inner | None = None
    tags: dict[str, str] = field(default_factory=dict)
    skip: list[str] = limits(default_factory=list, max_length=2)


@dataclass(frozen=True, kw_only=True)
class Strict(Model):
    _forbid_extra: ClassVar[bool] = True
    _strip: ClassVar[bool] = True

    ref: str = text(min_length=1, max_length=8, safe=True)
    sha: str = text("abc", pattern=r"^[a-f]{3}$")

    def _problems(self) -> list[tuple[str, str]]:
        return [("ref", "must not be 'main'")] if self.ref == "main" else []


@event_parser(model=Ask)
def handler(event: Ask, context: Any) -> dict[str, Any]:
    """Echo what the handler received."""
    return {"type": type(event).__name__, "app": event.app, "limit": event.limit}


GOOD = [{"app": "a", "limit": "7"}, json.dumps({"app": "a", "limit": 7})]


@pytest.mark.parametrize("event", GOOD)
def test_event_parser_gives_handler_the_validated_model(event: Any) -> None:
    assert handler(event, None) == {"type": "Ask", "app": "a", "limit": 7}


@pytest.mark.parametrize(
    ("event", "field_name"),
    [({}, "app"), ({"app": "a", "limit": "many"}, "limit"), ("not json", "JSON"), (None, "")],
)
def test_event_parser_invalid_event_raises_invalid_input(event: Any, field_name: str) -> None:
    with pytest.raises(InvalidInput, match="Ask event") as caught:
        handler(event, None)

    assert field_name in str(caught.value)


def test_event_parser_keeps_handler_name() -> None:
    assert handler.__name__ == "handler" and "Echo" in (handler.__doc__ or "")


def test_parse_unknown_keys_ignored_unless_forbidden() -> None:
    assert parse(Ask, {"app": "a", "other": 1}, "ask").app == "a"
    with pytest.raises(InvalidInput, match=r"inner\.other: is not a known field"):
        parse(Ask, {"app": "a", "inner": {"name": "x", "other": 1}}, "ask")


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"app": 42}, r"app: Input should be a valid string"),
        ({"app": "a", "limit": 0}, r"limit: Input should be greater than or equal to 1"),
        ({"app": "a", "limit": 11}, r"limit: Input should be less than or equal to 10"),
        ({"app": "a", "limit": True}, r"limit: Input should be a valid integer"),
        ({"app": "a", "ratio": "x"}, r"ratio: Input should be a valid number"),
        ({"app": "a", "on": "maybe"}, r"on: Input should be a valid boolean"),
        ({"app": "a", "kind": "c"}, r"kind: Input should be 'a' or 'b'"),
        ({"app": "a", "inner": "x"}, r"inner: Input should be an object"),
        ({"app": "a", "inner": {"name": "X"}}, r"inner\.name: does not match \^\[a-z\]\+\$"),
        ({"app": "a", "inner": {}}, r"inner\.name: Field required"),
        ({"app": "a", "tags": {"k": 1}}, r"tags\.k: Input should be a valid string"),
        ({"app": "a", "skip": ["1", "2", "3"]}, r"skip: List should have at most 2 items"),
    ],
)
def test_parse_bad_field_names_field_and_rule(payload: dict[str, Any], expected: str) -> None:
    with pytest.raises(InvalidInput, match=expected):
        parse(Ask, payload, "ask")


def test_parse_converts_json_values_to_field_types() -> None:
    ask = parse(
        Ask,
        {"app": "a", "ratio": 2, "on": "true", "token": "t0k", "inner": {"name": "x"}},
        "ask",
    )

    assert ask.ratio == 2.0 and isinstance(ask.ratio, float)
    assert ask.on is True
    assert isinstance(ask.inner, Inner) and ask.inner.name == "x"
    assert isinstance(ask.token, Secret) and ask.token.get_secret_value() == "t0k"


def test_secret_never_shows_in_repr_or_errors() -> None:
    ask = Ask(app="a", token="s3cret-token")  # type: ignore[arg-type]

    assert isinstance(ask.token, Secret)
    assert "s3cret" not in repr(ask) and "s3cret" not in str(ask.token)
    with pytest.raises(InvalidInput) as caught:
        parse(Ask, {"app": 1, "token": "s3cret-token", "limit": "s3cret"}, "ask")
    assert "s3cret" not in str(caught.value)


def test_model_built_from_keywords_checks_like_parse() -> None:
    with pytest.raises(InvalidInput, match=r"Invalid Inner: name: does not match"):
        Inner(name="NOPE")
    assert Ask(app="a", inner={"name": "x"}).inner == Inner(name="x")  # type: ignore[arg-type]


def test_strict_strips_after_refusing_control_characters() -> None:
    assert parse(Strict, {"ref": "  dev  "}, "s").ref == "dev"
    with pytest.raises(InvalidInput, match=r"ref: must not contain control .*U\+000A"):
        parse(Strict, {"ref": "dev\n"}, "s")
    with pytest.raises(InvalidInput, match=r"ref: must not contain control .*U\+202E"):
        parse(Strict, {"ref": "de\u202ev"}, "s")


def test_pattern_must_match_whole_string_not_before_trailing_newline() -> None:
    with pytest.raises(InvalidInput, match=r"name: does not match"):
        parse(Inner, {"name": "abc\n"}, "inner")


def test_cross_field_rule_runs_once_fields_are_valid() -> None:
    with pytest.raises(InvalidInput, match=r"Invalid s: ref: must not be 'main'$"):
        parse(Strict, {"ref": "main"}, "s")
    with pytest.raises(InvalidInput) as caught:
        parse(Strict, {"ref": "main", "sha": "zzz"}, "s")
    assert "must not be 'main'" not in str(caught.value)


def test_no_task_imports_pydantic_or_the_powertools_parser(aws_env: dict[str, str]) -> None:
    """Their imports cost 0.1-0.35x of boto3's on every cold start (benchmarks/imports.py)."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    tasks = sorted(p.stem for p in (root / "functions/stackrelay/tasks").glob("[!_]*.py"))
    code = (
        "import sys\n"
        + "".join(f"import stackrelay.tasks.{t}\n" for t in tasks)
        + "print(sorted(m for m in sys.modules if m.split('.')[0] == 'pydantic'"
        " or 'utilities.parser' in m))"
    )
    env = {**aws_env, "PATH": "", "PYTHONPATH": str(root / "functions")}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )

    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def test_model_error_is_invalid_input_itself() -> None:
    """The exception's class name is the Lambda errorType the state machine matches."""
    with pytest.raises(InvalidInput) as caught:
        Inner(name="NOPE")

    assert type(caught.value) is InvalidInput


def test_model_construct_checks_nothing() -> None:
    made = Strict.model_construct(ref="main")

    assert (made.ref, made.sha) == ("main", "abc")
