"""flask-session-epoch inside a real Apache Superset: what users see when their sessions end.

Slow (a real ``superset db upgrade`` / ``init`` / ``fab create-admin`` once per run),
so the main suite runs with ``--ignore=tests/superset``; see conftest.py.
"""

from __future__ import annotations

import os
import typing as t
from urllib.parse import parse_qs, urlsplit

import pytest

# "superset.app", not "superset": this folder is itself named superset and, with tests/ on
# sys.path, imports as an empty namespace package when the real Superset is missing.
if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
    # CI installs Superset for these tests: a missing or broken install must fail, not skip.
    try:
        import superset.app  # noqa: F401
    except ImportError as exc:
        pytest.fail(f"CI is set, but Superset cannot be imported: {exc}", pytrace=False)
else:
    pytest.importorskip(
        "superset.app",
        reason="apache-superset is not installed (pip install apache-superset==6.1.0);"
        " with CI=true this is an error",
    )

from flask import Flask, session
from flask.testing import FlaskClient
from flask_login import AnonymousUserMixin, login_user
from sqlalchemy import select
from superset.extensions import db, security_manager

from flask_session_epoch import (
    SESSION_KEY_EPOCH,
    UserSessionEpoch,
    invalidate_all_sessions,
    invalidate_sessions,
)

pytestmark = pytest.mark.superset

ENDED_HEADER = "X-Session-Ended"
ENDED_FLASH = ("warning", "Your session has ended. Please sign in again.")
WELCOME = "/superset/welcome/"


class Account(t.Protocol):
    """A user made by the ``admin`` or ``make_user`` fixtures of conftest.py."""

    @property
    def id(self) -> int: ...
    @property
    def username(self) -> str: ...
    @property
    def password(self) -> str: ...


MakeUser = t.Callable[[], Account]


def login(client: FlaskClient, account: Account) -> None:
    """Sign in through Superset's login form, as a browser does."""
    response = client.post("/login/", data={"username": account.username, "password": account.password})
    # Superset answers a failed login with a redirect back to the login page.
    assert response.status_code == 302
    assert urlsplit(response.location).path != "/login/", f"login of {account.username} failed"


def api_login(app: Flask, account: Account) -> dict[str, str]:
    """``access_token`` and ``refresh_token`` from the REST API login, as a script gets them."""
    response = app.test_client().post(
        "/api/v1/security/login",
        json={"username": account.username, "password": account.password, "provider": "db", "refresh": True},
    )
    assert response.status_code == 200, response.json
    return t.cast("dict[str, str]", response.json)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def me(client: FlaskClient, token: str | None = None) -> t.Any:
    """``GET /api/v1/me/``: 200 for a signed-in user, 401 otherwise."""
    return client.get("/api/v1/me/", headers=bearer(token) if token else None)


def refresh(client: FlaskClient, refresh_token: str) -> t.Any:
    return client.post("/api/v1/security/refresh", headers=bearer(refresh_token))


def assert_ended(response: t.Any) -> None:
    """An API call whose session or token was ended: 401, and a header saying why."""
    assert response.status_code == 401
    assert response.headers.get(ENDED_HEADER) == "1"
    assert response.json["session_ended"] is True


def set_active(app: Flask, user_id: int, active: bool) -> None:
    """Flip ``active`` through the ORM, as Superset's user admin (or a script) does."""
    with app.app_context():
        user = db.session.get(security_manager.user_model, user_id)
        user.active = active
        db.session.commit()


def epoch_rows(app: Flask, user_id: int) -> list[tuple[int, str]]:
    """``(generation, reason)`` of the user's rows in ``ab_user_session_epoch``."""
    with app.app_context():
        rows = db.session.execute(
            select(UserSessionEpoch.generation, UserSessionEpoch.reason).where(UserSessionEpoch.user_id == user_id)
        )
        return [tuple(row) for row in rows]


def test_cookie_session_ends_on_invalidate_sessions(app: Flask, client: FlaskClient, make_user: MakeUser) -> None:
    user = make_user()
    login(client, user)
    assert me(client).status_code == 200

    with app.app_context():
        invalidate_sessions(user.id)

    assert_ended(me(client))
    # The user is not locked out: signing in again gives a working session.
    login(client, user)
    assert me(client).status_code == 200


def test_invalidate_sessions_spares_other_users(app: Flask, client: FlaskClient, make_user: MakeUser) -> None:
    user, other = make_user(), make_user()
    login(client, other)

    with app.app_context():
        invalidate_sessions(user.id)

    response = me(client)
    assert response.status_code == 200
    assert ENDED_HEADER not in response.headers


def test_html_page_redirects_to_login_after_invalidate_sessions(
    app: Flask, client: FlaskClient, make_user: MakeUser
) -> None:
    user = make_user()
    login(client, user)
    assert client.get(WELCOME).status_code == 200

    with app.app_context():
        invalidate_sessions(user.id)

    response = client.get(WELCOME)
    assert response.status_code == 302
    assert response.headers.get(ENDED_HEADER) == "1"
    target = urlsplit(response.location)
    assert target.path == "/login/"
    assert parse_qs(target.query)["next"] == [WELCOME]
    # The message waits in the session for the next page. (Superset 6.1's React login
    # page does not render Flask flashes, so users do not actually see it there.)
    with client.session_transaction() as cookie_session:
        assert ENDED_FLASH in cookie_session["_flashes"]
    assert client.get(response.location).status_code == 200
    assert me(client).status_code == 401


