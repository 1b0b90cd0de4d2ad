"""Back-channel logout against a real OpenID provider (idpyoidc, in ``oidc/provider.py``).

Users log in through the provider with FAB's own OAuth views; the provider then logs
them out by POSTing its logout token to the app over real HTTP.
"""

from __future__ import annotations

import threading
import typing as t
from urllib.parse import urlsplit

import pytest
import requests
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from helpers import CLIENT_ID, CLIENT_SECRET, is_logged_in, oauth_config, user_id
from oidc.provider import OpenIDProvider
from werkzeug.serving import make_server

from flask_session_epoch import SESSION_KEY_EPOCH, oidc
from flask_session_epoch.models import OidcSubject, SessionRecord
from flask_session_epoch.revoke import db_session

# FAB signs its own OAuth state with a short key; PyJWT warns about it.
pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

CALLBACK = "http://localhost/oauth-authorized/idp"


@pytest.fixture
def op() -> t.Iterator[OpenIDProvider]:
    with OpenIDProvider(CLIENT_ID, CLIENT_SECRET, [CALLBACK]) as provider:
        provider.add_user("alice", email="alice@example.org", given_name="Alice", family_name="Reader")
        provider.login_as("alice")
        yield provider


@pytest.fixture
def sso_app(make_app: t.Callable[..., Flask], op: OpenIDProvider) -> t.Iterator[Flask]:
    """The app, also listening on loopback so the provider can reach it."""
    app = make_app(**oauth_config(op.metadata_url, FAB_SECURITY_MANAGER_CLASS="fabapp.OAuthSecurityManager"))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    op.backchannel_logout_uri = f"http://127.0.0.1:{server.server_port}/session_epoch/backchannel-logout/idp"
    yield app
    server.shutdown()
    thread.join()
    server.server_close()


def sso_login(client: FlaskClient, op: OpenIDProvider) -> str:
    """Log in through the provider, as a browser would; returns the provider session's sid."""
    to_provider = client.get("/login/idp")
    back = requests.get(to_provider.headers["Location"], allow_redirects=False, timeout=10)
    callback = urlsplit(back.headers["Location"])
    done = client.get(f"{callback.path}?{callback.query}")
    assert done.status_code == 302 and "/login" not in done.headers["Location"], done.data
    return op.sessions("alice")[-1].sid


def test_login_records_the_subject_and_the_provider_session(sso_app: Flask, op: OpenIDProvider) -> None:
    client = sso_app.test_client()
    sid = sso_login(client, op)

    with sso_app.app_context():
        [record] = db_session(sso_app.appbuilder.sm).execute(sa.select(SessionRecord)).scalars()
        assert (record.auth_method, record.provider) == ("oauth", "idp")
        assert record.sid_key == oidc.key_of(op.issuer, sid)
        [row] = db_session(sso_app.appbuilder.sm).execute(sa.select(OidcSubject)).scalars()
        assert (row.issuer, row.subject, row.user_id) == (op.issuer, op.subject_of("alice"), user_id(sso_app))


def test_provider_logout_ends_that_session_and_no_other(sso_app: Flask, op: OpenIDProvider) -> None:
    laptop, phone = sso_app.test_client(), sso_app.test_client()
    sid = sso_login(laptop, op)
    sso_login(phone, op)
    assert is_logged_in(laptop) and is_logged_in(phone)

    assert op.end_session(sid) == [(op.backchannel_logout_uri, 200)]

    page = laptop.get("/protected/", follow_redirects=True)
    assert b"Your session has ended" in page.data
    assert not is_logged_in(laptop)
    assert is_logged_in(phone)


def test_provider_subject_logout_ends_every_session(sso_app: Flask, op: OpenIDProvider) -> None:
    laptop, phone = sso_app.test_client(), sso_app.test_client()
    sso_login(laptop, op)
    sso_login(phone, op)

    response = requests.post(op.backchannel_logout_uri, data={"logout_token": op.subject_logout_token("alice")},
                             timeout=10)

    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    assert not is_logged_in(laptop) and not is_logged_in(phone)


def test_a_new_login_after_provider_logout_works(sso_app: Flask, op: OpenIDProvider) -> None:
    client = sso_app.test_client()
    op.end_session(sso_login(client, op))
    assert not is_logged_in(client)

    sso_login(client, op)

    assert is_logged_in(client)


def test_provider_logout_token_is_accepted_once(sso_app: Flask, op: OpenIDProvider) -> None:
    client = sso_app.test_client()
    token = op.logout_token(sso_login(client, op))
    url = op.backchannel_logout_uri

    assert requests.post(url, data={"logout_token": token}, timeout=10).status_code == 200
    replay = requests.post(url, data={"logout_token": token}, timeout=10)

    assert replay.status_code == 400 and replay.json()["error"] == "invalid_request"


def test_provider_key_rotation_is_followed(sso_app: Flask, op: OpenIDProvider) -> None:
    client = sso_app.test_client()
    first = op.logout_token(sso_login(client, op))
    assert requests.post(op.backchannel_logout_uri, data={"logout_token": first}, timeout=10).status_code == 200

    op.rotate_keys(retire_old=True)
    sid = sso_login(client, op)

    assert op.end_session(sid) == [(op.backchannel_logout_uri, 200)]
    assert not is_logged_in(client)


def test_token_for_another_client_of_the_provider_is_refused(make_app: t.Callable[..., Flask],
                                                              op: OpenIDProvider) -> None:
    # The same provider, but this app is registered as a different client.
    config = oauth_config(op.metadata_url, FAB_SECURITY_MANAGER_CLASS="fabapp.OAuthSecurityManager")
    config["OAUTH_PROVIDERS"][0]["remote_app"]["client_id"] = "another-app"
    other = make_app(**config).test_client()
    op.backchannel_logout_uri = "http://127.0.0.1:9/unused"
    token = op.subject_logout_token("alice")

    response = other.post("/session_epoch/backchannel-logout/idp", data={"logout_token": token})

    assert response.status_code == 400
    assert "another client" in response.get_json()["error_description"]


def test_sso_session_check_costs_no_extra_statement(sso_app: Flask, op: OpenIDProvider) -> None:
    client = sso_app.test_client()
    sso_login(client, op)

    def statements() -> int:
        with sso_app.app_context():
            engine = sso_app.extensions["test_db"].engine
        count = 0

        def counted(*args: t.Any) -> None:
            nonlocal count
            count += 1

        sa.event.listen(engine, "before_cursor_execute", counted)
        try:
            assert client.get("/protected/").status_code == 200
        finally:
            sa.event.remove(engine, "before_cursor_execute", counted)
        return count

    with_record = statements()
    with client.session_transaction() as session:  # as a session from before the registry
        session[SESSION_KEY_EPOCH] = session[SESSION_KEY_EPOCH][:4]
    assert statements() == with_record
