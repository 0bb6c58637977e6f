"""Parse a task's event into its pydantic model, before the handler runs.

What Powertools' ``event_parser`` does for a plain model (``Model.model_validate(event)``;
an invalid event raises pydantic's ``ValidationError``, as it did), without importing
the Powertools parser package: its import costs about a quarter of ``import boto3``
on every cold start (``benchmarks/imports.py``), and no task uses its envelopes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

_R = TypeVar("_R")


def event_parser(model: Any) -> Callable[[Callable[..., _R]], Callable[..., _R]]:
    """``@event_parser(model=Model)``: the handler receives ``Model.model_validate(event)``."""

    def decorate(handler: Callable[..., _R]) -> Callable[..., _R]:
        @functools.wraps(handler)
        def wrapper(event: Any, context: Any, **kwargs: Any) -> _R:
            parsed = (
                model.model_validate_json(event)
                if isinstance(event, str | bytes)
                else model.model_validate(event)
            )
            return handler(parsed, context, **kwargs)

        return wrapper

    return decorate
