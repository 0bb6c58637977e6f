"""The release topology: which stages a release goes through, where, and how.

Defined once, as data: the orchestrator's ``Topology`` template parameter holds it
as JSON (``stackrelay topology check FILE`` turns a YAML file into that value), and
everything else (the plan, IAM, the local engine) derives from it. Pure: no boto3,
no yaml (the Lambda gets JSON).

A stage has a name, an account, one or more regions (deployed as a wave), a trust
level (``review``: a stack per branch, for refs other than the protected default
branch; ``release``: one stack, deployed in order from the default branch), and
optionally an approval, termination protection, stack parameters, the Output that is
the app's URL, and the wave's concurrency and failure tolerance.

Every mistake is a ``ConfigurationError`` naming the path (``stages[2].regions[0]``)
and what to write instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from stackrelay.errors import ConfigurationError

TRUST_LEVELS = ("review", "release")
REVIEW = "review"
RELEASE = "release"

STAGE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,19}$")
ACCOUNT_ID = re.compile(r"^\d{12}$")
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
PARAMETER_NAME = re.compile(r"^[A-Za-z0-9]{1,255}$")
ENVIRONMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _./-]{0,99}$")

_STAGE_KEYS = (
    "name",
    "account",
    "regions",
    "trust",
    "approval",
    "protect",
    "parameters",
    "url_output",
    "environment",
    "concurrency",
    "tolerate",
)
_TOP_KEYS = ("stages",)


@dataclass(frozen=True)
class StageDef:
    """One stage of the topology; several regions make it a wave."""

    name: str
    account: str
    regions: tuple[str, ...]
    trust: str = RELEASE
    approval: bool = False
    protect: bool | None = None
    """Termination protection; ``None``: on for release stages, off for review stacks."""
    parameters: Mapping[str, str] = field(default_factory=dict)
    url_output: str | None = None
    """The stack Output that is the app's URL (``None``: the orchestrator's default)."""
    environment: str | None = None
    """The GitLab environment the CI template declares for the stage (``None``: its name;
    a review stage's are ``<environment>/<branch slug>``)."""
    concurrency: int = 0
    """Regions deployed at once: 0 = all of them, 1 = one at a time."""
    tolerate: int = 0
    """Region failures tolerated before the wave, and so the release, fails."""

    @property
    def review(self) -> bool:
        return self.trust == REVIEW

    @property
    def protected(self) -> bool:
        return (not self.review) if self.protect is None else self.protect

    def target(self, region: str) -> str:
        """The stable id of one region of this stage (keys approvals and CLI output).

        ``prod`` for a one-region stage (as before waves), ``prod.eu-west-1`` otherwise.
        """
        return self.name if len(self.regions) == 1 else f"{self.name}.{region}"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "account": self.account,
            "regions": list(self.regions),
            "trust": self.trust,
        }
        if self.approval:
            data["approval"] = True
        if self.protect is not None:
            data["protect"] = self.protect
        if self.parameters:
            data["parameters"] = dict(self.parameters)
        if self.url_output is not None:
            data["url_output"] = self.url_output
        if self.environment is not None:
            data["environment"] = self.environment
        if self.concurrency:
            data["concurrency"] = self.concurrency
        if self.tolerate:
            data["tolerate"] = self.tolerate
        return data


