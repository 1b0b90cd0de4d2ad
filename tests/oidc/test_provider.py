"""The OpenID provider harness speaks real OpenID Connect: discovery, code flow, logout tokens."""

from __future__ import annotations

import time
import typing as t
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
import requests
from loopback import Loopback
from werkzeug.wrappers import Request, Response

from oidc.provider import OpenIDProvider

CLIENT_ID = "fab-app"
SECRET = "s3cret"
CALLBACK = "http://localhost/oauth-authorized/idp"
LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"


class Receiver(Loopback):
    """A relying party's back-channel logout endpoint on loopback that records what it gets."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.posts: list[tuple[str, dict[str, str]]] = []
        super().__init__()
        self.uri = f"{self.base}/backchannel-logout"

    def _app(self, environ: dict[str, t.Any], start_response: t.Any) -> t.Iterable[bytes]:
        request = Request(environ)
        self.posts.append((request.mimetype, request.form.to_dict()))
        return Response(status=self.status)(environ, start_response)


@pytest.fixture
def op() -> t.Iterator[OpenIDProvider]:
    with OpenIDProvider(CLIENT_ID, SECRET, [CALLBACK]) as provider:
        provider.add_user("alice", email="alice@example.org", given_name="Alice", family_name="Liddell")
        provider.login_as("alice")
        yield provider


@pytest.fixture
def receiver() -> t.Iterator[Receiver]:
    rp = Receiver()
    yield rp
    rp.close()


def metadata(op: OpenIDProvider) -> dict[str, t.Any]:
    return requests.get(op.metadata_url, timeout=5).json()


def authorize(op: OpenIDProvider, **params: str) -> requests.Response:
    query = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": CALLBACK,
        "scope": "openid email profile",
        "state": "st4te",
        "nonce": "n0nce",
        **params,
    }
    url = f"{metadata(op)['authorization_endpoint']}?{urlencode(query)}"
    return requests.get(url, allow_redirects=False, timeout=5)


def code_flow(op: OpenIDProvider) -> dict[str, t.Any]:
    """Log in as the current user with plain HTTP; the token endpoint's answer."""
    redirect = authorize(op)
    assert redirect.status_code in (302, 303), redirect.text
    answer = parse_qs(urlsplit(redirect.headers["Location"]).query)
    response = requests.post(
        metadata(op)["token_endpoint"],
        data={"grant_type": "authorization_code", "code": answer["code"][0], "redirect_uri": CALLBACK},
        auth=(CLIENT_ID, SECRET),
        timeout=5,
    )
    assert response.status_code == 200, response.text
    return response.json()


def verified(op: OpenIDProvider, token: str) -> dict[str, t.Any]:
    """Check a token's signature against the served JWKS, as a relying party does."""
    key = jwt.PyJWKClient(metadata(op)["jwks_uri"], cache_keys=False).get_signing_key_from_jwt(token)
    return jwt.decode(token, key.key, algorithms=[op.signing_alg], audience=CLIENT_ID, issuer=op.issuer)


def test_discovery_names_the_issuer_and_endpoints(op: OpenIDProvider) -> None:
    info = metadata(op)
    assert info["issuer"] == op.issuer
    for name in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"):
        assert info[name].startswith(op.issuer + "/")
    assert info["backchannel_logout_supported"] is True


def test_jwks_publishes_only_public_keys(op: OpenIDProvider) -> None:
    keys = requests.get(metadata(op)["jwks_uri"], timeout=5).json()["keys"]
    assert [key["kty"] for key in keys] == ["RSA"]
    assert keys[0]["kid"]
    assert "d" not in keys[0]


def test_code_flow_id_token_carries_sub_and_sid(op: OpenIDProvider) -> None:
    claims = verified(op, code_flow(op)["id_token"])
    assert claims["sub"] == op.subject_of("alice")
    assert claims["nonce"] == "n0nce"
    assert [session.sid for session in op.sessions("alice")] == [claims["sid"]]


def test_userinfo_releases_claims_by_scope(op: OpenIDProvider) -> None:
    tokens = code_flow(op)
    response = requests.get(
        metadata(op)["userinfo_endpoint"],
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
        timeout=5,
    )
    assert response.status_code == 200
    info = response.json()
    assert info["sub"] == op.subject_of("alice")
    assert (info["email"], info["given_name"], info["preferred_username"]) == (
        "alice@example.org",
        "Alice",
        "alice",
    )


def test_each_login_is_a_new_op_session(op: OpenIDProvider) -> None:
    first = verified(op, code_flow(op)["id_token"])["sid"]
    second = verified(op, code_flow(op)["id_token"])["sid"]
    assert first != second
    assert [session.sid for session in op.sessions("alice")] == [first, second]


def test_authorization_without_a_user_is_refused(op: OpenIDProvider) -> None:
    op.login_as(None)
    assert authorize(op).status_code == 401
    redirect = authorize(op, prompt="none")
    assert parse_qs(urlsplit(redirect.headers["Location"]).query)["error"] == ["login_required"]


def test_unregistered_redirect_uri_is_refused(op: OpenIDProvider) -> None:
    response = authorize(op, redirect_uri="http://evil.example/cb")
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_token_endpoint_refuses_a_wrong_secret(op: OpenIDProvider) -> None:
    answer = parse_qs(urlsplit(authorize(op).headers["Location"]).query)
    response = requests.post(
        metadata(op)["token_endpoint"],
        data={"grant_type": "authorization_code", "code": answer["code"][0], "redirect_uri": CALLBACK},
        auth=(CLIENT_ID, "wrong"),
        timeout=5,
    )
    assert response.status_code == 401


