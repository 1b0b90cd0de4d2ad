"""The example SETs printed in the specifications, carried out by the push receiver.

The vectors (``ssf/vectors.py``) are the claims exactly as RFC 8417, RFC 8935, SSF 1.0,
CAEP 1.0 and RISC 1.0 print them. They are signed here with a test key (no example is
signed with a key anyone has), under a fresh ``iat`` (the printed ones are years old,
past ``SESSION_EPOCH_SSF_MAX_AGE``); the transmitter is configured with the example's
``iss`` and ``aud``. Its subject is given to a user of ours first, so each example's
event does what the README's table says.
"""

from __future__ import annotations

import time
import typing as t

import pytest
import sqlalchemy as sa
from flask import Flask
from keyserver import KeyServer
from ssf.vectors import SET_VECTORS, SetVector
from test_ssf_push import PUSH_AUTH, push

from flask_session_epoch import oidc
from flask_session_epoch.inbound import ssf_events as ev
from flask_session_epoch.models import UserSessionEpoch
from flask_session_epoch.revoke import db_session

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

# The SSF-shaped examples (top-level sub_id), and the pre-SSF ones whose subject is in the event.
USABLE = [vector for vector in SET_VECTORS if vector.subject_at in ("sub_id", "event") and "exp" not in vector.claims]
_STAMP_REASONS = {ev.CREDENTIAL_CHANGE: "credential-change", ev.SESSIONS_REVOKED: "sessions-revoked",
                  ev.ACCOUNT_PURGED: "account-purged", ev.ACCOUNT_DISABLED: "disable",
                  ev.ACCOUNT_CREDENTIAL_CHANGE_REQUIRED: "credential-change-required"}


def _subject(vector: SetVector) -> t.Any:
    claims = vector.claims
    if "sub_id" in claims:
        return claims["sub_id"]
    return next(body["subject"] for body in claims["events"].values() if "subject" in body)


def _give_subject_to_a_user(app: Flask, subject: t.Any) -> int | None:
    """Make one of our users the example's subject, if it names a user in a format we map."""
    user = subject.get("user") if subject.get("format") == "complex" else subject
    kind = (user or {}).get("format") or (user or {}).get("subject_type", "").replace("-", "_")
    with app.app_context():
        sm = app.appbuilder.sm
        db = db_session(sm)
        alice = sm.find_user("alice")
        if kind == "email":
            alice.email = user["email"]
            db.commit()
            return int(alice.id)
        if kind == "iss_sub":
            login = oidc.ProviderLogin(user["iss"], user["sub"], None)
            oidc.record_subject(db.connection(), login, alice.id, oidc.store.utcnow())
            db.commit()
            return int(alice.id)
    return None


@pytest.mark.parametrize("vector", USABLE, ids=[vector.name for vector in USABLE])
def test_each_printed_example_is_accepted_and_does_what_the_table_says(
        make_app: t.Callable[..., Flask], monkeypatch: pytest.MonkeyPatch, vector: SetVector) -> None:
    claims = dict(vector.claims, iat=int(time.time()))
    audience = claims["aud"] if isinstance(claims["aud"], str) else claims["aud"][0]
    with KeyServer() as keys:
        monkeypatch.setenv("FSE_TEST_SSF_PUSH", PUSH_AUTH)
        app = make_app(SESSION_EPOCH_SSF_TRANSMITTERS={"tx": {
            "issuer": claims["iss"], "jwks_uri": f"{keys.issuer}/jwks", "audience": audience,
            "push_authorization_env": "FSE_TEST_SSF_PUSH", "claims_change": "stamp"}})
        user_id = _give_subject_to_a_user(app, _subject(vector))

        response = push(app, keys.sign(claims, typ="secevent+jwt"))

    assert response.status_code == 202, response.get_json()
    with app.app_context():
        reason = db_session(app.appbuilder.sm).execute(
            sa.select(UserSessionEpoch.reason).filter_by(user_id=user_id)).scalar() if user_id else None
    [event] = vector.event_types[:1]
    is_session = event == ev.SESSION_REVOKED and _subject(vector).get("session") is not None
    expected = None
    if user_id is not None and not is_session:
        expected = _STAMP_REASONS.get(event) or {
            ev.SESSION_REVOKED: "session-revoked", ev.TOKEN_CLAIMS_CHANGE: "token-claims-change",
            ev.ASSURANCE_LEVEL_CHANGE: "assurance-level-change"}.get(event)
    assert (reason if reason != "created" else None) == expected, vector.source


def test_the_vectors_cover_each_event_we_act_on() -> None:
    printed = {event for vector in USABLE for event in vector.event_types}
    assert {ev.SESSION_REVOKED, ev.CREDENTIAL_CHANGE, ev.TOKEN_CLAIMS_CHANGE, ev.ASSURANCE_LEVEL_CHANGE,
            ev.ACCOUNT_DISABLED, ev.ACCOUNT_ENABLED, ev.ACCOUNT_CREDENTIAL_CHANGE_REQUIRED} <= printed
