"""IAM identity-policy evaluation, as AWS does it for one request.

moto ships ``moto.iam.access_control.IAMPolicy(...).is_action_permitted``; we
checked it (moto 5.2.5) and it does not serve for the execution role:

- a Condition operator other than ``StringEquals`` is ignored (the statement
  applies), so ``ArnLike``/``StringLike`` conditions always pass;
- a condition key missing from the request passes ``StringEquals`` (AWS: no match);
- an Allow statement whose condition fails returns DENIED for the whole policy
  (AWS: that statement simply does not apply; another may still allow);
- ``NotResource`` is ignored, actions match case-sensitively and ``.``/``?`` in
  patterns are regex characters.

So the engine evaluates here: explicit Deny wins, then any Allow, else the
implicit deny. Supported condition operators: the String*, Arn*, Bool, Null
and Numeric* families, with ``...IfExists`` and the ``ForAllValues:`` /
``ForAnyValue:`` qualifiers. An operator outside these is never guessed: an
Allow statement that carries one does not apply, a Deny statement does (fail
closed), and the verdict says which operator was not evaluated.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

ALLOWED = "allowed"
EXPLICIT_DENY = "explicit_deny"
IMPLICIT_DENY = "implicit_deny"


@dataclass(frozen=True)
class Request:
    """One authorisation question: may the principal do ``action`` on ``resource``?"""

    action: str
    resource: str
    context: Mapping[str, str | list[str]] = field(default_factory=dict)


@dataclass
class Verdict:
    decision: str
    unevaluated: list[str] = field(default_factory=list)

    @property
    def allowed(self) -> bool:
        return self.decision == ALLOWED


class _Unsupported(Exception):
    pass


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


@lru_cache(maxsize=4096)
def _pattern(text: str, ignore_case: bool) -> re.Pattern[str]:
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text)
    return re.compile("^" + "".join(parts) + "$", (re.IGNORECASE if ignore_case else 0) | re.DOTALL)


def wildcard_match(pattern: str, value: str, ignore_case: bool = False) -> bool:
    return bool(_pattern(str(pattern), ignore_case).match(value))


def _arn_like(pattern: str, value: str) -> bool:
    """ArnLike compares each of the six colon-separated ARN parts with wildcards."""
    want, got = str(pattern).split(":", 5), value.split(":", 5)
    if len(want) != len(got):
        return wildcard_match(pattern, value)
    return all(wildcard_match(w, g) for w, g in zip(want, got, strict=True))


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


_OPS: dict[str, Any] = {
    "StringEquals": lambda want, got: got == str(want),
    "StringNotEquals": lambda want, got: got != str(want),
    "StringEqualsIgnoreCase": lambda want, got: got.lower() == str(want).lower(),
    "StringNotEqualsIgnoreCase": lambda want, got: got.lower() != str(want).lower(),
    "StringLike": lambda want, got: wildcard_match(want, got),
    "StringNotLike": lambda want, got: not wildcard_match(want, got),
    "ArnEquals": lambda want, got: got == str(want),
    "ArnNotEquals": lambda want, got: got != str(want),
    "ArnLike": _arn_like,
    "ArnNotLike": lambda want, got: not _arn_like(want, got),
    "Bool": lambda want, got: got.lower() == str(want).lower(),
    "NumericEquals": lambda want, got: _number(got) == _number(want),
    "NumericNotEquals": lambda want, got: _number(got) != _number(want),
    "NumericLessThan": lambda want, got: _number(got) < _number(want),
    "NumericLessThanEquals": lambda want, got: _number(got) <= _number(want),
    "NumericGreaterThan": lambda want, got: _number(got) > _number(want),
    "NumericGreaterThanEquals": lambda want, got: _number(got) >= _number(want),
}
# Negated operators: every listed value must be "not matched" (AND), and a missing key matches.
_NEGATED = {
    "StringNotEquals",
    "StringNotEqualsIgnoreCase",
    "StringNotLike",
    "ArnNotEquals",
    "ArnNotLike",
    "NumericNotEquals",
}


def _condition_block_matches(
    operator: str, key: str, wanted: Any, context: Mapping[str, Any]
) -> bool:
    qualifier = ""
    if ":" in operator and operator.split(":", 1)[0] in ("ForAllValues", "ForAnyValue"):
        qualifier, operator = operator.split(":", 1)
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists")
    lowered = {k.lower(): v for k, v in context.items()}
    present = key.lower() in lowered
    if base == "Null":
        want_null = str(_as_list(wanted)[0]).lower() == "true"
        return (not present) == want_null
    test = _OPS.get(base)
    if test is None:
        raise _Unsupported(operator)
    values = [str(v) for v in _as_list(lowered.get(key.lower()))]
    wants = _as_list(wanted)
    if not present:
        if qualifier == "ForAllValues":
            return True
        return if_exists or base in _NEGATED

    def one(value: str) -> bool:
        if base in _NEGATED:
            return all(test(w, value) for w in wants)
        return any(test(w, value) for w in wants)

    if qualifier == "ForAllValues":
        return all(one(v) for v in values)
    return any(one(v) for v in values)


def _conditions_match(condition: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
    for operator, keys in condition.items():
        for key, wanted in (keys or {}).items():
            if not _condition_block_matches(operator, key, wanted, context):
                return False
    return True


def _element_matches(
    statement: Mapping[str, Any], positive: str, negative: str, value: str, ignore_case: bool
) -> bool:
    if positive in statement:
        return any(wildcard_match(p, value, ignore_case) for p in _as_list(statement[positive]))
    if negative in statement:
        return not any(wildcard_match(p, value, ignore_case) for p in _as_list(statement[negative]))
    return False


def _statements(document: Any) -> Iterable[Mapping[str, Any]]:
    if isinstance(document, str):
        document = json.loads(document)
    return _as_list((document or {}).get("Statement"))


def evaluate(documents: Iterable[Any], request: Request) -> Verdict:
    """AWS's verdict for ``request`` under identity policies ``documents``."""
    allowed = False
    unevaluated: list[str] = []
    for document in documents:
        for statement in _statements(document):
            if not _element_matches(statement, "Action", "NotAction", request.action, True):
                continue
            if not _element_matches(statement, "Resource", "NotResource", request.resource, False):
                continue
            deny = statement.get("Effect") == "Deny"
            try:
                applies = _conditions_match(statement.get("Condition") or {}, request.context)
            except _Unsupported as exc:
                unevaluated.append(str(exc))
                applies = deny  # fail closed both ways
            if not applies:
                continue
            if deny:
                return Verdict(EXPLICIT_DENY, unevaluated)
            allowed = True
    return Verdict(ALLOWED if allowed else IMPLICIT_DENY, unevaluated)


def evaluate_with_boundary(
    documents: Iterable[Any], boundary: Any | None, request: Request
) -> Verdict:
    """Identity policies, then (if the principal has one) its permissions boundary."""
    verdict = evaluate(documents, request)
    if boundary is None or not verdict.allowed:
        return verdict
    bounded = evaluate([boundary], request)
    bounded.unevaluated = verdict.unevaluated + bounded.unevaluated
    return bounded