def test_jwt_refused_after_invalidate_sessions(app: Flask, client: FlaskClient, make_user: MakeUser) -> None:
    user = make_user()
    tokens = api_login(app, user)
    assert me(client, tokens["access_token"]).status_code == 200
    assert refresh(client, tokens["refresh_token"]).status_code == 200

    with app.app_context():
        invalidate_sessions(user.id)

    assert_ended(me(client, tokens["access_token"]))
    # Otherwise the refresh token would mint fresh access tokens for the ended session.
    assert_ended(refresh(client, tokens["refresh_token"]))
    assert me(client, api_login(app, user)["access_token"]).status_code == 200


def test_disabling_user_stamps_epoch(app: Flask, make_user: MakeUser) -> None:
    user = make_user()
    assert epoch_rows(app, user.id) == [(1, "created")]  # every new user has an epoch from the start

    set_active(app, user.id, False)

    assert epoch_rows(app, user.id) == [(2, "disable")]


def test_editing_active_user_stamps_nothing(app: Flask, make_user: MakeUser) -> None:
    user = make_user()
    with app.app_context():
        db.session.get(security_manager.user_model, user.id).first_name = "Renamed"
        db.session.commit()
    set_active(app, user.id, True)  # already active: not a True -> False change

    assert epoch_rows(app, user.id) == [(1, "created")]


def test_disabled_user_is_refused(app: Flask, client: FlaskClient, make_user: MakeUser) -> None:
    user = make_user()
    login(client, user)
    token = api_login(app, user)["access_token"]

    set_active(app, user.id, False)

    assert me(client).status_code == 401
    assert me(app.test_client(), token).status_code == 401


def test_reenabling_user_does_not_revive_old_sessions(
    app: Flask, client: FlaskClient, make_user: MakeUser
) -> None:
    user = make_user()
    login(client, user)
    tokens = api_login(app, user)
    assert me(client).status_code == 200

    set_active(app, user.id, False)
    set_active(app, user.id, True)

    # FAB alone would accept all three again now: only the epoch stamped on disabling stops them.
    # (Tokens go through a client without the cookie, so that they are judged alone.)
    assert_ended(me(client))
    assert_ended(me(app.test_client(), tokens["access_token"]))
    assert_ended(refresh(app.test_client(), tokens["refresh_token"]))
    login(client, user)
    assert me(client).status_code == 200


def test_invalidate_all_sessions_ends_everyones_sessions(app: Flask, admin: Account, make_user: MakeUser) -> None:
    admin_browser, user_browser = app.test_client(), app.test_client()
    user = make_user()
    login(admin_browser, admin)
    login(user_browser, user)
    user_token = api_login(app, user)["access_token"]
    assert me(admin_browser).status_code == 200
    assert me(user_browser).status_code == 200

    with app.app_context():
        invalidate_all_sessions()

    assert_ended(me(admin_browser))
    assert_ended(me(user_browser))
    assert_ended(me(app.test_client(), user_token))
    login(admin_browser, admin)
    assert me(admin_browser).status_code == 200


def test_session_check_adds_no_sql_statements(statement_counts: dict[str, dict[str, t.Any]]) -> None:
    plain, extension = statement_counts["plain"], statement_counts["extension"]
    print("\nSQL statements per request (steady state, SQLite):")
    print(f"  {'request':<20} {'plain':>6} {'with extension':>15}")
    for name in plain:
        print(f"  {name:<20} {plain[name]['count']:>6} {extension[name]['count']:>15}")

    for name in plain:
        assert plain[name]["status"] == extension[name]["status"] == 200, name
        assert extension[name]["count"] == plain[name]["count"], (
            f"{name}: the extension changed the SQL\nplain:\n  "
            + "\n  ".join(plain[name]["sql"])
            + "\nwith extension:\n  "
            + "\n  ".join(extension[name]["sql"])
        )


def test_embedded_dashboard_anonymous_login_is_served(app: Flask, client: FlaskClient) -> None:
    # Superset's /embedded/<uuid> view calls login_user(AnonymousUserMixin(), force=True);
    # our user_logged_in receiver must let that pass.
    from superset.models.dashboard import Dashboard
    from superset.models.embedded_dashboard import EmbeddedDashboard

    with app.app_context():
        embedded = EmbeddedDashboard(dashboard=Dashboard(dashboard_title="Embedded"))
        db.session.add(embedded)
        db.session.commit()
        uuid = str(embedded.uuid)

    assert client.get(f"/embedded/{uuid}").status_code == 200


def test_anonymous_login_user_is_ignored(app: Flask) -> None:
    with app.test_request_context("/"):
        assert login_user(AnonymousUserMixin(), force=True)
        # Nothing stamped: there is no user whose epoch the session could follow.
        assert SESSION_KEY_EPOCH not in session


def test_the_ssf_commands_run_inside_superset(app: Flask) -> None:
    """``superset session-epoch ssf ...`` is our click group in Superset's app."""
    from flask_session_epoch.cli import cli

    result = app.test_cli_runner().invoke(cli, ["ssf", "status", "nope"])
    assert result.exit_code != 0 and "no transmitter 'nope' in SESSION_EPOCH_SSF_TRANSMITTERS" in result.output
