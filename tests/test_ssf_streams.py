"""Shared Signals streams end to end: ``session-epoch ssf add|status|verify|poll|remove`` against a transmitter.

The transmitter is the loopback one in ``ssf/transmitter.py``, built from the specs.
For push, the app is served over HTTP on loopback, so that the transmitter's pushes
(its verification event among them) reach it as they would in production.
"""

from __future__ import annotations

import typing as t

import pytest
import sqlalchemy as sa
from fabapp import ALICE
from flask import Flask
from helpers import is_logged_in, login
from loopback import Loopback
from ssf import sets as tx_sets
from ssf.transmitter import Transmitter

from flask_session_epoch.cli import cli
from flask_session_epoch.inbound import ssf_receiver
from flask_session_epoch.models import SsfStream, UserSessionEpoch
from flask_session_epoch.revoke import db_session

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

AUDIENCE = "https://app.example.org/"
PUSH_AUTH = "Bearer push-secret-0123456789abcdef0123456789"
ALICE_EMAIL = {"format": "email", "email": "alice@example.org"}


class Live(Loopback):
    """An app served over HTTP on loopback: the app is set once the test has made it."""

    app: Flask | None = None

    def _app(self, environ: dict[str, t.Any], start_response: t.Any) -> t.Iterable[bytes]:
        assert self.app is not None
        return self.app(environ, start_response)


@pytest.fixture
def tx() -> t.Iterator[Transmitter]:
    with Transmitter(audience=AUDIENCE, long_poll_timeout=0.3) as transmitter:
        yield transmitter


@pytest.fixture
def live() -> t.Iterator[Live]:
    server = Live()
    yield server
    server.close()


@pytest.fixture
def configure(make_app: t.Callable[..., Flask], tx: Transmitter, live: Live,
              monkeypatch: pytest.MonkeyPatch) -> t.Callable[..., Flask]:
    monkeypatch.setenv("FSE_TEST_SSF_MGMT", tx.bearer_token)
    monkeypatch.setenv("FSE_TEST_SSF_PUSH", PUSH_AUTH)

    def configured(delivery: str = "push") -> Flask:
        options = {"issuer": tx.issuer, "jwks_uri": tx.jwks_uri, "audience": AUDIENCE, "delivery": delivery,
                   "configuration_url": tx.configuration_url, "management_token_env": "FSE_TEST_SSF_MGMT",
                   "push_authorization_env": "FSE_TEST_SSF_PUSH",
                   "push_url": f"{live.base}/session_epoch/ssf/events/tx"}
        app = make_app(SESSION_EPOCH_SSF_TRANSMITTERS={"tx": options})
        live.app = live.app or app
        return app

    return configured


def ssf(app: Flask, *args: str) -> t.Any:
    return app.test_cli_runner().invoke(cli, ["ssf", *args])


def stream_row(app: Flask) -> t.Any:
    with app.app_context():
        return db_session(app.appbuilder.sm).execute(sa.select(SsfStream)).scalars().first()


def stamped(app: Flask) -> str | None:
    with app.app_context():
        sm = app.appbuilder.sm
        return db_session(sm).execute(sa.select(UserSessionEpoch.reason).filter_by(
            user_id=sm.find_user(ALICE[0]).id)).scalar()


def test_push_stream_is_set_up_verified_carried_out_and_removed(configure: t.Callable[..., Flask],
                                                                tx: Transmitter) -> None:
    app = configure("push")
    result = ssf(app, "add", "tx")
    assert result.exit_code == 0, result.output
    [stream] = tx.streams.values()
    assert stream.config["delivery"]["endpoint_url"].endswith("/session_epoch/ssf/events/tx")
    assert stream.config["delivery"]["authorization_header"] == PUSH_AUTH
    assert stream_row(app).stream_id == stream.stream_id and stream_row(app).verified_at is None

    assert ssf(app, "verify", "tx").exit_code == 0
    assert [pushed.status for pushed in tx.pushed] == [202]
    assert stream_row(app).verified_at is not None
    status = ssf(app, "status", "tx")
    assert status.exit_code == 0 and "verified at:  20" in status.output

    browser = app.test_client()
    login(browser)
    tx.send(tx.make_set(tx_sets.credential_change(), ALICE_EMAIL), stream.stream_id)
    assert tx.pushed[-1].status == 202
    assert not is_logged_in(browser) and stamped(app) == "credential-change"

    assert ssf(app, "add", "tx").exit_code == 0  # again: the same stream is updated, no second one
    assert list(tx.streams) == [stream.stream_id]
    assert ssf(app, "remove", "tx").exit_code == 0
    assert tx.streams == {} and stream_row(app) is None