@dataclass(frozen=True)
class Topology:
    stages: tuple[StageDef, ...]

    def review_stages(self) -> tuple[StageDef, ...]:
        """What a ref other than the protected default branch deploys, in order."""
        return tuple(s for s in self.stages if s.review)

    def release_stages(self) -> tuple[StageDef, ...]:
        """What the protected default branch deploys, in order."""
        return tuple(s for s in self.stages if not s.review)

    def stage(self, name: str) -> StageDef:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise ConfigurationError(
            f"No stage {name!r} in the topology; its stages are: "
            f"{', '.join(s.name for s in self.stages)}."
        )

    def accounts(self) -> tuple[str, ...]:
        """Every target account, once, in the order the stages name them."""
        return tuple(dict.fromkeys(s.account for s in self.stages))

    def regions(self) -> tuple[str, ...]:
        """Every target region, once, in the order the stages name them."""
        return tuple(dict.fromkeys(r for s in self.stages for r in s.regions))

    def places(self) -> tuple[tuple[str, str], ...]:
        """Every (account, region) a stage deploys to, once: where bootstrap runs."""
        return tuple(dict.fromkeys((s.account, r) for s in self.stages for r in s.regions))

    def to_dict(self) -> dict[str, Any]:
        return {"stages": [s.to_dict() for s in self.stages]}

    def dumps(self) -> str:
        """Compact JSON: the value of the orchestrator's ``Topology`` parameter."""
        return json.dumps(self.to_dict(), separators=(",", ":"))


def _fail(path: str, message: str) -> ConfigurationError:
    return ConfigurationError(f"topology {path}: {message}")


def _refuse_unknown(data: Mapping[str, Any], known: Iterable[str], path: str) -> None:
    known = tuple(known)
    unknown = sorted(str(k) for k in data if k not in known)
    if unknown:
        raise _fail(
            path,
            f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
            f"the known keys are {', '.join(known)}.",
        )


def _string(value: Any, path: str, pattern: re.Pattern[str], what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _fail(path, f"{value!r} is not {what}.")
    if isinstance(value, int):
        raise _fail(path, f'{value!r} is a number: write it as a quoted string ("...").')
    if not pattern.match(value):
        raise _fail(path, f"{value!r} is not {what}.")
    return value


def _flag(data: Mapping[str, Any], key: str, path: str, default: Any) -> Any:
    value = data.get(key, default)
    if value is not default and not isinstance(value, bool):
        raise _fail(f"{path}.{key}", f"{value!r} is not true or false.")
    return value


def _count(data: Mapping[str, Any], key: str, path: str) -> int:
    value = data.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _fail(f"{path}.{key}", f"{value!r} is not a whole number of regions (0 or more).")
    return value


def _parameters(value: Any, path: str) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise _fail(path, "must be a mapping of stack parameter names to values.")
    found: dict[str, str] = {}
    for key, item in value.items():
        here = f"{path}.{key}"
        if not isinstance(key, str) or not PARAMETER_NAME.match(key):
            raise _fail(here, "a CloudFormation parameter name is letters and digits only.")
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise _fail(here, f"{item!r} is not a string or a number.")
        found[key] = str(item)
    return found


def _regions(value: Any, path: str) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not value:
        raise _fail(path, "must be a list of at least one region, e.g. [us-east-1].")
    regions = tuple(
        _string(r, f"{path}[{i}]", REGION, "an AWS region (like us-east-1)")
        for i, r in enumerate(value)
    )
    for i, region in enumerate(regions):
        if region in regions[:i]:
            raise _fail(f"{path}[{i}]", f"{region} is listed twice.")
    return regions


def _stage(data: Any, path: str) -> StageDef:
    if not isinstance(data, Mapping):
        raise _fail(path, "a stage is a mapping with at least name, account and regions.")
    _refuse_unknown(data, _STAGE_KEYS, path)
    for key in ("name", "account", "regions"):
        if key not in data:
            raise _fail(path, f"no {key!r}: every stage has a name, an account and regions.")
    name = _string(
        data["name"],
        f"{path}.name",
        STAGE_NAME,
        "a stage name (a lower-case letter, then up to 19 lower-case letters, digits or -)",
    )
    account = _string(data["account"], f"{path}.account", ACCOUNT_ID, "a 12-digit account id")
    regions = _regions(data["regions"], f"{path}.regions")
    trust = data.get("trust", RELEASE)
    if trust not in TRUST_LEVELS:
        raise _fail(f"{path}.trust", f"{trust!r} is not one of {', '.join(TRUST_LEVELS)}.")
    approval = _flag(data, "approval", path, False)
    if approval and trust == REVIEW:
        raise _fail(
            f"{path}.approval",
            "a review stage deploys every branch's stack and cannot wait for an approval; "
            "remove approval, or make the stage trust: release.",
        )
    protect = _flag(data, "protect", path, None)
    url_output = data.get("url_output")
    if url_output is not None:
        url_output = _string(url_output, f"{path}.url_output", PARAMETER_NAME, "an Output name")
    environment = data.get("environment")
    if environment is not None:
        environment = _string(
            environment, f"{path}.environment", ENVIRONMENT, "a GitLab environment name"
        )
    concurrency = _count(data, "concurrency", path)
    tolerate = _count(data, "tolerate", path)
    if tolerate >= len(regions) and tolerate:
        raise _fail(
            f"{path}.tolerate",
            f"{tolerate} tolerated failures of {len(regions)} region(s) would let the whole "
            f"stage fail and the release go on; use at most {len(regions) - 1}.",
        )
    return StageDef(
        name=name,
        account=account,
        regions=regions,
        trust=trust,
        approval=approval,
        protect=protect,
        parameters=_parameters(data.get("parameters", {}), f"{path}.parameters"),
        url_output=url_output,
        environment=environment,
        concurrency=concurrency,
        tolerate=tolerate,
    )


def parse(data: Any) -> Topology:
    """A topology from its mapping (parsed JSON or YAML); every mistake names its path."""
    if not isinstance(data, Mapping):
        raise _fail("(top)", "must be a mapping with a 'stages' list.")
    _refuse_unknown(data, _TOP_KEYS, "(top)")
    raw = data.get("stages")
    if not isinstance(raw, list | tuple) or not raw:
        raise _fail("stages", "must be a list of at least one stage.")
    stages = tuple(_stage(item, f"stages[{i}]") for i, item in enumerate(raw))
    for i, stage in enumerate(stages):
        if any(s.name == stage.name for s in stages[:i]):
            raise _fail(f"stages[{i}].name", f"{stage.name!r} names two stages.")
    if not any(not s.review for s in stages):
        raise _fail(
            "stages",
            "no release stage: the protected default branch would deploy nowhere; "
            "add a stage without trust: review.",
        )
    return Topology(stages=stages)


def loads(text: str) -> Topology:
    """A topology from JSON text: the value of the orchestrator's ``Topology`` parameter."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(
            f"topology: not JSON ({exc}); `stackrelay topology check FILE` prints the value to use."
        ) from None
    return parse(data)


DEFAULT_ACCOUNT_KEYS = ("dev", "staging", "prod")
"""The default topology's accounts, in order (template parameters DevAccountId,
StagingAccountId, ProdAccountId): the keys of :func:`default`'s ``accounts``."""


