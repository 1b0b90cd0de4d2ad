"""Signing out of the identity provider (RP-initiated logout) and its front-channel logout.

Users log in through a real OpenID provider (idpyoidc, ``oidc/provider.py``) with FAB's
own OAuth views; what the app sends the provider, and what it does with what comes
back, is checked here. The provider's own side (accepting the hint, ending its session,
loading the front-channel iframes) is in ``test_idp_logout_provider.py``.
"""

from __future__ import annotations

import logging
import typing as t
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from helpers import CLIENT_ID, is_logged_in, oauth_config
from keyserver import KeyServer
from oidc.provider import OpenIDProvider
from test_backchannel_provider import CALLBACK, sso_login

from flask_session_epoch import oidc, sessions, signals
from flask_session_epoch.config import ConfigurationError
from flask_session_epoch.idp_logout import rp_initiated
from flask_session_epoch.models import SessionRecord
from flask_session_epoch.revoke import db_session
from flask_session_epoch.state import ProviderLogin

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

RP_LOGOUT = {"SESSION_EPOCH_RP_LOGOUT": {"idp": {}}, "SESSION_EPOCH_FRONTCHANNEL_PROVIDERS": ["idp"]}


@pytest.fixture
def op() -> t.Iterator[OpenIDProvider]:
    with OpenIDProvider(CLIENT_ID, "client-secret-long-enough-for-hs256-0123456789", [CALLBACK]) as provider:
        provider.add_user("alice", email="alice@example.org", given_name="Alice", family_name="Reader")
        provider.login_as("alice")
        yield provider


@pytest.fixture
def rp_app(make_app: t.Callable[..., Flask], op: OpenIDProvider) -> Flask:
    return make_app(**oauth_config(op.metadata_url, FAB_SECURITY_MANAGER_CLASS="fabapp.OAuthSecurityManager",
                                   **RP_LOGOUT))


def records(app: Flask) -> list[SessionRecord]:
    with app.app_context():
        db = db_session(app.appbuilder.sm)
        found = list(db.execute(sa.select(SessionRecord).order_by(SessionRecord.started_at)).scalars())
        db.expunge_all()
        return found


def cookie_copy(client: FlaskClient, app: Flask) -> FlaskClient:
    """Another browser holding a copy of this one's session cookie."""
    copy = app.test_client()
    copy.set_cookie("session", client.get_cookie("session").value)
    return copy


def test_the_login_keeps_its_id_token_in_its_record_not_in_the_cookie(rp_app: Flask, op: OpenIDProvider) -> None:
    client = rp_app.test_client()
    sso_login(client, op)
    [record] = records(rp_app)
    claims = jwt.decode(record.id_token, options={"verify_signature": False})
    assert claims["iss"] == op.issuer and CLIENT_ID in (claims["aud"] if isinstance(claims["aud"], list)
                                                        else [claims["aud"]])
    assert record.id_token not in client.get_cookie("session").value


def test_without_rp_logout_no_id_token_is_kept(make_app: t.Callable[..., Flask], op: OpenIDProvider) -> None:
    app = make_app(**oauth_config(op.metadata_url, FAB_SECURITY_MANAGER_CLASS="fabapp.OAuthSecurityManager"))
    sso_login(app.test_client(), op)
    [record] = records(app)
    assert record.id_token is None and record.sid_key is not None


def test_logout_ends_the_record_then_sends_the_browser_to_the_provider(rp_app: Flask, op: OpenIDProvider) -> None:
    client = rp_app.test_client()
    sso_login(client, op)
    copy = cookie_copy(client, rp_app)
    [record] = records(rp_app)
    ended: list[dict[str, t.Any]] = []
    signals.session_ended.connect(lambda sender, **kw: ended.append(kw), rp_app, weak=False)

    response = client.get("/logout/?next=https://evil.example/")

    assert response.status_code == 302
    where = urlsplit(response.headers["Location"])
    metadata = requests.get(op.metadata_url, timeout=10).json()
    assert f"{where.scheme}://{where.netloc}{where.path}" == metadata["end_session_endpoint"]
    query = parse_qs(where.query)
    assert query["id_token_hint"] == [record.id_token]
    assert query["client_id"] == [CLIENT_ID]
    assert query["post_logout_redirect_uri"] == ["http://localhost/login/"]  # never the request's next
    assert len(query["state"][0]) >= 20
    assert client.get_cookie(rp_initiated.COOKIE) is not None
    [after] = records(rp_app)
    assert (after.end_reason, after.id_token) == ("rp-logout", None)
    assert [(e["record_id"], e["reason"], e["credentials"]) for e in ended] == [(record.id, "rp-logout", ("session",))]
    assert not is_logged_in(copy)