def test_a_verification_with_another_state_verifies_nothing(configure: t.Callable[..., Flask],
                                                            tx: Transmitter) -> None:
    app = configure("push")
    assert ssf(app, "add", "tx").exit_code == 0
    [stream] = tx.streams.values()
    tx.send(tx.make_set(tx_sets.verification("forged-state")), stream.stream_id)
    assert tx.pushed[-1].status == 202 and stream_row(app).verified_at is None


def test_poll_applies_acknowledges_and_reports_refusals(configure: t.Callable[..., Flask], tx: Transmitter) -> None:
    app = configure("poll")
    assert ssf(app, "add", "tx").exit_code == 0
    [stream] = tx.streams.values()
    assert stream_row(app).endpoint_url == tx.poll_url(stream.stream_id)
    browser = app.test_client()
    login(browser)
    good = [tx.queue(tx.make_set(tx_sets.credential_change(), ALICE_EMAIL), stream.stream_id),
            tx.queue(tx.make_set({"https://example.org/unknown": {}}, ALICE_EMAIL), stream.stream_id)]
    bad = tx.queue(tx.make_set(tx_sets.credential_change(), ALICE_EMAIL, aud="https://other.example/"),
                   stream.stream_id)

    result = ssf(app, "poll", "tx", "--max-events", "2")

    assert result.exit_code == 0, result.output
    assert "applied 2, refused 1, acknowledged 2" in result.output
    assert sorted(tx.acked) == sorted(good)
    assert tx.set_errors[bad]["err"] == "invalid_audience"
    assert not is_logged_in(browser)
    assert stream_row(app).last_poll_at is not None and stream_row(app).last_poll_error is None


def test_an_outage_is_retried_and_nothing_is_lost(configure: t.Callable[..., Flask], tx: Transmitter) -> None:
    app = configure("poll")
    assert ssf(app, "add", "tx").exit_code == 0
    [stream] = tx.streams.values()
    jti = tx.queue(tx.make_set(tx_sets.credential_change(), ALICE_EMAIL), stream.stream_id)
    tx.fail_next(1, status=503)
    tx.fail_next(1, drop=True)

    result = ssf(app, "poll", "tx", "--duration", "20")

    assert result.exit_code == 0, result.output
    assert "applied 1" in result.output and "2 failed" in result.output
    assert tx.acked == [jti] and stamped(app) == "credential-change"


def test_a_transmitter_that_stays_down_fails_the_poll_and_status_says_so(configure: t.Callable[..., Flask],
                                                                         tx: Transmitter) -> None:
    app = configure("poll")
    assert ssf(app, "add", "tx").exit_code == 0
    tx.fail_next(50, status=503)
    result = ssf(app, "poll", "tx", "--duration", "1")
    assert result.exit_code != 0 and "the last poll failed" in result.output
    assert "failed: the transmitter answered 503" in ssf(app, "status", "tx").output


def test_a_set_whose_transaction_fails_is_not_acknowledged_and_comes_again(
        configure: t.Callable[..., Flask], tx: Transmitter, monkeypatch: pytest.MonkeyPatch) -> None:
    app = configure("poll")
    assert ssf(app, "add", "tx").exit_code == 0
    [stream] = tx.streams.values()
    jti = tx.queue(tx.make_set(tx_sets.credential_change(), ALICE_EMAIL), stream.stream_id)
    real = ssf_receiver.receive

    def failing(*args: t.Any, **kwargs: t.Any) -> t.Any:
        raise sa.exc.OperationalError("INSERT ...", {}, Exception("database is locked"))

    monkeypatch.setattr(ssf_receiver, "receive", failing)
    result = ssf(app, "poll", "tx", "--duration", "1")
    assert tx.acked == [] and stamped(app) in (None, "created")
    monkeypatch.setattr(ssf_receiver, "receive", real)
    result = ssf(app, "poll", "tx")
    assert result.exit_code == 0, result.output
    assert tx.acked == [jti] and stamped(app) == "credential-change"


def test_a_set_delivered_again_to_another_worker_is_acknowledged_not_applied_twice(
        configure: t.Callable[..., Flask], tx: Transmitter) -> None:
    first, second = configure("poll"), configure("poll")  # two apps on one database: two workers
    assert ssf(first, "add", "tx").exit_code == 0
    [stream] = tx.streams.values()
    token = tx.make_set({tx_sets.SESSIONS_REVOKED: {}}, ALICE_EMAIL)
    jti = tx.queue(token, stream.stream_id)
    assert "applied 1" in ssf(first, "poll", "tx").output
    tx.queue(token, stream.stream_id)  # the transmitter never heard the ack: it sends it again
    result = ssf(second, "poll", "tx")
    assert "applied 0" in result.output and tx.acked == [jti, jti]


def test_the_commands_say_what_is_missing(configure: t.Callable[..., Flask]) -> None:
    app = configure("poll")
    assert "no transmitter 'other'" in ssf(app, "status", "other").output
    assert "no stream of tx is set up" in ssf(app, "poll", "tx").output