def default_names() -> tuple[str, ...]:
    """The default topology's stage names, in order (whatever its accounts)."""
    accounts = dict.fromkeys(DEFAULT_ACCOUNT_KEYS, "0" * 12)
    return tuple(stage.name for stage in default(accounts, "us-east-1").stages)


def default(
    accounts: Mapping[str, str],
    region: str,
    approval_stages: Iterable[str] = ("prod",),
    parameters: Mapping[str, Mapping[str, str]] | None = None,
    url_output: str | None = None,
) -> Topology:
    """Today's three stages: review (dev account), staging, then prod with approval.

    ``accounts`` holds the ``dev``, ``staging`` and ``prod`` account ids (the
    orchestrator's older account parameters); what it builds is checked as any topology.
    """
    approval = frozenset(approval_stages)
    parameters = parameters or {}
    data = {
        "stages": [
            {
                "name": name,
                "account": accounts[key],
                "regions": [region],
                **({"trust": REVIEW} if name == "review" else {}),
                **({"approval": True} if name in approval and name != "review" else {}),
                **({"parameters": dict(parameters[name])} if parameters.get(name) else {}),
                **({"url_output": url_output} if url_output else {}),
                **({"environment": "production"} if name == "prod" else {}),
            }
            for name, key in (("review", "dev"), ("staging", "staging"), ("prod", "prod"))
        ]
    }
    return parse(data)
