"""Typed events and inputs without pydantic: frozen dataclasses, checked field by field.

Every task's event, the execution input (:mod:`stackrelay.model`) and the approval and
operations requests are plain ``@dataclass(frozen=True)`` classes whose fields say
their rules (:func:`text`); :func:`parse` builds one from a JSON object or raises
:class:`~stackrelay.errors.InvalidInput` naming every bad field and why, never its
value (a value may be a secret). Importing pydantic cost 0.10-0.13x ``import boto3``
and the models built with it another 0.1-0.3x on every cold start
(``benchmarks/imports.py``); this module costs almost nothing.

What a model class may say, besides its fields:

- ``_forbid_extra: ClassVar[bool] = True``: an unknown key is refused ("is not a known
  field"); by default unknown keys are ignored.
- ``_strip: ClassVar[bool] = True``: whitespace around strings is stripped before their
  rules apply (after the control-character rule, so a trailing newline is refused).
- ``def _problems(self) -> list[tuple[str, str]]``: rules across fields, run once every
  field is valid: ``(field, why)`` pairs, ``""`` for the object itself.

Field types understood: ``str``, ``int``, ``float``, ``bool``, :class:`Secret`,
``Literal[...]``, ``X | None``, ``dict[str, X]``/``Mapping``, ``list[X]``,
``tuple[X, ...]``, ``Any`` and nested model classes (a class with ``from_dict`` is
built by it; a plain dataclass is parsed by these rules).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import types
import typing
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeVar, get_args, get_origin

from stackrelay.errors import InvalidInput

_M = TypeVar("_M")
_Self = TypeVar("_Self", bound="Model")
_R = TypeVar("_R")

# Unicode bidirectional formatting characters ("Trojan Source", CVE-2021-42574): they
# make a ref, a user or a reason read differently in a terminal or a GitLab page than
# what it is. Category Cf holds them, but also harmless joiners; these are refused.
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def unsafe_character(text: str) -> str | None:
    """The first control or bidi character in ``text`` (as ``U+XXXX``), or None.

    The one rule for every free-text field a caller or a token supplies (ref, user,
    reason, project, ...): refused with InvalidInput by the models, the CLI and the
    handlers alike. A NUL in a ref must never reach CloudFormation.
    """
    for char in text:
        if char in _BIDI or unicodedata.category(char) in ("Cc", "Zl", "Zp"):
            return f"U+{ord(char):04X}"
    return None


class Secret:
    """A string that never shows itself (ID tokens, task tokens): repr and str hide it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __str__(self) -> str:
        return "**********"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclasses.dataclass(frozen=True)
class Rule:
    """What a string field must be (its type says the rest)."""

    pattern: str | None = None
    min_length: int | None = None
    max_length: int | None = None
    """Of a string (characters) or of a list (items)."""
    safe: bool = False
    """Refuse control and bidirectional characters (:func:`unsafe_character`)."""
    ge: float | None = None
    le: float | None = None
    """Bounds of a number."""

    @functools.cached_property
    def regex(self) -> re.Pattern[str] | None:
        if self.pattern is None:
            return None
        # "$" would also match before a trailing newline: the whole string must match.
        pattern = self.pattern[:-1] + r"\Z" if self.pattern.endswith("$") else self.pattern
        return re.compile(pattern)


_NO_RULE = Rule()


def text(
    default: Any = dataclasses.MISSING,
    *,
    pattern: str | None = None,
    min_length: int | None = None,
    max_length: int | None = None,
    safe: bool = False,
    repr: bool = True,
) -> Any:
    """A dataclass field with string rules (also for ``str | None`` and Secret fields)."""
    rule = Rule(pattern=pattern, min_length=min_length, max_length=max_length, safe=safe)
    return dataclasses.field(default=default, repr=repr, metadata={"rule": rule})


def limits(
    default: Any = dataclasses.MISSING,
    *,
    default_factory: Any = dataclasses.MISSING,
    ge: float | None = None,
    le: float | None = None,
    max_length: int | None = None,
) -> Any:
    """A dataclass field with bounds: a number's (``ge``, ``le``), a list's length."""
    rule = Rule(ge=ge, le=le, max_length=max_length)
    return dataclasses.field(
        default=default, default_factory=default_factory, metadata={"rule": rule}
    )


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


class _Problems(list[tuple[str, str]]):
    def add(self, path: str, why: str) -> None:
        self.append((path or "(input)", why))


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _plural(n: int) -> str:
    return "" if n == 1 else "s"


