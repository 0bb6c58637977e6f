"""Who is asking: a GitLab CI job's ID token, verified.

GitLab gives every job signed ID tokens (``id_tokens:`` in .gitlab-ci.yml). A
job sends one whose audience is StackRelay's (never the AWS one, so a token
seen by StackRelay cannot assume AWS roles) to the start and approval
functions. :func:`verify` checks it with PyJWT: the RS256 signature against the
issuer's JWKS (fetched over HTTPS and cached), ``iss``, ``aud``, and ``exp`` /
``nbf`` / ``iat`` against :mod:`stackrelay.clock` (the product's one clock, so
the local engine's simulated time applies too). Everything StackRelay then
decides (route, project, pipeline, commit, approver) comes from the returned
:class:`Identity`, never from fields the caller writes.

The token is a bearer secret for StackRelay: it is never logged, stored or
put into an execution's input (see :func:`source_of`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from stackrelay import clock
from stackrelay.errors import ConfigurationError, IdentityRejected
from stackrelay.model import unsafe_character

ALGORITHMS = ["RS256"]
"""GitLab signs ID tokens with RS256; anything else (``none``, HS256) is refused."""
LEEWAY_SECONDS = 60
MAX_TOKEN_LENGTH = 16384
JWKS_PATH = "/oauth/discovery/keys"
"""GitLab's JWKS endpoint (``jwks_uri`` of ``/.well-known/openid-configuration``)."""
JWKS_CACHE_SECONDS = 300
REQUIRED_CLAIMS = (
    "iss",
    "aud",
    "exp",
    "iat",
    "nbf",
    "sub",
    "project_id",
    "project_path",
    "ref",
    "ref_type",
    "ref_protected",
    "pipeline_id",
    "job_id",
    "sha",
    "user_login",
)
_LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class Issuer:
    """Which GitLab signs the tokens StackRelay accepts, and for which audience."""

    url: str
    audience: str
    jwks_url: str = ""

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        local = parts.hostname in _LOCAL_HOSTS
        if parts.scheme != "https" and not (parts.scheme == "http" and local):
            raise ConfigurationError(
                f"GitLab issuer {self.url!r} must be an https:// URL (http:// only for "
                "localhost, the local engine's issuer). Set the orchestrator's TokenIssuer "
                "parameter."
            )
        if self.url.endswith("/") or parts.query or parts.fragment:
            raise ConfigurationError(
                f"GitLab issuer {self.url!r} must be the instance URL exactly as the tokens' "
                "iss claim says it: no trailing slash, query or fragment."
            )
        if not self.audience:
            raise ConfigurationError("The StackRelay token audience (TOKEN_AUDIENCE) is empty.")

    @property
    def keys_url(self) -> str:
        return self.jwks_url or f"{self.url}{JWKS_PATH}"

    @classmethod
    def from_env(cls, env: Any) -> Issuer:
        url = (env.get("TOKEN_ISSUER") or "").strip()
        if not url:
            raise ConfigurationError(
                "TOKEN_ISSUER is not set: the orchestrator's template sets it from TokenIssuer."
            )
        return cls(
            url=url,
            audience=(env.get("TOKEN_AUDIENCE") or "").strip(),
        )


@dataclass(frozen=True)
class Identity:
    """The verified claims of one CI job."""

    issuer: str
    project_id: str
    project_path: str
    ref: str
    ref_type: str
    ref_protected: bool
    pipeline_id: str
    job_id: str
    sha: str
    user_login: str
    environment: str | None = None

    @property
    def project_url(self) -> str:
        return f"{self.issuer}/{self.project_path}"

    @property
    def job_url(self) -> str:
        return f"{self.project_url}/-/jobs/{self.job_id}"

    @property
    def pipeline_url(self) -> str:
        return f"{self.project_url}/-/pipelines/{self.pipeline_id}"

    def describe(self) -> str:
        """``alice in group/app (main, job 42)``: for messages and logs (no secret)."""
        return f"{self.user_login} in {self.project_path} ({self.ref}, job {self.job_id})"


if TYPE_CHECKING:
    import jwt

_CLIENTS: dict[str, jwt.PyJWKClient] = {}
_CLIENTS_LOCK = threading.Lock()


def _jwks_client(url: str) -> jwt.PyJWKClient:
    """One cached JWKS client per URL: keys are fetched once per JWKS_CACHE_SECONDS,
    and again when a token names a key id the cache does not hold (key rotation)."""
    import jwt  # lazily: only the start and approval functions verify tokens

    with _CLIENTS_LOCK:
        client = _CLIENTS.get(url)
        if client is None:
            client = jwt.PyJWKClient(
                url, cache_jwk_set=True, lifespan=JWKS_CACHE_SECONDS, timeout=10
            )
            _CLIENTS[url] = client
        return client


