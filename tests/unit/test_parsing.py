"""stackrelay.parsing.event_parser: the handler gets its validated model, or the call fails."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError
from stackrelay.parsing import event_parser


class Ask(BaseModel):
    app: str
    limit: int = 5


@event_parser(model=Ask)
def handler(event: Ask, context: Any) -> dict[str, Any]:
    """Echo what the handler received."""
    return {"type": type(event).__name__, "app": event.app, "limit": event.limit}


GOOD = [{"app": "a", "limit": "7"}, json.dumps({"app": "a", "limit": 7})]


@pytest.mark.parametrize("event", GOOD)
def test_event_parser_gives_handler_the_validated_model(event: Any) -> None:
    assert handler(event, None) == {"type": "Ask", "app": "a", "limit": 7}


@pytest.mark.parametrize("event", [{}, {"app": "a", "limit": "many"}, "not json", None])
def test_event_parser_invalid_event_raises_validation_error(event: Any) -> None:
    with pytest.raises(ValidationError):
        handler(event, None)


def test_event_parser_keeps_handler_name() -> None:
    assert handler.__name__ == "handler" and "Echo" in (handler.__doc__ or "")


def test_tasks_do_not_import_the_powertools_parser() -> None:
    """Its import costs a quarter of boto3's on every cold start (benchmarks/imports.py)."""
    from pathlib import Path

    tasks = Path(__file__).resolve().parents[2] / "functions" / "stackrelay" / "tasks"
    users = [p.name for p in tasks.glob("*.py") if "utilities.parser" in p.read_text()]
    assert users == []