def test_logout_token_has_the_back_channel_shape(op: OpenIDProvider, receiver: Receiver) -> None:
    sid = verified(op, code_flow(op)["id_token"])["sid"]
    op.backchannel_logout_uri = receiver.uri
    token = op.logout_token(sid)
    header = jwt.get_unverified_header(token)
    claims = verified(op, token)
    assert header == {"alg": "RS256", "kid": op.jwks()["keys"][0]["kid"]}  # idpyoidc sets no typ
    assert claims["events"] == {LOGOUT_EVENT: {}}
    assert claims["sid"] == sid
    assert claims["aud"] == [CLIENT_ID]
    assert claims["jti"]
    assert claims["exp"] == claims["iat"] + 86400
    assert abs(claims["iat"] - time.time()) < 60
    assert "nonce" not in claims
    assert "sub" not in claims  # idpyoidc sends sid only
    assert receiver.posts == []


def test_logout_token_needs_a_logout_uri(op: OpenIDProvider) -> None:
    sid = verified(op, code_flow(op)["id_token"])["sid"]
    with pytest.raises(RuntimeError, match="backchannel_logout_uri"):
        op.logout_token(sid)


def test_end_session_posts_the_logout_token(op: OpenIDProvider, receiver: Receiver) -> None:
    sid = verified(op, code_flow(op)["id_token"])["sid"]
    op.backchannel_logout_uri = receiver.uri
    assert op.end_session(sid) == [(receiver.uri, 200)]
    [(mimetype, form)] = receiver.posts
    assert mimetype == "application/x-www-form-urlencoded"
    assert verified(op, form["logout_token"])["sid"] == sid
    assert [session.revoked for session in op.sessions("alice")] == [True]


def test_ending_one_session_revokes_all_of_the_users_sessions_at_the_op(
    op: OpenIDProvider, receiver: Receiver
) -> None:
    first = verified(op, code_flow(op)["id_token"])["sid"]
    code_flow(op)
    op.backchannel_logout_uri = receiver.uri
    op.end_session(first)
    assert [session.revoked for session in op.sessions("alice")] == [True, True]
    [(_, form)] = receiver.posts
    assert verified(op, form["logout_token"])["sid"] == first


def test_end_session_reports_the_rp_status(op: OpenIDProvider) -> None:
    failing = Receiver(status=400)
    try:
        sid = verified(op, code_flow(op)["id_token"])["sid"]
        op.backchannel_logout_uri = failing.uri
        assert op.end_session(sid) == [(failing.uri, 400)]
    finally:
        failing.close()


def test_end_session_without_a_logout_uri_sends_nothing(op: OpenIDProvider) -> None:
    sid = verified(op, code_flow(op)["id_token"])["sid"]
    assert op.end_session(sid) == []
    assert [session.revoked for session in op.sessions("alice")] == [True]


def test_rotated_key_signs_and_is_published_beside_the_old(op: OpenIDProvider, receiver: Receiver) -> None:
    before = code_flow(op)["id_token"]
    old_kid = jwt.get_unverified_header(before)["kid"]
    new_kid = op.rotate_keys()
    assert new_kid != old_kid
    served = requests.get(metadata(op)["jwks_uri"], timeout=5).json()
    assert [key["kid"] for key in served["keys"]] == [new_kid, old_kid]
    after = code_flow(op)["id_token"]
    assert jwt.get_unverified_header(after)["kid"] == new_kid
    op.backchannel_logout_uri = receiver.uri
    token = op.logout_token(verified(op, after)["sid"])
    assert jwt.get_unverified_header(token)["kid"] == new_kid
    assert verified(op, before)["sid"] != verified(op, token)["sid"]


def test_retired_key_leaves_the_jwks(op: OpenIDProvider) -> None:
    before = code_flow(op)["id_token"]
    new_kid = op.rotate_keys(retire_old=True)
    served = requests.get(metadata(op)["jwks_uri"], timeout=5).json()
    assert [key["kid"] for key in served["keys"]] == [new_kid]
    assert jwt.get_unverified_header(code_flow(op)["id_token"])["kid"] == new_kid
    with pytest.raises(jwt.PyJWKClientError):
        verified(op, before)


@pytest.mark.parametrize("alg", ["ES256", "ES384", "PS256"])
def test_other_signing_algs_sign_every_token(alg: str, receiver: Receiver) -> None:
    with OpenIDProvider(CLIENT_ID, SECRET, [CALLBACK], receiver.uri, signing_alg=alg) as op:
        op.add_user("alice", email="alice@example.org")
        op.login_as("alice")
        assert metadata(op)["id_token_signing_alg_values_supported"] == [alg]
        sid = verified(op, code_flow(op)["id_token"])["sid"]
        assert jwt.get_unverified_header(op.logout_token(sid))["alg"] == alg
        assert op.end_session(sid) == [(receiver.uri, 200)]
        assert verified(op, receiver.posts[0][1]["logout_token"])["sid"] == sid


def test_unknown_signing_alg_is_refused() -> None:
    with pytest.raises(ValueError, match="signing_alg"):
        OpenIDProvider(CLIENT_ID, SECRET, [CALLBACK], signing_alg="HS256")
