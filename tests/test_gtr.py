"""Global Token Revocation: every answer the draft lists, and every credential of the user ending."""

from __future__ import annotations

import time
import typing as t
import uuid

import pytest
from fabapp import ALICE
from flask import Flask
from helpers import api_key, api_login, bearer, is_logged_in, login, remember_app, user_id
from keyserver import KeyServer
from test_ssf_push import epoch_reason

from flask_session_epoch import signals
from flask_session_epoch.config import ConfigurationError

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

URL = "/session_epoch/global-token-revocation"
TOKEN = "gtr-secret-0123456789abcdef0123456789abcdef"
AUDIENCE = "https://app.example.org/session_epoch/global-token-revocation"
ALICE_EMAIL = {"format": "email", "email": "alice@example.org"}


@pytest.fixture
def keys() -> t.Iterator[KeyServer]:
    with KeyServer() as server:
        yield server


@pytest.fixture
def bearer_app(make_app: t.Callable[..., Flask], monkeypatch: pytest.MonkeyPatch) -> Flask:
    monkeypatch.setenv("FSE_TEST_GTR_TOKEN", TOKEN)
    return remember_app(make_app(SESSION_EPOCH_GLOBAL_TOKEN_REVOCATION={"bearer_token_env": "FSE_TEST_GTR_TOKEN"},
                                 FAB_API_KEY_ENABLED=True))


@pytest.fixture
def jwt_app(make_app: t.Callable[..., Flask], keys: KeyServer) -> Flask:
    return make_app(SESSION_EPOCH_GLOBAL_TOKEN_REVOCATION={"jwt": {
        "issuer": keys.issuer, "jwks_uri": f"{keys.issuer}/jwks", "audience": AUDIENCE}})


def revoke(app: Flask, body: t.Any, credential: str | None = TOKEN, **kwargs: t.Any) -> t.Any:
    headers = {} if credential is None else {"Authorization": f"Bearer {credential}"}
    return app.test_client().post(URL, json=body, headers=headers, **kwargs)


def signed(keys: KeyServer, **changes: t.Any) -> str:
    now = int(time.time())
    claims = {"iss": keys.issuer, "aud": AUDIENCE, "iat": now, "exp": now + 300, "jti": uuid.uuid4().hex,
              "sub": "okta-universal-logout", **changes}
    return keys.sign({name: value for name, value in claims.items() if value is not None}, typ="JWT")


def test_revocation_ends_every_credential_kind_of_the_user(bearer_app: Flask) -> None:
    browser, api, remembered = bearer_app.test_client(), bearer_app.test_client(), bearer_app.test_client()
    login(browser)
    tokens = api_login(api)
    remembered.get("/remember-login")
    key = api_key(bearer_app)
    heard: list[dict[str, t.Any]] = []
    signals.sessions_invalidated.connect(lambda sender, **kw: heard.append(kw), bearer_app, weak=False)
    assert api.get("/api/v1/ping/", headers=bearer(key)).status_code == 200

    response = revoke(bearer_app, {"sub_id": ALICE_EMAIL})

    assert response.status_code == 204 and response.data == b""
    assert epoch_reason(bearer_app) == ("global-token-revocation", "gtr:bearer")
    assert [kw["user_id"] for kw in heard] == [user_id(bearer_app)]
    assert not is_logged_in(browser) and not is_logged_in(remembered)
    assert api.get("/api/v1/ping/", headers=bearer(tokens["access_token"])).status_code == 401
    assert api.post("/api/v1/security/refresh", headers=bearer(tokens["refresh_token"])).status_code == 401
    assert api.get("/api/v1/ping/", headers=bearer(key)).status_code == 401
    login(bearer_app.test_client())  # the user signs in again


@pytest.mark.parametrize("credential", [None, "", "wrong", TOKEN + "x", TOKEN[:-1]])
def test_without_the_bearer_token_it_is_401(bearer_app: Flask, credential: str | None) -> None:
    response = revoke(bearer_app, {"sub_id": ALICE_EMAIL}, credential)
    assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")
    assert epoch_reason(bearer_app) is None or epoch_reason(bearer_app)[0] == "created"


@pytest.mark.parametrize("body", [
    None, [], "sub_id", {}, {"sub_id": "alice"}, {"sub_id": {"format": "phone_number", "phone_number": "+1"}},
    {"sub_id": {"format": "email"}}, {"sub_id": ALICE_EMAIL, "extra": 1},
    {"sub_id": {"format": "complex", "user": ALICE_EMAIL}},
])
def test_a_malformed_request_is_400(bearer_app: Flask, body: t.Any) -> None:
    assert revoke(bearer_app, body).status_code == 400


