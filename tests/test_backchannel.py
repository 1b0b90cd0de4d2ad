"""OpenID Connect Back-Channel Logout: what a provider's logout token may and may not do.

Tokens here are signed with keys from ``keyserver.KeyServer``, so each can be wrong in
exactly one way; ``test_backchannel_provider.py`` runs the same endpoint against a
real OpenID provider.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import typing as t

import jwt
import pytest
import sqlalchemy as sa
from fabapp import ALICE
from flask import Flask
from flask.testing import FlaskClient
from flask_appbuilder.const import AUTH_DB
from helpers import CLIENT_ID, CLIENT_SECRET, oauth_config, user_id
from keyserver import BACKCHANNEL_EVENT, KeyServer

from flask_session_epoch import oidc, signals
from flask_session_epoch.config import ConfigurationError
from flask_session_epoch.inbound import replay
from flask_session_epoch.models import OidcLogoutTokenUse, SessionRecord, UserSessionEpoch
from flask_session_epoch.revoke import db_session

SUBJECT = "subject-alice"


@pytest.fixture
def keys() -> t.Iterator[KeyServer]:
    with KeyServer() as server:
        yield server


@pytest.fixture
def idp_app(make_app: t.Callable[..., Flask], keys: KeyServer) -> Flask:
    app = make_app(**oauth_config(keys.metadata_url))
    with app.app_context():
        # Alice logged in through the provider before: her subject is known.
        login = oidc.ProviderLogin(keys.issuer, SUBJECT, None)
        db = db_session(app.appbuilder.sm)
        oidc.record_subject(db.connection(), login, app.appbuilder.sm.find_user(ALICE[0]).id, oidc.store.utcnow())
        db.commit()
    return app


@pytest.fixture
def idp(idp_app: Flask) -> FlaskClient:
    return idp_app.test_client()


def post(client: FlaskClient, token: str | None, provider: str = "idp") -> t.Any:
    return client.post(f"/session_epoch/backchannel-logout/{provider}", data={"logout_token": token} if token else {})


def epoch_of(app: Flask, username: str = ALICE[0]) -> t.Any:
    with app.app_context():
        db = db_session(app.appbuilder.sm)
        return db.execute(sa.select(UserSessionEpoch).filter_by(user_id=user_id(app, username))).scalar()


def ended_sids(app: Flask) -> list[str]:
    """The provider sessions whose session records a back-channel logout ended."""
    with app.app_context():
        query = sa.select(SessionRecord.sid_key).where(SessionRecord.end_reason == "idp-logout").distinct()
        return sorted(db_session(app.appbuilder.sm).execute(query).scalars())


def open_sessions_under(app: Flask, issuer: str, *sids: str) -> None:
    """A session record of alice's under each provider session, as her OAuth logins leave them."""
    from flask_session_epoch import registry, store

    with app.app_context():
        db = db_session(app.appbuilder.sm)
        now = store.utcnow()
        for sid in sids:
            origin = registry.Origin("oauth", "idp", sid_key=oidc.key_of(issuer, sid))
            registry.start(db.connection(), user_id(app), registry.BROWSER, origin, store.NO_EPOCH, now,
                           now + dt.timedelta(days=1))
        db.commit()


def assert_refused(response: t.Any, app: Flask, says: str) -> None:
    assert response.status_code == 400, response.data
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["error"] == "invalid_request"
    assert says in body["error_description"]
    assert epoch_of(app) is None and ended_sids(app) == []


# -- what a valid token does ----------------------------------------------------


@pytest.mark.all_databases
def test_sub_logout_stamps_the_subjects_user(idp_app: Flask, idp: FlaskClient, keys: KeyServer) -> None:
    seen: list[dict[str, t.Any]] = []
    signals.backchannel_logout.connect(lambda sender, **kw: seen.append(kw), idp_app, weak=False)

    response = post(idp, keys.sign(keys.claims(CLIENT_ID)))

    assert response.status_code == 200 and response.data == b""
    assert response.headers["Cache-Control"] == "no-store"
    epoch = epoch_of(idp_app)
    assert (epoch.reason, epoch.actor, epoch.generation) == ("idp-logout", "idp:idp", 1)
    assert epoch_of(idp_app, "admin") is None
    assert seen == [{"provider": "idp", "subject": SUBJECT, "sid": None, "user_id": user_id(idp_app)}]


