"""The local engine's GitLab: an OIDC issuer that signs CI jobs' ID tokens.

So that ``stackrelay local release``, ``local demo``, the workflow tests and the
gitlab-ci-local tests run the *verified* path (the start and approval functions
check a real RS256 signature against a JWKS fetched over HTTP), not a bypass.

An RSA key made when the engine starts, its JWKS served on
``http://localhost:<port>/oauth/discovery/keys`` (GitLab's path) with an
OpenID discovery document, and :meth:`LocalIssuer.mint` for tokens with
GitLab's claim set. The orchestrator is bootstrapped with ``TokenIssuer`` set to
:attr:`LocalIssuer.url`. Times come from the engine's simulated clock, as the
verifier's do.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

DEFAULT_AUDIENCE = "stackrelay"
DEFAULT_BRANCH = "main"
TOKEN_SECONDS = 3600
KEYS_PATH = "/oauth/discovery/keys"


def _b64(number: int) -> str:
    data = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class LocalIssuer:
    """A GitLab instance's token signer, on localhost."""

    def __init__(
        self,
        now: Callable[[], float],
        protected: Iterable[str] = (DEFAULT_BRANCH,),
        host: str = "localhost",
    ) -> None:
        self._now = now
        self.protected = set(protected)
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = secrets.token_hex(8)
        self._host = host
        self._server: ThreadingHTTPServer | None = None
        self._jobs = iter(range(10_000, 10**9))
        self._lock = threading.Lock()

    # -- serving ------------------------------------------------------------------
    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the local issuer is not started")
        return f"http://{self._host}:{self._server.server_address[1]}"

    def jwks(self) -> dict[str, Any]:
        public = self._key.public_key().public_numbers()
        return {
            "keys": [
                {
                    "kty": "RSA",
                    "kid": self.kid,
                    "use": "sig",
                    "alg": "RS256",
                    "n": _b64(public.n),
                    "e": _b64(public.e),
                }
            ]
        }

    def start(self) -> LocalIssuer:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == KEYS_PATH:
                    body: dict[str, Any] = issuer.jwks()
                elif self.path == "/.well-known/openid-configuration":
                    body = {
                        "issuer": issuer.url,
                        "jwks_uri": f"{issuer.url}{KEYS_PATH}",
                        "id_token_signing_alg_values_supported": ["RS256"],
                    }
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer((self._host, 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, name="stackrelay-local-issuer", daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # -- tokens -------------------------------------------------------------------
    def claims(
        self,
        project_path: str,
        project_id: str | int,
        ref: str,
        pipeline_id: str | int,
        sha: str,
        user_login: str = "alice",
        audience: str = DEFAULT_AUDIENCE,
        ref_type: str = "branch",
        ref_protected: bool | None = None,
        job_id: str | int | None = None,
        environment: str | None = None,
        lifetime: float = TOKEN_SECONDS,
    ) -> dict[str, Any]:
        """GitLab's ID token claim set for one job (docs.gitlab.com, ID token claims)."""
        now = int(self._now())
        with self._lock:
            job = str(job_id if job_id is not None else next(self._jobs))
        protected = ref in self.protected if ref_protected is None else ref_protected
        namespace = project_path.rsplit("/", 1)[0]
        claims: dict[str, Any] = {
            "namespace_id": "1",
            "namespace_path": namespace,
            "project_id": str(project_id),
            "project_path": project_path,
            "user_id": "1",
            "user_login": user_login,
            "user_email": f"{user_login}@example.com",
            "user_access_level": "maintainer",
            "pipeline_id": str(pipeline_id),
            "pipeline_source": "push",
            "job_id": job,
            "ref": ref,
            "ref_type": ref_type,
            "ref_path": f"refs/{'heads' if ref_type == 'branch' else 'tags'}/{ref}",
            "ref_protected": "true" if protected else "false",
            "runner_id": 1,
            "runner_environment": "self-hosted",
            "sha": sha,
            "project_visibility": "private",
            "ci_config_ref_uri": f"local/{project_path}//.gitlab-ci.yml@refs/heads/{ref}",
            "ci_config_sha": sha,
            "jti": secrets.token_hex(16),
            "iss": self.url,
            "iat": now,
            "nbf": now - 5,
            "exp": now + int(lifetime),
            "sub": f"project_path:{project_path}:ref_type:{ref_type}:ref:{ref}",
            "aud": audience,
        }
        if environment:
            claims.update(
                environment=environment,
                environment_protected="true" if environment == "production" else "false",
                deployment_tier=environment,
            )
        return claims

    def sign(self, claims: dict[str, Any]) -> str:
        """Sign any claim set with the issuer's key (tests forge claims with this)."""
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid})

    def mint(self, **kwargs: Any) -> str:
        """A signed token for one job; see :meth:`claims` for the arguments."""
        return self.sign(self.claims(**kwargs))