def forget_keys() -> None:
    """Drop cached JWKS clients (the local engine's issuer changes per engine)."""
    with _CLIENTS_LOCK:
        _CLIENTS.clear()


def _reject(why: str) -> IdentityRejected:
    return IdentityRejected(
        f"The GitLab ID token was refused: {why}. Nothing was started or decided. In "
        "GitLab CI the job needs `id_tokens: STACKRELAY_IDENTITY_TOKEN: aud: <the "
        "orchestrator's TokenAudience>` (ci/stackrelay.gitlab-ci.yml does this)."
    )


def verify(token: str, issuer: Issuer) -> Identity:
    """The verified identity in ``token``, or :class:`IdentityRejected` saying why."""
    import jwt  # lazily (PyJWT + cryptography): modules that import this one stay light

    if not isinstance(token, str) or not token.strip():
        raise _reject("no token was sent")
    if len(token) > MAX_TOKEN_LENGTH:
        raise _reject(f"it is longer than {MAX_TOKEN_LENGTH} characters")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise _reject("it is not a JSON Web Token") from None
    if header.get("alg") not in ALGORITHMS:
        raise _reject(f"it is signed with {header.get('alg')!r}, not RS256")
    try:
        key = _jwks_client(issuer.keys_url).get_signing_key_from_jwt(token)
    except jwt.PyJWKClientConnectionError as exc:
        raise ConfigurationError(
            f"Cannot read the GitLab issuer's keys at {issuer.keys_url}: {exc}"
        ) from None
    except jwt.PyJWTError:
        raise _reject(f"no key of {issuer.url} signed it") from None
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key.key,
            algorithms=ALGORITHMS,
            audience=issuer.audience,
            issuer=issuer.url,
            # Times are checked below against stackrelay.clock, the product's clock.
            options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
        )
    except jwt.InvalidAudienceError:
        raise _reject(f"its audience is not {issuer.audience!r}") from None
    except jwt.InvalidIssuerError:
        raise _reject(f"its issuer is not {issuer.url!r}") from None
    except jwt.InvalidSignatureError:
        raise _reject("its signature does not verify") from None
    except jwt.PyJWTError as exc:
        raise _reject(f"it is not valid ({type(exc).__name__})") from None
    return _identity(claims, issuer)


def _identity(claims: dict[str, Any], issuer: Issuer) -> Identity:
    missing = [name for name in REQUIRED_CLAIMS if claims.get(name) in (None, "")]
    if missing:
        raise _reject(f"it lacks the claim(s) {', '.join(missing)}")
    now = clock.now()
    try:
        exp, nbf, iat = (float(claims[k]) for k in ("exp", "nbf", "iat"))
    except (TypeError, ValueError):
        raise _reject("its exp, nbf or iat is not a number") from None
    if now >= exp + LEEWAY_SECONDS:
        raise _reject(f"it expired at {clock.iso(exp)}")
    if now + LEEWAY_SECONDS < nbf or now + LEEWAY_SECONDS < iat:
        raise _reject("it is not valid yet (nbf/iat in the future)")
    text = {k: str(claims[k]) for k in ("project_path", "ref", "user_login")}
    for name, value in text.items():
        found = unsafe_character(value)
        if found is not None:
            raise _reject(f"its {name} claim holds a control or bidi character ({found})")
    ref_protected = str(claims["ref_protected"]).lower()
    if ref_protected not in ("true", "false"):
        raise _reject("its ref_protected claim is neither true nor false")
    ref_type = str(claims["ref_type"])
    if ref_type not in ("branch", "tag"):
        raise _reject(f"its ref_type {ref_type!r} is neither branch nor tag")
    project_id, pipeline_id = str(claims["project_id"]), str(claims["pipeline_id"])
    if not project_id.isdigit() or not pipeline_id.isdigit() or len(pipeline_id) > 40:
        raise _reject("its project_id or pipeline_id is not a number")
    return Identity(
        issuer=issuer.url,
        project_id=project_id,
        project_path=text["project_path"],
        ref=text["ref"],
        ref_type=ref_type,
        ref_protected=ref_protected == "true",
        pipeline_id=pipeline_id,
        job_id=str(claims["job_id"]),
        sha=str(claims["sha"]),
        user_login=text["user_login"],
        environment=claims.get("environment"),
    )


def source_of(identity: Identity) -> dict[str, Any]:
    """The execution input's ``source``: verified claims only (no token)."""
    return {
        "project": identity.project_path,
        "project_id": identity.project_id,
        "ref": identity.ref,
        "ref_type": identity.ref_type,
        "ref_protected": identity.ref_protected,
        "commit": identity.sha,
        "pipeline_id": identity.pipeline_id,
        "pipeline_url": identity.pipeline_url,
        "job_url": identity.job_url,
        "user": identity.user_login,
    }