@pytest.mark.all_databases
def test_sid_logout_ends_only_that_provider_session(idp_app: Flask, idp: FlaskClient, keys: KeyServer) -> None:
    # With both sub and sid, only the sessions of that provider session end (spec, 2.4).
    open_sessions_under(idp_app, keys.issuer, "op-session-1", "op-session-other")
    response = post(idp, keys.sign(keys.claims(CLIENT_ID, sid="op-session-1")))

    assert response.status_code == 200
    assert ended_sids(idp_app) == [oidc.key_of(keys.issuer, "op-session-1")]
    assert epoch_of(idp_app) is None


def test_sid_only_logout_is_accepted(idp_app: Flask, idp: FlaskClient, keys: KeyServer) -> None:
    open_sessions_under(idp_app, keys.issuer, "op-session-2")
    response = post(idp, keys.sign(keys.claims(CLIENT_ID, sub=None, sid="op-session-2")))

    assert response.status_code == 200
    assert ended_sids(idp_app) == [oidc.key_of(keys.issuer, "op-session-2")]


def test_logout_of_an_unknown_subject_succeeds_and_changes_nothing(idp_app: Flask, idp: FlaskClient,
                                                                   keys: KeyServer) -> None:
    response = post(idp, keys.sign(keys.claims(CLIENT_ID, sub="never-logged-in-here")))

    assert response.status_code == 200
    assert epoch_of(idp_app) is None


@pytest.mark.parametrize("typ", ["logout+jwt", "application/logout+jwt", "JWT"])
def test_explicit_and_plain_token_types_are_accepted(idp: FlaskClient, keys: KeyServer, typ: str) -> None:
    assert post(idp, keys.sign(keys.claims(CLIENT_ID), typ=typ)).status_code == 200


def test_audience_may_be_a_list_holding_the_client(idp: FlaskClient, keys: KeyServer) -> None:
    claims = keys.claims(CLIENT_ID, aud=["another-client", CLIENT_ID])
    assert post(idp, keys.sign(claims)).status_code == 200


def test_token_without_exp_is_accepted_while_fresh(idp: FlaskClient, keys: KeyServer) -> None:
    assert post(idp, keys.sign(keys.claims(CLIENT_ID, exp=None))).status_code == 200


def test_elliptic_curve_keys_are_accepted(idp: FlaskClient, keys: KeyServer) -> None:
    kid = keys.add_key("EC")
    assert post(idp, keys.sign(keys.claims(CLIENT_ID), kid=kid, algorithm="ES256")).status_code == 200


@pytest.mark.all_databases
def test_concurrent_logouts_all_succeed(idp_app: Flask, make_app: t.Callable[..., Flask], keys: KeyServer) -> None:
    # Two apps on one database stand for two workers; a provider logging many users out
    # at once sends its tokens in parallel.
    apps = [idp_app, make_app(**oauth_config(keys.metadata_url))]
    tokens = [keys.sign(keys.claims(CLIENT_ID, sub=None, sid=f"burst-{n}")) for n in range(16)]
    open_sessions_under(idp_app, keys.issuer, *(f"burst-{n}" for n in range(16)))
    for app in apps:  # each worker has fetched the provider's keys before the burst
        assert post(app.test_client(), keys.sign(keys.claims(CLIENT_ID, sub="warm-up"))).status_code == 200
    barrier = threading.Barrier(len(tokens))
    statuses: list[int] = []

    def send(n: int) -> None:
        client = apps[n % 2].test_client()
        barrier.wait()
        statuses.append(post(client, tokens[n]).status_code)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(len(tokens))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert statuses == [200] * len(tokens)
    assert len(ended_sids(idp_app)) == len(tokens)