def _back(client: FlaskClient, state: str | None) -> str:
    page = client.get("/login/" + ("" if state is None else f"?state={state}"), follow_redirects=True)
    assert page.status_code == 200
    return page.get_data(as_text=True)


def _logout(client: FlaskClient) -> str:
    response = client.get("/logout/")
    return parse_qs(urlsplit(response.headers["Location"]).query)["state"][0]


def test_the_way_back_with_its_state_says_so(rp_app: Flask, op: OpenIDProvider) -> None:
    client = rp_app.test_client()
    sso_login(client, op)
    state = _logout(client)

    assert "You are signed out of this app and of idp." in _back(client, state)
    assert client.get_cookie(rp_initiated.COOKIE) is None
    # Replayed: the cookie is gone, so the same state vouches for nothing.
    assert "could not be confirmed" in _back(client, state)


@pytest.mark.parametrize("given", [None, "", "tampered", "x" * 5000, "%00%ff"])
def test_a_wrong_or_missing_state_shows_the_login_page_with_a_message(rp_app: Flask, op: OpenIDProvider,
                                                                      given: str | None) -> None:
    client = rp_app.test_client()
    sso_login(client, op)
    _logout(client)
    text = _back(client, given)
    assert "could not be confirmed" in text and "and of idp" not in text


def test_a_forged_cookie_vouches_for_nothing(rp_app: Flask, op: OpenIDProvider) -> None:
    client = rp_app.test_client()
    client.set_cookie(rp_initiated.COOKIE, "eyJwIjoiaWRwIiwibyI6InNlbnQiLCJzIjoiYWJjIn0.forged.sig")
    assert "could not be confirmed" in _back(client, "abc")


def test_a_provider_down_at_logout_ends_the_local_session_with_a_message(rp_app: Flask, op: OpenIDProvider) -> None:
    client = rp_app.test_client()
    sso_login(client, op)
    copy = cookie_copy(client, rp_app)
    op.stop()

    response = client.get("/logout/")

    assert response.status_code == 302 and urlsplit(response.headers["Location"]).path == "/login/"
    [record] = records(rp_app)
    assert (record.end_reason, record.id_token) == ("logout", None)
    assert "could not be reached" in _back(client, None)
    assert not is_logged_in(copy)


def test_a_provider_without_end_session_endpoint_keeps_the_local_logout(
        make_app: t.Callable[..., Flask], caplog: pytest.LogCaptureFixture) -> None:
    with KeyServer() as keys:
        app = make_app(**oauth_config(keys.metadata_url, **RP_LOGOUT))
        with app.test_request_context("/logout/"), caplog.at_level(logging.WARNING, "flask_session_epoch"):
            made = rp_initiated.plan(app, rp_initiated.Departure("idp", None), "http://localhost/login/")
    assert made is None
    assert [r.getMessage() for r in caplog.records if "end_session_endpoint" in r.getMessage()] == [
        ("RP-initiated logout: idp advertises no end_session_endpoint in its discovery document;"
        " signed out of this app only")]


@pytest.mark.parametrize("setting", [
    {"other": {}},
    {"idp": {"post_logout_redirect_uri": "//evil.example/"}},
    {"idp": {"post_logout_redirect_uri": "javascript:alert(1)"}},
    {"idp": {"redirect": "/"}},
    {"idp": {"timeout": 0}},
    ["idp"],
])
def test_unusable_rp_logout_settings_stop_the_app(make_app: t.Callable[..., Flask], op: OpenIDProvider,
                                                  setting: t.Any) -> None:
    with pytest.raises(ConfigurationError, match="SESSION_EPOCH_RP_LOGOUT"):
        make_app(**oauth_config(op.metadata_url, SESSION_EPOCH_RP_LOGOUT=setting))


def test_a_configured_way_back_is_sent_and_checked(make_app: t.Callable[..., Flask], op: OpenIDProvider) -> None:
    app = make_app(**oauth_config(op.metadata_url, FAB_SECURITY_MANAGER_CLASS="fabapp.OAuthSecurityManager",
                                  SESSION_EPOCH_RP_LOGOUT={"idp": {"post_logout_redirect_uri": "/signed-out"}}))
    client = app.test_client()
    sso_login(client, op)
    response = client.get("/logout/")
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["post_logout_redirect_uri"] == ["http://localhost/signed-out"]


# -- front-channel logout ----------------------------------------------------------------


def _frontchannel(app: Flask, **query: str) -> t.Any:
    return app.test_client().get("/session_epoch/frontchannel-logout/idp", query_string=query)