def _string(value: Any, rule: Rule, strip: bool, path: str, problems: _Problems) -> Any:
    if not isinstance(value, str):
        problems.add(path, "Input should be a valid string")
        return None
    if rule.safe:
        found = unsafe_character(value)
        if found is not None:
            problems.add(
                path, f"must not contain control or bidirectional characters (found {found})"
            )
            return None
    if strip:
        value = value.strip()
    if rule.min_length is not None and len(value) < rule.min_length:
        n = rule.min_length
        problems.add(path, f"String should have at least {n} character{_plural(n)}")
    elif rule.max_length is not None and len(value) > rule.max_length:
        n = rule.max_length
        problems.add(path, f"String should have at most {n} character{_plural(n)}")
    elif rule.regex is not None and not rule.regex.search(value):
        problems.add(path, f"does not match {rule.pattern}")
    return value


_TRUE = frozenset(("true", "1", "yes", "on", "t", "y"))
_FALSE = frozenset(("false", "0", "no", "off", "f", "n"))


def _scalar(kind: type, value: Any, path: str, problems: _Problems) -> Any:
    """int, float, bool: JSON's own type, or a number written as a string."""
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        problems.add(path, "Input should be a valid boolean")
        return None
    if isinstance(value, bool):
        problems.add(path, f"Input should be a valid {'integer' if kind is int else 'number'}")
        return None
    if kind is int:
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        problems.add(path, "Input should be a valid integer")
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    problems.add(path, "Input should be a valid number")
    return None


def _value(kind: Any, value: Any, rule: Rule, strip: bool, path: str, problems: _Problems) -> Any:
    if kind is Any or kind is object:
        return value
    if kind is str:
        return _string(value, rule, strip, path, problems)
    if kind is Secret:
        if isinstance(value, Secret):
            return value
        found = _string(value, rule, False, path, problems)
        return Secret(found) if isinstance(found, str) else None
    if kind in (bool, int, float):
        number = _scalar(kind, value, path, problems)
        if kind is not bool and number is not None:
            if rule.ge is not None and number < rule.ge:
                problems.add(path, f"Input should be greater than or equal to {rule.ge:g}")
            elif rule.le is not None and number > rule.le:
                problems.add(path, f"Input should be less than or equal to {rule.le:g}")
        return number
    origin = get_origin(kind)
    args = get_args(kind)
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        if len(options) == 1:
            return _value(options[0], value, rule, strip, path, problems)
        for option in options:  # the first that fits
            trial = _Problems()
            found = _value(option, value, rule, strip, path, trial)
            if not trial:
                return found
        problems.add(path, "Input should be one of " + ", ".join(map(_name, options)))
        return None
    if origin is Literal:
        if value in args and any(type(value) is type(a) for a in args):
            return value
        problems.add(path, "Input should be " + " or ".join(repr(a) for a in args))
        return None
    if origin in (dict, Mapping):
        if not isinstance(value, Mapping):
            problems.add(path, "Input should be a valid dictionary")
            return None
        key_kind, item_kind = args or (Any, Any)
        return {
            _value(key_kind, k, _NO_RULE, False, path, problems): _value(
                item_kind, v, _NO_RULE, False, _join(path, str(k)), problems
            )
            for k, v in value.items()
        }
    if origin in (list, tuple):
        if not isinstance(value, list | tuple):
            problems.add(path, "Input should be a valid list")
            return None
        if rule.max_length is not None and len(value) > rule.max_length:
            n = rule.max_length
            problems.add(path, f"List should have at most {n} item{_plural(n)}")
            return None
        item_kind = args[0] if args else Any
        items = [
            _value(item_kind, v, _NO_RULE, False, _join(path, str(i)), problems)
            for i, v in enumerate(value)
        ]
        return items if origin is list else tuple(items)
    if isinstance(kind, type):
        return _object(kind, value, path, problems)
    raise TypeError(f"{kind!r} is not a type stackrelay.parsing understands")


def _name(kind: Any) -> str:
    return getattr(kind, "__name__", str(kind))


def _object(cls: type[_M], data: Any, path: str, problems: _Problems) -> _M | None:
    if isinstance(data, cls):
        return data
    from_dict = getattr(cls, "from_dict", None) or getattr(cls, "model_validate", None)
    if from_dict is not None:  # the class parses itself (plan.Stage)
        try:
            return typing.cast(_M, from_dict(data))
        except (InvalidInput, ValueError, TypeError) as exc:
            problems.add(path, str(exc).splitlines()[0])
            return None
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    if not isinstance(data, Mapping):
        problems.add(path, "Input should be an object")
        return None
    before = len(problems)
    fields = [f for f in dataclasses.fields(cls) if f.init]
    if getattr(cls, "_forbid_extra", False):
        known = {f.name for f in fields}
        for key in data:
            if key not in known:
                problems.add(_join(path, str(key)), "is not a known field")
    for f in fields:
        if f.name not in data and (
            f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ):
            problems.add(_join(path, f.name), "Field required")
    values = _fields(cls, {f.name: data[f.name] for f in fields if f.name in data}, path, problems)
    if len(problems) > before:
        return None
    try:
        made = cls(**values)
    except InvalidInput as exc:  # a Model checks itself again, then its _problems
        problems.extend(
            (_join(path, where) if where != "(input)" else path or where, why)
            for where, why in getattr(exc, "problems", [("(input)", str(exc))])
        )
        return None
    if not isinstance(made, Model):
        check = getattr(made, "_problems", None)
        for name, why in check() if check is not None else ():
            problems.add(_join(path, name), why)
    return made


