"""Shared Signals SETs pushed to the app (RFC 8935): validation, replay, and what each event does.

The transmitter's keys are a :class:`keyserver.KeyServer` on loopback; SETs are signed
with them exactly as a transmitter would, wrong in exactly one way where a test says so.
End-to-end cases log in for real (a password login, or an OAuth login through the test
OpenID provider), send the SET, and look at the next request.
"""

from __future__ import annotations

import time
import typing as t
import uuid

import jwt
import pytest
import sqlalchemy as sa
from fabapp import ALICE
from flask import Flask
from helpers import (
    CLIENT_ID,
    CLIENT_SECRET,
    api_login,
    bearer,
    is_logged_in,
    login,
    oauth_config,
    remember_app,
    user_id,
)
from keyserver import KeyServer
from oidc.provider import OpenIDProvider
from test_backchannel_provider import CALLBACK, sso_login

from flask_session_epoch import oidc, signals
from flask_session_epoch.config import ConfigurationError
from flask_session_epoch.inbound import ssf_events as ev
from flask_session_epoch.models import SessionRecord, UserSessionEpoch
from flask_session_epoch.revoke import db_session

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

AUDIENCE = "https://app.example.org/"
PUSH_AUTH = "Bearer push-secret-0123456789abcdef0123456789"
PUSH_URL = "/session_epoch/ssf/events/tx"


@pytest.fixture
def keys() -> t.Iterator[KeyServer]:
    with KeyServer() as server:
        yield server


def transmitter(keys: KeyServer, **options: t.Any) -> dict[str, t.Any]:
    return {"SESSION_EPOCH_SSF_TRANSMITTERS": {"tx": {
        "issuer": keys.issuer, "jwks_uri": f"{keys.issuer}/jwks", "audience": AUDIENCE,
        "push_authorization_env": "FSE_TEST_SSF_PUSH", **options}}}


@pytest.fixture
def ssf_app(make_app: t.Callable[..., Flask], keys: KeyServer, monkeypatch: pytest.MonkeyPatch) -> Flask:
    monkeypatch.setenv("FSE_TEST_SSF_PUSH", PUSH_AUTH)
    return make_app(**transmitter(keys))


def make_set(keys: KeyServer, events: dict[str, t.Any], sub_id: t.Any = None, *, typ: str | None = "secevent+jwt",
             changes: dict[str, t.Any] | None = None) -> str:
    """A SET from the transmitter; ``changes`` replaces claims (``None`` removes one)."""
    claims: dict[str, t.Any] = {"iss": keys.issuer, "aud": AUDIENCE, "iat": int(time.time()),
                                "jti": uuid.uuid4().hex, "events": events}
    if sub_id is not None:
        claims["sub_id"] = sub_id
    claims.update(changes or {})
    return keys.sign({name: value for name, value in claims.items() if value is not None}, typ=typ)