def test_frontchannel_logout_ends_exactly_that_provider_session(rp_app: Flask, op: OpenIDProvider) -> None:
    laptop, phone = rp_app.test_client(), rp_app.test_client()
    sid = sso_login(laptop, op)
    sso_login(phone, op)
    ended: list[dict[str, t.Any]] = []
    signals.session_ended.connect(lambda sender, **kw: ended.append(kw), rp_app, weak=False)

    response = _frontchannel(rp_app, iss=op.issuer, sid=sid)  # no cookie: a third-party iframe

    assert response.status_code == 200 and response.data == b""
    assert response.headers["Cache-Control"] == "no-cache, no-store" and response.headers["Pragma"] == "no-cache"
    assert not is_logged_in(laptop) and is_logged_in(phone)
    first = records(rp_app)[0]
    assert (first.end_reason, first.ended_by, first.id_token) == ("frontchannel-logout", "idp:idp", None)
    assert [e["reason"] for e in ended] == ["frontchannel-logout"]


def test_frontchannel_replays_and_unknown_pairs_end_nothing_and_look_the_same(rp_app: Flask,
                                                                               op: OpenIDProvider) -> None:
    laptop = rp_app.test_client()
    sid = sso_login(laptop, op)
    phone = rp_app.test_client()
    other_sid = sso_login(phone, op)
    success = _frontchannel(rp_app, iss=op.issuer, sid=sid)

    answers = [
        _frontchannel(rp_app, iss=op.issuer, sid=sid),  # a replay
        _frontchannel(rp_app, iss=op.issuer, sid="unknown"),
        _frontchannel(rp_app, iss="https://evil.example", sid=other_sid),  # another issuer
        _frontchannel(rp_app, iss=op.issuer),
        _frontchannel(rp_app, sid=other_sid),
        _frontchannel(rp_app, iss=op.issuer, sid="\x00" * 3),
        _frontchannel(rp_app, iss=op.issuer, sid="s" * 10_000),
        rp_app.test_client().get(f"/session_epoch/frontchannel-logout/idp?iss={op.issuer}&sid=a&sid={other_sid}"),
    ]

    for answer in answers:
        assert (answer.status_code, answer.data, answer.headers.get("Cache-Control")) == (
            success.status_code, success.data, success.headers.get("Cache-Control"))
    assert is_logged_in(phone)


def test_frontchannel_on_a_provider_not_named_is_not_served(make_app: t.Callable[..., Flask],
                                                           op: OpenIDProvider) -> None:
    app = make_app(**oauth_config(op.metadata_url, FAB_SECURITY_MANAGER_CLASS="fabapp.OAuthSecurityManager"))
    assert _frontchannel(app, iss=op.issuer, sid="x").status_code == 404


def test_frontchannel_names_a_provider_fab_logs_in_with(make_app: t.Callable[..., Flask], op: OpenIDProvider) -> None:
    with pytest.raises(ConfigurationError, match="SESSION_EPOCH_FRONTCHANNEL_PROVIDERS"):
        make_app(**oauth_config(op.metadata_url, SESSION_EPOCH_FRONTCHANNEL_PROVIDERS=["other"]))


def test_the_provider_login_keeps_the_id_token_only_for_rp_logout(rp_app: Flask) -> None:
    response = {"userinfo": {"iss": "https://op", "sub": "s", "sid": "x"}, "id_token": "a.b.c"}
    with rp_app.test_request_context("/"):
        oidc.note_oauth_login("idp", response)
        assert oidc.take_provider_login() == ProviderLogin("https://op", "s", "x", "a.b.c")


@pytest.mark.parametrize("how", ["revoke", "end-session"])
def test_every_ending_drops_the_id_token(rp_app: Flask, op: OpenIDProvider, how: str) -> None:
    import flask_session_epoch as fse

    sso_login(rp_app.test_client(), op)
    [record] = records(rp_app)
    assert record.id_token is not None
    with rp_app.app_context():
        if how == "revoke":
            fse.invalidate_sessions(record.user_id, reason="test")
        else:
            sessions.end_session(record.id, reason="test", actor="test")
    [after] = records(rp_app)
    assert after.ended_at is not None and after.id_token is None


@pytest.mark.filterwarnings("ignore::UserWarning")  # apispec warns about FAB's own security schemas
def test_both_provider_logout_routes_are_in_fabs_openapi_spec(rp_app: Flask) -> None:
    from flask_appbuilder.api.manager import OpenApi

    from flask_session_epoch.api import SessionEpochApi

    with rp_app.test_request_context("/api/v1/_openapi"):
        spec = OpenApi._create_api_spec("v1")
        [api] = [view for view in rp_app.appbuilder.baseviews if isinstance(view, SessionEpochApi)]
        api.add_api_spec(spec)
        paths = spec.to_dict()["paths"]
    assert set(paths["/session_epoch/backchannel-logout/{provider}"]) == {"post"}
    front = paths["/session_epoch/frontchannel-logout/{provider}"]["get"]
    assert {p["name"] for p in front["parameters"]} == {"provider", "iss", "sid"}
    assert "/api/v1/session_epoch/revoke_all" in paths
