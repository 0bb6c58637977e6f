"""AWS sessions and clients: the task's own, and assumed roles in target accounts.

One place for three rules:

- an assumed-role session is made once per role, session name and region, and
  reused (within a warm Lambda, and in the CLI) until shortly before its
  credentials expire: one AssumeRole per stage per execution, not one per poll;
- a client is made once per credentials, service and region, and reused;
- every client comes from one botocore session, so each service model is read
  from disk once per process (a new ``boto3.Session`` per call re-reads them).

Clients are made on first use, never at import: a cold start pays only for
what its invocation needs. Credentials stay inside the cache: never log or
return them.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stackrelay.naming import slug

if TYPE_CHECKING:
    from stackrelay.plan import Stage

SESSION_SECONDS = 3600
"""How long assumed credentials live. A Lambda role assuming a target role is role
chaining, which AWS caps at one hour; one hour covers a stage's polling without a
second AssumeRole for operations up to ~55 minutes."""
REFRESH_MARGIN_SECONDS = 300
"""Assume again when the credentials have less than this left: a task that starts with
them must be able to finish its calls (task timeouts are well under five minutes)."""

_lock = threading.RLock()
_base: Any = None
_assumed: dict[tuple[str, str, str], AssumedSession] = {}
_own: dict[tuple[str, ...], Any] = {}
_now: Callable[[], float] = time.time
"""Real time: credentials expire by AWS's clock, not the (maybe simulated) product clock."""


def session_name(pipeline_id: str, stage: str) -> str:
    """The role session name CloudTrail shows: which pipeline did this."""
    return f"stackrelay-{slug(pipeline_id) or 'manual'}-{stage}"[:64]


_config: Any = None


def client_config() -> Any:
    """Target-account clients' botocore Config.

    One quick SDK retry for a transient blip; throttling beyond that is raised as
    Throttled and retried by the state machine, which waits for free instead of
    sleeping in a billed Lambda.
    """
    global _config
    if _config is None:
        from botocore.config import Config

        _config = Config(retries={"mode": "standard", "total_max_attempts": 2})
    return _config


def _base_session() -> Any:
    """The process's one boto3 session: its loader caches service models."""
    global _base
    with _lock:
        if _base is None:
            import boto3

            _base = boto3.session.Session()
        return _base


@dataclass
class AssumedSession:
    """Short-lived credentials of one role session, and the clients made with them."""

    role_arn: str
    name: str
    region_name: str
    expires_at: float
    _credentials: dict[str, str] = field(repr=False)
    _clients: dict[tuple[str, bool], Any] = field(default_factory=dict, repr=False)

    def fresh(self) -> bool:
        return self.expires_at - _now() > REFRESH_MARGIN_SECONDS

    def client(self, service: str, retries: bool = False) -> Any:
        """This role's client for ``service`` (made once). ``retries`` keeps the SDK's
        default retries instead of :func:`client_config`'s single retry."""
        key = (service, retries)
        with _lock:
            found = self._clients.get(key)
            if found is None:
                found = _base_session().client(
                    service,
                    region_name=self.region_name,
                    aws_access_key_id=self._credentials["AccessKeyId"],
                    aws_secret_access_key=self._credentials["SecretAccessKey"],
                    aws_session_token=self._credentials["SessionToken"],
                    config=None if retries else client_config(),
                )
                self._clients[key] = found
            return found


def assume_role(sts: Any, role_arn: str, name: str, region: str) -> AssumedSession:
    """A session with the role's short-lived credentials, reused while they last.

    ``sts`` makes the AssumeRole call when no fresh session is cached. Sessions are
    keyed by role, session name and region: the session name says which pipeline
    acts (CloudTrail), so two pipelines never share one.
    """
    key = (role_arn, name, region)
    with _lock:
        cached = _assumed.get(key)
        if cached is not None and cached.fresh():
            return cached
        for stale in [k for k, s in _assumed.items() if not s.fresh()]:
            del _assumed[stale]
        creds = sts.assume_role(
            RoleArn=role_arn, RoleSessionName=name, DurationSeconds=SESSION_SECONDS
        )["Credentials"]
        expiration = creds.get("Expiration")
        expires_at = (
            expiration.timestamp() if hasattr(expiration, "timestamp") else _now() + SESSION_SECONDS
        )
        session = AssumedSession(
            role_arn=role_arn,
            name=name,
            region_name=region,
            expires_at=expires_at,
            _credentials={k: creds[k] for k in ("AccessKeyId", "SecretAccessKey", "SessionToken")},
        )
        _assumed[key] = session
        return session


def for_stage(stage: Stage) -> AssumedSession:
    """A session acting in the stage's account through its deploy role."""
    return assume_role(client("sts"), stage.role_arn, stage.session, stage.region)


def cloudformation(stage: Stage) -> Any:
    """A CloudFormation client acting in the stage's account."""
    return for_stage(stage).client("cloudformation")


# -- the task's own clients (the function's role, in the orchestrator account) -----


def _own_key(kind: str, service: str, region: str | None = None) -> tuple[str, ...]:
    env = os.environ
    region = region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or ""
    # The engine runs many functions in one process: key by what makes a client differ.
    return (
        kind,
        service,
        region,
        env.get("AWS_ACCESS_KEY_ID", ""),
        env.get("AWS_ENDPOINT_URL", ""),
    )


def _own_credentials() -> dict[str, Any]:
    """The function's credentials as Lambda gives them (environment), if set there;
    otherwise the SDK's credential chain decides."""
    env = os.environ
    if not env.get("AWS_ACCESS_KEY_ID"):
        return {}
    return {
        "aws_access_key_id": env["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": env.get("AWS_SECRET_ACCESS_KEY"),
        "aws_session_token": env.get("AWS_SESSION_TOKEN") or None,
    }


def client(service: str, region: str | None = None) -> Any:
    """The function's own client for ``service`` (in ``region``: default its own), made on
    first use."""
    key = _own_key("client", service, region)
    with _lock:
        found = _own.get(key)
        if found is None:
            found = _base_session().client(
                service, region_name=key[2] or None, **_own_credentials()
            )
            _own[key] = found
        return found


def table(name: str) -> Any:
    """The DynamoDB table ``name`` (a boto3 resource Table), made on first use."""
    key = (*_own_key("table", "dynamodb"), name)
    with _lock:
        found = _own.get(key)
        if found is None:
            resource = _base_session().resource(
                "dynamodb", region_name=key[2] or None, **_own_credentials()
            )
            found = resource.Table(name)
            _own[key] = found
        return found


def clear() -> None:
    """Forget every cached session and client (the local engine calls this when it
    starts and stops: credentials of one emulated AWS mean nothing in the next)."""
    global _base
    with _lock:
        _assumed.clear()
        _own.clear()
        _base = None