def _fields(cls: type, values: dict[str, Any], path: str, problems: _Problems) -> dict[str, Any]:
    """Each of ``values`` converted to its field's type, by its field's rule."""
    strip = bool(getattr(cls, "_strip", False))
    hints = _hints(cls)
    rules = {f.name: f.metadata.get("rule", _NO_RULE) for f in dataclasses.fields(cls)}
    return {
        name: _value(hints[name], value, rules[name], strip, _join(path, name), problems)
        for name, value in values.items()
    }


def _invalid(what: str, problems: list[tuple[str, str]]) -> InvalidInput:
    """InvalidInput (its class name is the Lambda errorType) listing ``problems``."""
    listed = "; ".join(f"{where}: {why}" for where, why in problems)
    error = InvalidInput(f"Invalid {what}: {listed}")
    error.problems = problems  # type: ignore[attr-defined]
    return error


def problems_of(cls: type[_M], payload: Any) -> tuple[_M | None, list[tuple[str, str]]]:
    """``payload`` as ``cls`` (None if invalid), and each ``(field path, why)`` problem."""
    found = _Problems()
    made = _object(cls, payload, "", found)
    return (made if not found else None), list(found)


def parse(cls: type[_M], payload: Any, what: str) -> _M:
    """``payload`` as ``cls``, or :class:`InvalidInput` naming each bad field (no values)."""
    if not isinstance(payload, Mapping):
        raise InvalidInput(f"{what} must be a JSON object, got {type(payload).__name__}.")
    made, found = problems_of(cls, payload)
    if made is None:
        listed = "; ".join(f"{where}: {why}" for where, why in found)
        raise InvalidInput(f"Invalid {what}: {listed}")
    return made


def dump(obj: Any, *, exclude_none: bool = False) -> Any:
    """A model as plain JSON data (a Secret stays a Secret: reveal it on purpose)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        to_dict = getattr(obj, "to_dict", None)
        if to_dict is not None:
            return to_dict()
        out = {}
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if value is None and exclude_none:
                continue
            out[f.name] = dump(value, exclude_none=exclude_none)
        return out
    if isinstance(obj, Mapping):
        return {k: dump(v, exclude_none=exclude_none) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [dump(v, exclude_none=exclude_none) for v in obj]
    return obj


class Model:
    """Base of a model dataclass: built from keywords, it converts and checks them.

    ``Model(field=value, ...)`` gives every field its type (a dict becomes its nested
    model, a string a :class:`Secret`) and refuses what breaks a rule with
    :class:`InvalidInput`, as :func:`parse` does; ``model_dump`` gives the plain data.
    """

    def __post_init__(self) -> None:
        cls = type(self)
        found = _Problems()
        fields = dataclasses.fields(self)  # type: ignore[arg-type]
        values = {f.name: getattr(self, f.name) for f in fields if f.init}
        converted = _fields(cls, values, "", found)
        if not found:
            for name, value in converted.items():
                if value is not values[name]:
                    object.__setattr__(self, name, value)
            check = getattr(self, "_problems", None)
            for name, why in check() if check is not None else ():
                found.add(name, why)
        if found:
            raise _invalid(cls.__name__, list(found))

    def model_dump(self, *, exclude_none: bool = False) -> dict[str, Any]:
        return dict(dump(self, exclude_none=exclude_none))

    @classmethod
    def model_construct(cls: type[_Self], **values: Any) -> _Self:
        """Built as given, no rule checked (as pydantic's): for values the code made itself."""
        made = cls.__new__(cls)
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            if f.name in values:
                value = values[f.name]
            elif f.default_factory is not dataclasses.MISSING:
                value = f.default_factory()
            else:
                value = f.default
            object.__setattr__(made, f.name, value)
        return made


def event_parser(model: type[_M]) -> Callable[[Callable[..., _R]], Callable[..., _R]]:
    """``@event_parser(model=Event)``: the handler receives ``parse(Event, event)``.

    What Powertools' ``event_parser`` does for a plain model (a JSON string is decoded
    first), without the Powertools parser package or pydantic. An invalid event raises
    InvalidInput naming each bad field (the state machine built it: a bug to report).
    """

    what = f"{model.__name__} event"

    def decorate(handler: Callable[..., _R]) -> Callable[..., _R]:
        @functools.wraps(handler)
        def wrapper(event: Any, context: Any, **kwargs: Any) -> _R:
            if isinstance(event, str | bytes):
                try:
                    event = json.loads(event)
                except ValueError:
                    raise InvalidInput(f"{what} is not JSON.") from None
            return handler(parse(model, event, what), context, **kwargs)

        return wrapper

    return decorate