def test_transient_database_error_is_retried(idp_app: Flask, idp: FlaskClient, keys: KeyServer,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    real_use = replay.use
    calls: list[str] = []

    def deadlock_once(connection: t.Any, issuer: str, jti: str, until: t.Any, token: str) -> None:
        calls.append(jti)
        if len(calls) == 1:
            raise sa.exc.OperationalError("INSERT ...", {}, Exception("Deadlock found when trying to get lock"))
        real_use(connection, issuer, jti, until, token)

    monkeypatch.setattr(replay, "use", deadlock_once)
    open_sessions_under(idp_app, keys.issuer, "retried")

    assert post(idp, keys.sign(keys.claims(CLIENT_ID, sid="retried"))).status_code == 200
    assert len(calls) == 2 and ended_sids(idp_app) == [oidc.key_of(keys.issuer, "retried")]


def test_missing_tables_answer_400_not_500(idp_app: Flask, idp: FlaskClient, keys: KeyServer) -> None:
    # An operator who has not run migration 0002 yet.
    with idp_app.app_context():
        db = db_session(idp_app.appbuilder.sm)
        db.execute(sa.text("DROP TABLE ab_session_epoch_oidc_jti"))
        db.commit()
    response = post(idp, keys.sign(keys.claims(CLIENT_ID)))
    assert response.status_code == 400
    assert response.get_json()["error_description"] == "the logout could not be carried out"


# -- the provider's keys: cached, refetched once for an unknown kid ---------------------


def test_keys_are_fetched_once_and_cached(idp: FlaskClient, keys: KeyServer) -> None:
    for _ in range(3):
        assert post(idp, keys.sign(keys.claims(CLIENT_ID))).status_code == 200
    assert keys.jwks_fetches == 1


def test_a_rotated_key_is_fetched_once(idp: FlaskClient, keys: KeyServer) -> None:
    assert post(idp, keys.sign(keys.claims(CLIENT_ID))).status_code == 200
    rotated = keys.add_key()

    assert post(idp, keys.sign(keys.claims(CLIENT_ID), kid=rotated)).status_code == 200
    assert post(idp, keys.sign(keys.claims(CLIENT_ID), kid=rotated)).status_code == 200
    assert keys.jwks_fetches == 2


def test_unknown_kid_is_refused_after_one_refetch(idp_app: Flask, idp: FlaskClient, keys: KeyServer) -> None:
    assert post(idp, keys.sign(keys.claims(CLIENT_ID, sub="nobody"))).status_code == 200
    unpublished = keys.add_key(publish=False)

    response = post(idp, keys.sign(keys.claims(CLIENT_ID), kid=unpublished))

    assert_refused(response, idp_app, "key the provider does not publish")
    assert keys.jwks_fetches == 2


def test_unknown_kid_on_a_fresh_start_fetches_the_keys_once(idp_app: Flask, idp: FlaskClient,
                                                             keys: KeyServer) -> None:
    unpublished = keys.add_key(publish=False)

    response = post(idp, keys.sign(keys.claims(CLIENT_ID), kid=unpublished))

    assert_refused(response, idp_app, "key the provider does not publish")
    assert keys.jwks_fetches == 1


def test_made_up_key_ids_fetch_the_keys_at_most_once_per_interval(idp_app: Flask, idp: FlaskClient,
                                                                  keys: KeyServer) -> None:
    assert post(idp, keys.sign(keys.claims(CLIENT_ID, sub="nobody"))).status_code == 200
    for _ in range(25):
        junk = keys.add_key(publish=False)  # a new kid each time, and a signature no one can check
        assert post(idp, keys.sign(keys.claims(CLIENT_ID), kid=junk)).status_code == 400
    assert keys.jwks_fetches == 2  # the first fetch, and one refetch for all 25


@pytest.mark.parametrize(
    "overrides",
    [{"iss": "https://evil.example.org"}, {"aud": "another-client"}, {"iat": 1}, {"iat": None}, {"iss": None}],
)
def test_a_token_that_could_never_pass_fetches_no_keys(idp_app: Flask, idp: FlaskClient, keys: KeyServer,
                                                        overrides: dict[str, t.Any]) -> None:
    junk = keys.add_key(publish=False)
    for _ in range(5):
        assert post(idp, keys.sign(keys.claims(CLIENT_ID, **overrides), kid=junk)).status_code == 400
    assert keys.jwks_fetches == 0


def test_unreachable_provider_is_a_400_not_a_500(make_app: t.Callable[..., Flask], keys: KeyServer) -> None:
    app = make_app(**oauth_config("http://127.0.0.1:9/.well-known/openid-configuration"))
    response = post(app.test_client(), keys.sign(keys.claims(CLIENT_ID)))
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


# -- sessions that logged in under a provider session ---------------------------------


def provider_login_route(app: Flask, issuer: str) -> None:
    """``/provider-login/<sid>``: alice logs in as an OAuth login under provider session ``sid`` would."""
    from flask import session
    from flask_login import login_user

    from flask_session_epoch import request_state

    @app.route("/provider-login/<sid>")
    def provider_login(sid: str) -> str:
        request_state.current().provider_login = oidc.ProviderLogin(issuer, SUBJECT, sid)
        session.permanent = True  # re-signed by every request, as FAB's own logins are
        remember = bool(app.config.get("TEST_REMEMBER"))
        login_user(app.appbuilder.sm.find_user(ALICE[0]), remember=remember)
        return "ok"


def served(client: FlaskClient) -> bool:
    return client.get("/api/v1/ping/").status_code == 200


def test_sid_logout_stays_in_force_while_a_copy_is_kept_fresh(make_app: t.Callable[..., Flask],
                                                               keys: KeyServer) -> None:
    import datetime as dt

    app = make_app(**oauth_config(keys.metadata_url, PERMANENT_SESSION_LIFETIME=dt.timedelta(seconds=2)))
    provider_login_route(app, keys.issuer)
    client = app.test_client()
    client.get("/provider-login/op-session-7")
    assert served(client)
    copy = app.test_client()
    copy.set_cookie("session", client.get_cookie("session").value)
    assert post(client, keys.sign(keys.claims(CLIENT_ID, sub=None, sid="op-session-7"))).status_code == 200
    # Requests that are never checked (a health check) re-sign the copy past the lifetime.
    for _ in range(8):
        assert copy.get("/health").status_code == 200
        time.sleep(0.4)
    # Another logout runs the clean-up of old records.
    assert post(client, keys.sign(keys.claims(CLIENT_ID, sub=None, sid="op-session-8"))).status_code == 200
    assert not served(copy)


@pytest.mark.config(TEST_REMEMBER=True)
def test_sid_logout_also_ends_the_remember_me_cookie(idp_app: Flask, keys: KeyServer) -> None:
    provider_login_route(idp_app, keys.issuer)
    client = idp_app.test_client()
    client.get("/provider-login/op-session-5")
    remember = client.get_cookie("remember_token").value
    companion = client.get_cookie("session_epoch_remember").value
    assert post(client, keys.sign(keys.claims(CLIENT_ID, sub=None, sid="op-session-5"))).status_code == 200
    thief = idp_app.test_client()  # the cookies as they were before the logout, without the session
    thief.set_cookie("remember_token", remember)
    thief.set_cookie("session_epoch_remember", companion)
    assert not served(thief)
    assert not served(client)


def test_the_endpoint_never_logs_anyone_in_from_a_proxy_header(make_app: t.Callable[..., Flask],
                                                               keys: KeyServer) -> None:
    """README lets the provider's POST past the proxy: a header on it must log nobody in."""
    app = make_app(**oauth_config(keys.metadata_url, SESSION_EPOCH_PROXY_HEADER="X-Auth-Request-User"))
    client = app.test_client()
    response = client.post("/session_epoch/backchannel-logout/idp", headers={"X-Auth-Request-User": "admin"},
                           data={"logout_token": keys.sign(keys.claims(CLIENT_ID))})
    assert response.status_code == 200
    assert not any(header.startswith("session=") for header in response.headers.getlist("Set-Cookie"))
    with client.session_transaction() as sess:
        assert "_user_id" not in sess


# -- every rejection --------------------------------------------------------------


def test_forged_signature_is_refused(idp_app: Flask, idp: FlaskClient, keys: KeyServer) -> None:
    forger = keys.add_key(publish=False)
    token = jwt.encode(keys.claims(CLIENT_ID), keys.keys[forger], algorithm="RS256", headers={"kid": keys.kid})
    assert_refused(post(idp, token), idp_app, "signature is invalid")


def test_tampered_payload_is_refused(idp_app: Flask, idp: FlaskClient, keys: KeyServer) -> None:
    header, _, signature = keys.sign(keys.claims(CLIENT_ID, sub="nobody")).split(".")
    other = keys.sign(keys.claims(CLIENT_ID)).split(".")[1]
    assert_refused(post(idp, f"{header}.{other}.{signature}"), idp_app, "signature is invalid")


def test_unsigned_token_is_refused(idp_app: Flask, idp: FlaskClient, keys: KeyServer) -> None:
    token = jwt.encode(keys.claims(CLIENT_ID), None, algorithm="none", headers={"kid": keys.kid})
    assert_refused(post(idp, token), idp_app, "not signed")


def test_shared_secret_signature_is_refused(idp_app: Flask, idp: FlaskClient, keys: KeyServer) -> None:
    token = jwt.encode(keys.claims(CLIENT_ID), CLIENT_SECRET, algorithm="HS256", headers={"kid": keys.kid})
    assert_refused(post(idp, token), idp_app, "HS256, which is not accepted")


@pytest.mark.parametrize("typ", ["at+jwt", "id_token+jwt", "secevent+jwt"])
def test_other_token_types_are_refused(idp_app: Flask, idp: FlaskClient, keys: KeyServer, typ: str) -> None:
    assert_refused(post(idp, keys.sign(keys.claims(CLIENT_ID), typ=typ)), idp_app, "is not a logout token")


def test_other_issuer_is_refused(idp_app: Flask, idp: FlaskClient, keys: KeyServer) -> None:
    token = keys.sign(keys.claims(CLIENT_ID, iss="https://evil.example.org"))
    assert_refused(post(idp, token), idp_app, "another issuer")


def test_other_audience_is_refused(idp_app: Flask, idp: FlaskClient, keys: KeyServer) -> None:
    assert_refused(post(idp, keys.sign(keys.claims("another-client"))), idp_app, "another client")


@pytest.mark.parametrize("claim", ["iss", "aud", "iat", "jti"])
def test_missing_required_claim_is_refused(idp_app: Flask, idp: FlaskClient, keys: KeyServer, claim: str) -> None:
    token = keys.sign(keys.claims(CLIENT_ID, **{claim: None}))
    assert_refused(post(idp, token), idp_app, f"no {claim} claim")


def test_token_issued_in_the_future_is_refused(idp_app: Flask, idp: FlaskClient, keys: KeyServer) -> None:
    later = int(time.time()) + 600
    token = keys.sign(keys.claims(CLIENT_ID, iat=later, exp=later + 120))
    assert_refused(post(idp, token), idp_app, "issued in the future")


def test_small_clock_skew_is_tolerated(idp: FlaskClient, keys: KeyServer) -> None:
    ahead = int(time.time()) + 30
    assert post(idp, keys.sign(keys.claims(CLIENT_ID, iat=ahead, exp=ahead + 120))).status_code == 200


def test_expired_token_is_refused(idp_app: Flask, idp: FlaskClient, keys: KeyServer) -> None:
    now = int(time.time())
    token = keys.sign(keys.claims(CLIENT_ID, iat=now - 300, exp=now - 200))
    assert_refused(post(idp, token), idp_app, "expired")


def test_old_token_without_exp_is_refused(idp_app: Flask, idp: FlaskClient, keys: KeyServer) -> None:
    token = keys.sign(keys.claims(CLIENT_ID, iat=int(time.time()) - 3600, exp=None))
    assert_refused(post(idp, token), idp_app, "too old")


@pytest.mark.parametrize("iat", ["1700000000", True, 1.5e300])
def test_malformed_iat_is_refused(idp_app: Flask, idp: FlaskClient, keys: KeyServer, iat: t.Any) -> None:
    response = post(idp, keys.sign(keys.claims(CLIENT_ID, iat=iat)))
    assert response.status_code == 400 and epoch_of(idp_app) is None


@pytest.mark.parametrize(
    "events",
    [None, {}, {"http://schemas.openid.net/event/other": {}}, {BACKCHANNEL_EVENT: "yes"}, [BACKCHANNEL_EVENT]],
)
def test_token_without_the_logout_event_is_refused(idp_app: Flask, idp: FlaskClient, keys: KeyServer,
                                                   events: t.Any) -> None:
    token = keys.sign(keys.claims(CLIENT_ID, events=events))
    assert_refused(post(idp, token), idp_app, "no back-channel logout event")


def test_token_with_a_nonce_is_refused(idp_app: Flask, idp: FlaskClient, keys: KeyServer) -> None:
    token = keys.sign(keys.claims(CLIENT_ID, nonce="n-0S6_WzA2Mj"))
    assert_refused(post(idp, token), idp_app, "must not contain a nonce")


def test_token_without_sub_or_sid_is_refused(idp_app: Flask, idp: FlaskClient, keys: KeyServer) -> None:
    token = keys.sign(keys.claims(CLIENT_ID, sub=None))
    assert_refused(post(idp, token), idp_app, "neither a subject")


@pytest.mark.parametrize(
    ("claim", "value"), [("sub", 42), ("sub", "x" * 256), ("sid", ""), ("sid", "x" * 4097), ("jti", 7)]
)
def test_malformed_identifiers_are_refused(idp_app: Flask, idp: FlaskClient, keys: KeyServer, claim: str,
                                           value: t.Any) -> None:
    token = keys.sign(keys.claims(CLIENT_ID, **{claim: value}))
    assert_refused(post(idp, token), idp_app, "not a valid string")


@pytest.mark.all_databases
def test_replayed_token_is_refused(idp_app: Flask, idp: FlaskClient, keys: KeyServer) -> None:
    token = keys.sign(keys.claims(CLIENT_ID, sid="op-session-3"))
    assert post(idp, token).status_code == 200

    response = post(idp, token)

    assert response.status_code == 400
    assert "already used" in response.get_json()["error_description"]


@pytest.mark.all_databases
def test_replay_record_is_shared_by_every_worker(idp_app: Flask, make_app: t.Callable[..., Flask],
                                                 keys: KeyServer) -> None:
    # Another app on the same database stands for another worker or host.
    other = make_app(**oauth_config(keys.metadata_url)).test_client()
    token = keys.sign(keys.claims(CLIENT_ID, jti="shared-jti"))
    assert post(idp_app.test_client(), token).status_code == 200
    assert post(other, token).status_code == 400


def test_same_jti_from_another_issuer_is_not_a_replay(idp_app: Flask, idp: FlaskClient, keys: KeyServer) -> None:
    with idp_app.app_context():
        connection = db_session(idp_app.appbuilder.sm).connection()
        replay.use(connection, "https://other-issuer.example.org", "jti-1", oidc.store.utcnow(), "logout token")
        db_session(idp_app.appbuilder.sm).commit()
    assert post(idp, keys.sign(keys.claims(CLIENT_ID, jti="jti-1"))).status_code == 200


def test_used_tokens_are_forgotten_once_expired(idp_app: Flask, idp: FlaskClient, keys: KeyServer) -> None:
    with idp_app.app_context():
        connection = db_session(idp_app.appbuilder.sm).connection()
        replay.use(connection, "https://old.example.org", "old", oidc.store.utcnow().replace(year=2000), "logout token")
        db_session(idp_app.appbuilder.sm).commit()
    assert post(idp, keys.sign(keys.claims(CLIENT_ID))).status_code == 200
    with idp_app.app_context():
        keys_left = db_session(idp_app.appbuilder.sm).execute(sa.select(OidcLogoutTokenUse.jti_key)).scalars()
        assert oidc.key_of("https://old.example.org", "old") not in list(keys_left)


@pytest.mark.parametrize("token", ["not-a-jwt", "a.b.c", "x" * 20000])
def test_garbage_is_refused(idp_app: Flask, idp: FlaskClient, token: str) -> None:
    assert post(idp, token).status_code == 400


def test_request_without_a_token_is_refused(idp_app: Flask, idp: FlaskClient) -> None:
    assert_refused(post(idp, None), idp_app, "exactly one logout_token")


def test_request_with_two_tokens_is_refused(idp_app: Flask, idp: FlaskClient, keys: KeyServer) -> None:
    tokens = [keys.sign(keys.claims(CLIENT_ID)), keys.sign(keys.claims(CLIENT_ID))]
    response = idp.post("/session_epoch/backchannel-logout/idp", data={"logout_token": tokens})
    assert_refused(response, idp_app, "exactly one logout_token")


def test_unknown_provider_is_refused(idp_app: Flask, idp: FlaskClient, keys: KeyServer) -> None:
    assert_refused(post(idp, keys.sign(keys.claims(CLIENT_ID)), provider="github"), idp_app, "unknown provider")


def test_only_post_is_allowed(idp: FlaskClient, keys: KeyServer) -> None:
    response = idp.get("/session_epoch/backchannel-logout/idp", query_string={"logout_token": "x"})
    assert response.status_code == 405


@pytest.mark.parametrize("csrf_first", [True, False])
def test_endpoint_is_exempt_from_csrf(make_app: t.Callable[..., Flask], keys: KeyServer, csrf_first: bool) -> None:
    from flask_wtf.csrf import CSRFProtect

    csrf = CSRFProtect()
    if csrf_first:  # Superset sets up CSRF before Flask-AppBuilder
        app = make_app(**oauth_config(keys.metadata_url, WTF_CSRF_ENABLED=True), setup=csrf.init_app)
    else:
        app = make_app(**oauth_config(keys.metadata_url, WTF_CSRF_ENABLED=True))
        csrf.init_app(app)
    client = app.test_client()
    assert post(client, keys.sign(keys.claims(CLIENT_ID))).status_code == 200
    # Other POSTs are still checked.
    refused = client.post("/sessionepoch/revoke-all/")
    assert refused.status_code == 400 and b"CSRF" in refused.data


# -- configuration mistakes fail at start-up ------------------------------------------


def test_unknown_provider_name_fails_at_start(make_app: t.Callable[..., Flask], keys: KeyServer) -> None:
    with pytest.raises(ConfigurationError, match="'okta', which is not in OAUTH_PROVIDERS"):
        make_app(**oauth_config(keys.metadata_url, SESSION_EPOCH_BACKCHANNEL_PROVIDERS=["okta"]))


def test_back_channel_needs_oauth_login(make_app: t.Callable[..., Flask], keys: KeyServer) -> None:
    with pytest.raises(ConfigurationError, match="AUTH_TYPE = AUTH_OAUTH"):
        make_app(**oauth_config(keys.metadata_url, AUTH_TYPE=AUTH_DB))


def test_provider_without_discovery_fails_at_start(make_app: t.Callable[..., Flask]) -> None:
    config = oauth_config("unused")
    del config["OAUTH_PROVIDERS"][0]["remote_app"]["server_metadata_url"]
    with pytest.raises(ConfigurationError, match="needs server_metadata_url"):
        make_app(**config)


def test_provider_names_must_be_a_list(make_app: t.Callable[..., Flask], keys: KeyServer) -> None:
    with pytest.raises(ConfigurationError, match="must be a list"):
        make_app(**oauth_config(keys.metadata_url, SESSION_EPOCH_BACKCHANNEL_PROVIDERS="idp"))


def test_without_providers_there_is_no_endpoint(client: FlaskClient) -> None:
    assert client.post("/session_epoch/backchannel-logout/idp").status_code == 404