def test_a_body_that_is_not_json_is_400(bearer_app: Flask) -> None:
    response = bearer_app.test_client().post(URL, data="sub_id=alice", headers={"Authorization": f"Bearer {TOKEN}"},
                                             content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400


@pytest.mark.parametrize("sub_id", [
    {"format": "email", "email": "nobody@example.org"},
    {"format": "opaque", "id": "no-linked-provider"},
])
def test_no_such_user_is_404(bearer_app: Flask, sub_id: t.Any) -> None:
    assert revoke(bearer_app, {"sub_id": sub_id}).status_code == 404


def test_an_iss_sub_of_an_issuer_the_caller_does_not_speak_for_is_403(bearer_app: Flask) -> None:
    sub_id = {"format": "iss_sub", "iss": "https://other-tenant.example.org", "sub": "alice"}
    assert revoke(bearer_app, {"sub_id": sub_id}).status_code == 403


def test_a_database_that_fails_is_422(bearer_app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlalchemy as sa

    from flask_session_epoch.inbound import gtr

    def fail(*args: t.Any, **kwargs: t.Any) -> None:
        raise sa.exc.OperationalError("UPDATE ...", {}, Exception("disk full"))

    monkeypatch.setattr(gtr, "invalidate_sessions", fail)
    assert revoke(bearer_app, {"sub_id": ALICE_EMAIL}).status_code == 422


def test_a_signed_jwt_from_the_issuer_authenticates_once(jwt_app: Flask, keys: KeyServer) -> None:
    browser = jwt_app.test_client()
    login(browser)
    credential = signed(keys)
    sub_id = {"format": "iss_sub", "iss": keys.issuer, "sub": "no-such-subject"}
    assert revoke(jwt_app, {"sub_id": sub_id}, credential).status_code == 404  # its own issuer's subjects: allowed
    assert revoke(jwt_app, {"sub_id": ALICE_EMAIL}, credential).status_code == 401  # replayed
    assert revoke(jwt_app, {"sub_id": ALICE_EMAIL}, signed(keys)).status_code == 204
    assert epoch_reason(jwt_app) == ("global-token-revocation", f"gtr:{keys.issuer}")
    assert not is_logged_in(browser)


@pytest.mark.parametrize("changes", [
    {"iss": "https://other.example.org"}, {"aud": "https://other.example.org/revoke"},
    {"exp": int(time.time()) - 3600}, {"exp": None}, {"iat": None},
])
def test_a_jwt_wrong_in_one_claim_is_401(jwt_app: Flask, keys: KeyServer, changes: dict[str, t.Any]) -> None:
    assert revoke(jwt_app, {"sub_id": ALICE_EMAIL}, signed(keys, **changes)).status_code == 401


def test_a_jwt_with_a_key_the_issuer_does_not_publish_or_no_signature_is_401(jwt_app: Flask,
                                                                              keys: KeyServer) -> None:
    import jwt

    hidden = keys.add_key(publish=False)
    claims = jwt.decode(signed(keys), options={"verify_signature": False})
    assert revoke(jwt_app, {"sub_id": ALICE_EMAIL}, keys.sign(claims, kid=hidden, typ="JWT")).status_code == 401
    assert revoke(jwt_app, {"sub_id": ALICE_EMAIL}, jwt.encode(claims, None, algorithm="none")).status_code == 401
    hs = jwt.encode(claims, "a-shared-secret-that-is-long-enough-for-hs256", algorithm="HS256")
    assert revoke(jwt_app, {"sub_id": ALICE_EMAIL}, hs).status_code == 401
    assert revoke(jwt_app, {"sub_id": ALICE_EMAIL}, "not-a-jwt").status_code == 401


@pytest.mark.parametrize("setting", [
    {"bearer_token_env": "FSE_TEST_UNSET_VARIABLE"},
    {"bearer_token_env": "FSE_TEST_SHORT_TOKEN"},
    {},  # off: no route
    {"jwt": {"issuer": "https://i.example"}},
    {"bearer_token_env": "FSE_TEST_GTR_TOKEN", "jwt": {}},
    {"bearer_token_env": "FSE_TEST_GTR_TOKEN", "provider": "nowhere"},
    {"token": "x"},
])
def test_unusable_settings_stop_the_app_and_empty_turns_it_off(make_app: t.Callable[..., Flask],
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               setting: dict[str, t.Any]) -> None:
    monkeypatch.setenv("FSE_TEST_GTR_TOKEN", TOKEN)
    monkeypatch.setenv("FSE_TEST_SHORT_TOKEN", "short")
    if not setting:
        app = make_app(SESSION_EPOCH_GLOBAL_TOKEN_REVOCATION=setting)
        assert app.test_client().post(URL, json={"sub_id": ALICE_EMAIL}).status_code == 404
        return
    with pytest.raises(ConfigurationError, match="SESSION_EPOCH_GLOBAL_TOKEN_REVOCATION"):
        make_app(SESSION_EPOCH_GLOBAL_TOKEN_REVOCATION=setting)


def test_the_route_needs_no_csrf_token_and_no_session(bearer_app: Flask) -> None:
    bearer_app.config["WTF_CSRF_ENABLED"] = True
    assert bearer_app.test_client().post("/login/", data={"username": ALICE[0], "password": ALICE[1]}).status_code \
        == 200  # refused: CSRF is on
    assert revoke(bearer_app, {"sub_id": ALICE_EMAIL}).status_code == 204