def push(app: Flask, token: str | bytes, *, authorization: str | None = PUSH_AUTH,
         content_type: str = "application/secevent+jwt") -> t.Any:
    headers = {"Accept": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    return app.test_client().post(PUSH_URL, data=token, headers=headers, content_type=content_type)


ALICE_EMAIL = {"format": "email", "email": "Alice@Example.org"}


def epoch_reason(app: Flask) -> tuple[str | None, str | None] | None:
    with app.app_context():
        row = db_session(app.appbuilder.sm).execute(
            sa.select(UserSessionEpoch.reason, UserSessionEpoch.actor).filter_by(user_id=user_id(app))).first()
        return None if row is None else (row[0], row[1])


def is_active(app: Flask) -> bool:
    with app.app_context():
        return bool(app.appbuilder.sm.find_user(ALICE[0]).active)


# -- validation: every refusal is a 400 with RFC 8935's code, and ends nothing ---------


def assert_refused(response: t.Any, app: Flask, code: str) -> None:
    assert response.status_code == 400, response.data
    assert response.get_json()["err"] == code
    assert response.headers["Cache-Control"] == "no-store"
    assert epoch_reason(app) is None or epoch_reason(app)[0] == "created"  # nothing stamped


@pytest.mark.parametrize(("change", "code"), [
    ({"iss": "https://other.example.org"}, "invalid_issuer"),
    ({"aud": "https://other-app.example.org/"}, "invalid_audience"),
    ({"exp": int(time.time()) + 600}, "invalid_request"),
    ({"iat": int(time.time()) - 2 * 86400}, "invalid_request"),
    ({"iat": int(time.time()) + 3600}, "invalid_request"),
    ({"iat": "yesterday"}, "invalid_request"),
    ({"jti": None}, "invalid_request"),
    ({"jti": "x" * 300}, "invalid_request"),
    ({"events": None}, "invalid_request"),
    ({"events": {}}, "invalid_request"),
    ({"events": {ev.CREDENTIAL_CHANGE: "yes"}}, "invalid_request"),
])
def test_a_set_wrong_in_one_claim_is_refused(ssf_app: Flask, keys: KeyServer, change: dict[str, t.Any],
                                             code: str) -> None:
    token = make_set(keys, {ev.CREDENTIAL_CHANGE: {}}, ALICE_EMAIL, changes=change)
    assert_refused(push(ssf_app, token), ssf_app, code)


def test_a_set_without_its_type_is_refused(ssf_app: Flask, keys: KeyServer) -> None:
    for typ in (None, "JWT", "logout+jwt"):
        assert_refused(push(ssf_app, make_set(keys, {ev.CREDENTIAL_CHANGE: {}}, ALICE_EMAIL, typ=typ)), ssf_app,
                       "invalid_request")


def test_signatures_that_do_not_verify_are_refused(ssf_app: Flask, keys: KeyServer) -> None:
    token = make_set(keys, {ev.CREDENTIAL_CHANGE: {}}, ALICE_EMAIL)
    header, payload, signature = token.split(".")
    forged = f"{header}.{payload}.{signature[:-6]}AAAAAA"
    assert_refused(push(ssf_app, forged), ssf_app, "invalid_key")
    unpublished = keys.add_key(publish=False)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert_refused(push(ssf_app, keys.sign(claims, kid=unpublished, typ="secevent+jwt")), ssf_app, "invalid_key")
    unsigned = jwt.encode(claims, None, algorithm="none", headers={"typ": "secevent+jwt"})
    assert_refused(push(ssf_app, unsigned), ssf_app, "invalid_request")


@pytest.mark.parametrize("body", [b"", b"not-a-jwt", b"a.b.c", b"\xff\xfe", b"x" * 70000])
def test_garbage_is_refused(ssf_app: Flask, body: bytes) -> None:
    assert_refused(push(ssf_app, body), ssf_app, "invalid_request")


def test_unknown_key_ids_refetch_the_keys_at_most_once_per_interval(ssf_app: Flask, keys: KeyServer,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from flask_session_epoch.inbound import keys as key_sets

    claims = jwt.decode(make_set(keys, {ev.CREDENTIAL_CHANGE: {}}, ALICE_EMAIL), options={"verify_signature": False})
    assert push(ssf_app, keys.sign(claims, typ="secevent+jwt")).status_code == 202  # the keys are fetched once
    fetched = keys.jwks_fetches
    for _ in range(5):
        made_up = keys.add_key(publish=False)
        response = push(ssf_app, keys.sign(dict(claims, jti=uuid.uuid4().hex), kid=made_up, typ="secevent+jwt"))
        assert response.status_code == 400 and response.get_json()["err"] == "invalid_key"
    assert keys.jwks_fetches - fetched <= 1
    monkeypatch.setattr(key_sets, "REFETCH_INTERVAL_SECONDS", 0)  # the interval has passed
    rotated = keys.add_key()  # the transmitter rotated its key: the refetch finds it
    assert push(ssf_app, keys.sign(dict(claims, jti=uuid.uuid4().hex), kid=rotated, typ="secevent+jwt")) \
        .status_code == 202


def test_the_push_must_carry_the_configured_authorization(ssf_app: Flask, keys: KeyServer) -> None:
    token = make_set(keys, {ev.CREDENTIAL_CHANGE: {}}, ALICE_EMAIL)
    for authorization in (None, "Bearer wrong", PUSH_AUTH + "x", "Basic " + PUSH_AUTH):
        assert_refused(push(ssf_app, token, authorization=authorization), ssf_app, "authentication_failed")
    assert_refused(push(ssf_app, token, content_type="application/jwt"), ssf_app, "invalid_request")
    assert push(ssf_app, token).status_code == 202


def test_a_transmitter_without_push_authorization_may_not_push(make_app: t.Callable[..., Flask],
                                                               keys: KeyServer) -> None:
    app = make_app(SESSION_EPOCH_SSF_TRANSMITTERS={"tx": {
        "issuer": keys.issuer, "jwks_uri": f"{keys.issuer}/jwks", "audience": AUDIENCE}})
    assert_refused(push(app, make_set(keys, {ev.CREDENTIAL_CHANGE: {}}, ALICE_EMAIL), authorization=None), app,
                   "access_denied")


def test_an_unknown_transmitter_is_refused(ssf_app: Flask, keys: KeyServer) -> None:
    response = ssf_app.test_client().post("/session_epoch/ssf/events/other", data="x",
                                          content_type="application/secevent+jwt")
    assert response.status_code == 400 and response.get_json()["err"] == "invalid_request"


def test_an_unexpected_failure_is_a_400_not_a_500(ssf_app: Flask, keys: KeyServer,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: t.Any, **kwargs: t.Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(ev, "apply", broken)
    assert_refused(push(ssf_app, make_set(keys, {ev.SESSIONS_REVOKED: {}}, ALICE_EMAIL)), ssf_app, "invalid_request")


@pytest.mark.all_databases
def test_a_replayed_set_is_refused_on_another_worker(make_app: t.Callable[..., Flask], ssf_app: Flask,
                                                     keys: KeyServer) -> None:
    other = make_app(**transmitter(keys))  # another app on the same database: another worker or host
    token = make_set(keys, {ev.SESSIONS_REVOKED: {}}, ALICE_EMAIL)
    assert push(ssf_app, token).status_code == 202
    response = push(other, token)
    assert response.status_code == 400 and "already used" in response.get_json()["description"]


@pytest.mark.parametrize("setting", [
    {"tx": {"issuer": "https://t.example", "audience": "a"}},
    {"tx": {"issuer": "https://t.example", "jwks_uri": "ftp://t.example/jwks", "audience": "a"}},
    {"tx": {"issuer": "https://t.example", "jwks_uri": "https://t.example/jwks", "audience": "a", "x": 1}},
    {"tx": {"issuer": "https://t.example", "jwks_uri": "https://t.example/jwks", "audience": "a",
            "claims_change": "revoke"}},
    {"tx": {"issuer": "https://t.example", "jwks_uri": "https://t.example/jwks", "audience": "a",
            "push_authorization_env": "FSE_TEST_UNSET_VARIABLE"}},
    {"tx": {"issuer": "https://t.example", "jwks_uri": "https://t.example/jwks", "audience": "a",
            "provider": "nowhere"}},
    ["tx"],
])
def test_unusable_transmitter_settings_stop_the_app(make_app: t.Callable[..., Flask], setting: t.Any) -> None:
    with pytest.raises(ConfigurationError, match="SESSION_EPOCH_SSF_TRANSMITTERS"):
        make_app(SESSION_EPOCH_SSF_TRANSMITTERS=setting)


# -- what each event does, end to end ----------------------------------------------------


@pytest.mark.parametrize(("event", "reason"), [
    (ev.CREDENTIAL_CHANGE, "credential-change"),
    (ev.SESSIONS_REVOKED, "sessions-revoked"),
    (ev.SESSION_REVOKED, "session-revoked"),  # a user only: every session
    (ev.ACCOUNT_CREDENTIAL_CHANGE_REQUIRED, "credential-change-required"),
])
def test_a_stamping_event_ends_every_credential_of_the_user(ssf_app: Flask, keys: KeyServer, event: str,
                                                            reason: str) -> None:
    browser, api = ssf_app.test_client(), ssf_app.test_client()
    login(browser)
    tokens = api_login(api)
    token = make_set(keys, {event: {"event_timestamp": int(time.time())}}, ALICE_EMAIL)
    assert is_logged_in(browser) and api.get("/api/v1/ping/", headers=bearer(tokens["access_token"])).status_code == 200

    assert push(ssf_app, token).status_code == 202

    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    assert epoch_reason(ssf_app) == (reason, f"ssf:tx:{jti}")
    assert not is_logged_in(browser)
    assert api.get("/api/v1/ping/", headers=bearer(tokens["access_token"])).status_code == 401
    assert api.post("/api/v1/security/refresh", headers=bearer(tokens["refresh_token"])).status_code == 401


def test_account_disabled_disables_and_ends_and_enabled_revives_nothing(make_app: t.Callable[..., Flask],
                                                                       ssf_app: Flask, keys: KeyServer) -> None:
    remember_app(ssf_app)
    browser, remembered = ssf_app.test_client(), ssf_app.test_client()
    login(browser)
    remembered.get("/remember-login")
    heard: list[dict[str, t.Any]] = []
    signals.sessions_invalidated.connect(lambda sender, **kw: heard.append(kw), ssf_app, weak=False)

    assert push(ssf_app, make_set(keys, {ev.ACCOUNT_DISABLED: {"reason": "hijacking"}}, ALICE_EMAIL)).status_code \
        == 202
    assert not is_active(ssf_app)
    assert [kw["reason"] for kw in heard] == ["disable"] and heard[0]["actor"].startswith("ssf:tx:")

    assert push(ssf_app, make_set(keys, {ev.ACCOUNT_ENABLED: {}}, ALICE_EMAIL)).status_code == 202
    assert is_active(ssf_app)
    assert not is_logged_in(browser) and not is_logged_in(remembered)  # nothing comes back
    login(ssf_app.test_client())  # a fresh login works again


def test_account_purged_disables_and_stamps_and_deletes_nothing(ssf_app: Flask, keys: KeyServer) -> None:
    browser = ssf_app.test_client()
    login(browser)
    assert push(ssf_app, make_set(keys, {ev.ACCOUNT_PURGED: {}}, ALICE_EMAIL)).status_code == 202
    assert not is_active(ssf_app) and epoch_reason(ssf_app)[0] == "account-purged"
    assert user_id(ssf_app) is not None and not is_logged_in(browser)


@pytest.mark.parametrize("event", [ev.TOKEN_CLAIMS_CHANGE, ev.ASSURANCE_LEVEL_CHANGE])
def test_claims_changes_are_ignored_unless_the_setting_says_stamp(make_app: t.Callable[..., Flask],
                                                                  keys: KeyServer, monkeypatch: pytest.MonkeyPatch,
                                                                  event: str) -> None:
    monkeypatch.setenv("FSE_TEST_SSF_PUSH", PUSH_AUTH)
    ignoring, stamping = make_app(**transmitter(keys)), make_app(**transmitter(keys, claims_change="stamp"))
    browser = ignoring.test_client()
    login(browser)
    assert push(ignoring, make_set(keys, {event: {}}, ALICE_EMAIL)).status_code == 202
    assert is_logged_in(browser)
    assert push(stamping, make_set(keys, {event: {}}, ALICE_EMAIL)).status_code == 202
    assert not is_logged_in(browser)


@pytest.mark.parametrize("sub_id", [
    {"format": "email", "email": "nobody@example.org"},
    {"format": "iss_sub", "iss": "https://unknown.example", "sub": "x"},
    {"format": "opaque", "id": "no-linked-provider"},
    {"format": "aliases", "identifiers": [ALICE_EMAIL, {"format": "email", "email": "admin@example.org"}]},
    {"format": "phone_number", "phone_number": "+12065550100"},  # well-formed, but names nobody here
    {"format": "complex", "user": {"format": "account", "uri": "acct:alice@example.org"}},
])
def test_a_subject_that_names_no_single_user_ends_nothing(ssf_app: Flask, keys: KeyServer, sub_id: t.Any) -> None:
    browser = ssf_app.test_client()
    login(browser)
    assert push(ssf_app, make_set(keys, {ev.SESSIONS_REVOKED: {}}, sub_id)).status_code == 202
    assert is_logged_in(browser)


@pytest.mark.parametrize("sub_id", [{"format": "email"}, "alice", {"format": ""}, {"format": ["email"]},
                                    {"format": "complex", "user": ALICE_EMAIL, "colour": {}}])
def test_a_malformed_or_unsupported_subject_is_refused(ssf_app: Flask, keys: KeyServer, sub_id: t.Any) -> None:
    assert_refused(push(ssf_app, make_set(keys, {ev.SESSIONS_REVOKED: {}}, sub_id)), ssf_app, "invalid_request")


def test_unknown_events_and_verification_are_acknowledged_and_end_nothing(ssf_app: Flask, keys: KeyServer) -> None:
    browser = ssf_app.test_client()
    login(browser)
    events = {"https://example.org/event/unknown": {}, ev.VERIFICATION: {"state": "abc"}}
    assert push(ssf_app, make_set(keys, events, ALICE_EMAIL)).status_code == 202
    assert is_logged_in(browser)


def test_an_older_drafts_subject_inside_the_event_is_read(ssf_app: Flask, keys: KeyServer) -> None:
    browser = ssf_app.test_client()
    login(browser)
    assert push(ssf_app, make_set(keys, {ev.CREDENTIAL_CHANGE: {"subject": ALICE_EMAIL}})).status_code == 202
    assert not is_logged_in(browser)


# -- session subjects, through a real OAuth login ------------------------------------------


@pytest.fixture
def op() -> t.Iterator[OpenIDProvider]:
    """The provider alice signs in with (alice is the one it logs in)."""
    with OpenIDProvider(CLIENT_ID, CLIENT_SECRET, [CALLBACK]) as provider:
        provider.add_user("alice", email="alice@example.org")
        provider.login_as("alice")
        yield provider


def test_session_revoked_with_a_session_ends_exactly_that_session(make_app: t.Callable[..., Flask], op: OpenIDProvider,
                                                                  keys: KeyServer,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FSE_TEST_SSF_PUSH", PUSH_AUTH)
    app = make_app(**oauth_config(op.metadata_url, FAB_SECURITY_MANAGER_CLASS="fabapp.OAuthSecurityManager",
                                  **transmitter(keys, provider="idp")))
    laptop, phone = app.test_client(), app.test_client()
    sid = sso_login(laptop, op)
    sso_login(phone, op)
    user = {"format": "iss_sub", "iss": op.issuer, "sub": op.subject_of("alice")}
    someone_else = {"format": "email", "email": "admin@example.org"}

    # Another user's subject with alice's session id vouches for nothing.
    other = {"format": "complex", "user": someone_else, "session": {"format": "opaque", "id": sid}}
    assert push(app, make_set(keys, {ev.SESSION_REVOKED: {}}, other)).status_code == 202
    assert is_logged_in(laptop)

    complex_subject = {"format": "complex", "user": user, "session": {"format": "opaque", "id": sid}}
    assert push(app, make_set(keys, {ev.SESSION_REVOKED: {}}, complex_subject)).status_code == 202

    assert not is_logged_in(laptop) and is_logged_in(phone)
    with app.app_context():
        ended = db_session(app.appbuilder.sm).execute(
            sa.select(SessionRecord.sid_key, SessionRecord.end_reason).where(SessionRecord.ended_at.is_not(None))).all()
    assert [tuple(row) for row in ended] == [(oidc.key_of(op.issuer, sid), "session-revoked")]

    # An opaque user is a subject of the linked provider.
    opaque = {"format": "opaque", "id": op.subject_of("alice")}
    assert push(app, make_set(keys, {ev.SESSIONS_REVOKED: {}}, opaque)).status_code == 202
    assert not is_logged_in(phone)
