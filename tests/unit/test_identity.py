"""identity.verify: a GitLab ID token is trusted only when every check passes."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from stackrelay import identity
from stackrelay.errors import ConfigurationError, IdentityRejected
from stackrelay.identity import Issuer


def test_verify_valid_token_returns_claims(mint: Any, issuer_config: Issuer) -> None:
    who = identity.verify(mint(ref="feature/x", ref_protected=False), issuer_config)

    assert (who.project_path, who.project_id, who.ref, who.ref_type) == (
        "group/aws-news",
        "4711",
        "feature/x",
        "branch",
    )
    assert who.ref_protected is False
    assert who.user_login == "carol"
    assert who.pipeline_url == f"{issuer_config.url}/group/aws-news/-/pipelines/4712"
    assert who.job_url.startswith(f"{issuer_config.url}/group/aws-news/-/jobs/")


def test_verify_protected_default_branch_claim_parsed(mint: Any, issuer_config: Issuer) -> None:
    assert identity.verify(mint(ref="main"), issuer_config).ref_protected is True


def _claims(gitlab_issuer: Any, **overrides: Any) -> dict[str, Any]:
    claims = gitlab_issuer.claims(
        project_path="group/aws-news", project_id="4711", ref="main", pipeline_id="1", sha="a" * 40
    )
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


@pytest.mark.parametrize(
    ("overrides", "why"),
    [
        ({"aud": "https://gitlab.com"}, "audience"),
        ({"aud": "sts.amazonaws.com"}, "audience"),
        ({"iss": "https://gitlab.com"}, "issuer"),
        ({"exp": int(time.time()) - 3600}, "expired"),
        ({"nbf": int(time.time()) + 3600}, "not valid yet"),
        ({"iat": int(time.time()) + 3600}, "not valid yet"),
        ({"project_id": None}, "project_id"),
        ({"ref_protected": None}, "ref_protected"),
        ({"ref_protected": "yes"}, "ref_protected"),
        ({"ref_type": "merge_request"}, "ref_type"),
        ({"ref": "main\u202e"}, "control or bidi"),
        ({"ref": "main\x00"}, "control or bidi"),
        ({"user_login": "eve\n"}, "control or bidi"),
        ({"project_id": "12; drop"}, "not a number"),
    ],
    # Ids from the claim names only: values hold the time, and xdist workers must collect
    # the same ids.
    ids=lambda v: "+".join(v) if isinstance(v, dict) else v,
)
def test_verify_bad_claim_rejected(
    gitlab_issuer: Any, issuer_config: Issuer, overrides: dict[str, Any], why: str
) -> None:
    token = gitlab_issuer.sign(_claims(gitlab_issuer, **overrides))

    with pytest.raises(IdentityRejected, match=why):
        identity.verify(token, issuer_config)


def test_verify_token_signed_by_other_key_rejected(
    gitlab_issuer: Any, issuer_config: Issuer
) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(
        _claims(gitlab_issuer), other, algorithm="RS256", headers={"kid": gitlab_issuer.kid}
    )

    with pytest.raises(IdentityRejected, match="signature"):
        identity.verify(token, issuer_config)


def test_verify_unknown_key_id_rejected(gitlab_issuer: Any, issuer_config: Issuer) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(_claims(gitlab_issuer), other, algorithm="RS256", headers={"kid": "nope"})

    with pytest.raises(IdentityRejected, match="no key"):
        identity.verify(token, issuer_config)


@pytest.mark.parametrize("alg", ["HS256", "none"])
def test_verify_symmetric_or_unsigned_token_rejected(
    gitlab_issuer: Any, issuer_config: Issuer, alg: str
) -> None:
    # HS256 signed with the *public* JWKS as secret: the classic algorithm confusion.
    key = "x" * 32 if alg == "HS256" else None
    token = jwt.encode(_claims(gitlab_issuer), key, algorithm=alg)

    with pytest.raises(IdentityRejected, match="not RS256"):
        identity.verify(token, issuer_config)


@pytest.mark.parametrize("token", ["", "   ", "not.a.jwt", "a" * 20000])
def test_verify_garbage_rejected_without_echo(issuer_config: Issuer, token: str) -> None:
    with pytest.raises(IdentityRejected) as caught:
        identity.verify(token, issuer_config)

    if len(token) > 3:
        assert token.strip() not in str(caught.value)


def test_verify_error_never_contains_the_token(mint: Any, gitlab_issuer: Any) -> None:
    token = mint()
    wrong = Issuer(url=gitlab_issuer.url, audience="someone-else")

    with pytest.raises(IdentityRejected) as caught:
        identity.verify(token, wrong)

    assert token not in str(caught.value)
    assert token.split(".")[1] not in str(caught.value)


def test_verify_issuer_keys_unreachable_is_configuration_error(mint: Any) -> None:
    unreachable = Issuer(url="http://localhost:9", audience="stackrelay")

    with pytest.raises(ConfigurationError, match="Cannot read the GitLab issuer's keys"):
        identity.verify(mint(), unreachable)


@pytest.mark.parametrize(
    "url",
    ["http://gitlab.example.com", "https://gitlab.example.com/", "ftp://x", "https://x?y=1"],
)
def test_issuer_url_must_be_https_exact(url: str) -> None:
    with pytest.raises(ConfigurationError):
        Issuer(url=url, audience="stackrelay")


@pytest.mark.parametrize(
    "url", ["https://gitlab.com", "https://gitlab.example.com/gitlab", "http://localhost:8080"]
)
def test_issuer_url_self_managed_and_local_accepted(url: str) -> None:
    assert Issuer(url=url, audience="stackrelay").keys_url == f"{url}/oauth/discovery/keys"


def test_source_of_holds_claims_only(mint: Any, issuer_config: Issuer) -> None:
    token = mint()
    source = identity.source_of(identity.verify(token, issuer_config))

    assert source["ref_protected"] is True
    assert token not in str(source)
    assert set(source) == {
        "project",
        "project_id",
        "ref",
        "ref_type",
        "ref_protected",
        "commit",
        "pipeline_id",
        "pipeline_url",
        "job_url",
        "user",
    }
