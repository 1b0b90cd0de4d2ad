"""flask-session-epoch inside a real Apache Airflow 3.3 with the FAB auth manager.

One ``airflow api-server`` (two workers) serves every test; each test signs in as
users of its own. A browser holds FAB's ``session`` cookie and Airflow's ``_token``
JWT; an API client holds a JWT from ``POST /auth/token``. After a revoke, a disable
or a password change, all three must be refused at their very next request.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import typing as t

import pytest

if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
    # CI installs Airflow for these tests: a missing or broken install must fail, not skip.
    try:
        import airflow.providers.fab  # noqa: F401
    except ImportError as exc:
        pytest.fail(f"CI is set, but Airflow's FAB provider cannot be imported: {exc}", pytrace=False)
else:
    pytest.importorskip(
        "airflow.providers.fab",
        reason="apache-airflow and its FAB provider are not installed"
        " (pip install apache-airflow==3.3.2 apache-airflow-providers-fab); with CI=true this is an error",
    )

import requests
from conftest import (
    ADMIN,
    Account,
    ApiServer,
    airflow_env,
    bearer,
    browser_login,
    csrf_token,
    run_airflow,
    token,
)

HERE = os.path.dirname(os.path.abspath(__file__))


class Credentials(t.NamedTuple):
    """What one person holds after signing in: a browser (``session`` and ``_token``) and an API JWT."""

    browser: requests.Session
    api_token: str


def sign_in(server: ApiServer, account: Account) -> Credentials:
    return Credentials(browser_login(server, account.username, account.password),
                       token(server, account.username, account.password))


def page(server: ApiServer, browser: requests.Session) -> requests.Response:
    """A FAB page under /auth/ that any signed-in user may see, by the session cookie alone."""
    return browser.get(f"{server.url}/auth/users/userinfo/", allow_redirects=False, timeout=30)


def api(server: ApiServer, **kwargs: t.Any) -> requests.Response:
    return requests.get(f"{server.url}/api/v2/dags", timeout=30, **kwargs)


def browser_token(credentials: Credentials) -> str:
    return t.cast(str, credentials.browser.cookies.get("_token"))


def assert_served(server: ApiServer, credentials: Credentials) -> None:
    assert page(server, credentials.browser).status_code == 200
    assert api(server, cookies={"_token": browser_token(credentials)}).status_code == 200
    assert api(server, headers=bearer(credentials.api_token)).status_code == 200


def refused_as_sign_in_again(response: requests.Response) -> bool:
    """What Airflow's UI treats as "sign in again": 401, or 403 with ``Invalid JWT token``."""
    if response.status_code == 401:
        return True
    return response.status_code == 403 and response.json().get("detail") == "Invalid JWT token"


def assert_refused(server: ApiServer, credentials: Credentials, browser_token_value: str) -> None:
    landed = page(server, credentials.browser)
    assert landed.status_code == 302 and "/auth/login/" in landed.headers["Location"], landed.text[:300]
    assert refused_as_sign_in_again(api(server, cookies={"_token": browser_token_value}))
    assert refused_as_sign_in_again(api(server, headers=bearer(credentials.api_token)))


def admin_browser(server: ApiServer) -> requests.Session:
    return browser_login(server, *ADMIN)


def cli(airflow_home: t.Any, *args: str) -> subprocess.CompletedProcess[str]:
    return run_airflow("session-epoch", *args, env=airflow_env(airflow_home))


# -- revoking, disabling, re-enabling ---------------------------------------------------


@pytest.mark.parametrize("via", ["cli", "rest", "ui-action"])
def test_revoke_ends_the_cookie_and_both_tokens_at_the_next_request(api_server: ApiServer, airflow_home: t.Any,
                                                                    make_user: t.Callable[..., Account],
                                                                    via: str) -> None:
    victim, bystander = make_user(), make_user()
    held, other = sign_in(api_server, victim), sign_in(api_server, bystander)
    old_browser_token = browser_token(held)
    assert_served(api_server, held)
    if via == "cli":
        assert "Ended every session" in cli(airflow_home, "revoke", victim.username).stdout
    else:
        admin = admin_browser(api_server)
        listing = admin.get(f"{api_server.url}/auth/users/list/", timeout=30)
        if via == "rest":
            response = admin.post(f"{api_server.url}/auth/api/v1/session_epoch/revoke/{victim.id}",
                                  headers={"X-CSRFToken": csrf_token(listing.text)}, timeout=30)
            assert response.status_code == 200, response.text
        else:
            response = admin.post(f"{api_server.url}/auth/users/action_post",
                                  data={"action": "signouteverywhere", "rowid": [str(victim.id)],
                                        "csrf_token": csrf_token(listing.text)}, allow_redirects=False, timeout=30)
            assert response.status_code == 302
    assert_refused(api_server, held, old_browser_token)
    assert_served(api_server, other)
    assert_served(api_server, sign_in(api_server, victim))  # a fresh login works


def test_disable_on_the_users_page_and_re_enable_revive_nothing(api_server: ApiServer,
                                                                make_user: t.Callable[..., Account]) -> None:
    import re

    victim = make_user()
    held = sign_in(api_server, victim)
    old_browser_token = browser_token(held)
    admin = admin_browser(api_server)

    def set_active(active: bool) -> None:
        form = admin.get(f"{api_server.url}/auth/users/edit/{victim.id}", timeout=30).text
        fields: dict[str, t.Any] = {
            name: value for name, value in re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', form)
            if name not in ("active",)
        }
        fields["roles"] = re.findall(r'<option[^>]*selected[^>]*value="([^"]+)"', form) or re.findall(
            r'<option[^>]*value="([^"]+)"[^>]*selected', form)
        if active:
            fields["active"] = "y"
        saved = admin.post(f"{api_server.url}/auth/users/edit/{victim.id}", data=fields, allow_redirects=False,
                           timeout=30)
        assert saved.status_code == 302, saved.text[:500]

    set_active(False)
    assert_refused(api_server, held, old_browser_token)
    set_active(True)
    assert_refused(api_server, held, old_browser_token)
    assert_served(api_server, sign_in(api_server, victim))


def test_cli_disable_and_enable_revive_nothing(api_server: ApiServer, airflow_home: t.Any,
                                               make_user: t.Callable[..., Account]) -> None:
    victim = make_user()
    held = sign_in(api_server, victim)
    old_browser_token = browser_token(held)
    cli(airflow_home, "disable", victim.username)
    assert_refused(api_server, held, old_browser_token)
    cli(airflow_home, "enable", victim.username)
    assert_refused(api_server, held, old_browser_token)
    status = json.loads(cli(airflow_home, "status", victim.username, "--json").stdout)
    assert status["active"] is True and status["last_reason"] == "disable" and status["last_actor"] == "cli"
    assert_served(api_server, sign_in(api_server, victim))


def test_password_change_through_the_fab_api_ends_sessions(api_server: ApiServer, admin_token: str,
                                                           make_user: t.Callable[..., Account]) -> None:
    victim = make_user()
    held = sign_in(api_server, victim)
    old_browser_token = browser_token(held)
    changed = requests.patch(f"{api_server.url}/auth/fab/v1/users/{victim.username}",
                             json={"password": "a-new-pass-2"}, headers=bearer(admin_token), timeout=30)
    assert changed.status_code == 200, changed.text
    assert_refused(api_server, held, old_browser_token)
    assert_served(api_server, sign_in(api_server, victim._replace(password="a-new-pass-2")))


def test_sign_out_other_sessions_keeps_this_browser(api_server: ApiServer, make_user: t.Callable[..., Account]) -> None:
    me = make_user()
    here, there = sign_in(api_server, me), sign_in(api_server, me)
    old_there = browser_token(there)
    profile = page(api_server, here.browser)
    assert b"Sign out all other sessions" in profile.content and b"Where you're signed in" in profile.content
    done = here.browser.post(f"{api_server.url}/auth/sessionepoch/sign-out-others/",
                             data={"csrf_token": csrf_token(profile.text)}, allow_redirects=False, timeout=30)
    assert done.status_code == 302
    assert_refused(api_server, there, old_there)
    # This browser keeps its session and was handed a new _token with the redirect.
    assert page(api_server, here.browser).status_code == 200
    assert api(api_server, cookies={"_token": browser_token(here)}).status_code == 200


def test_tokens_carry_the_generations(api_server: ApiServer, make_user: t.Callable[..., Account]) -> None:
    import jwt

    claims = jwt.decode(token(api_server, make_user().username, "user-pass-1"), options={"verify_signature": False})
    generations, key = claims["sep"][:2], claims["sep"][2]
    assert generations == [1, 0] and len(key) == 16  # stamped at creation


# -- the session registry: tokens minted from tokens, logout ---------------------------


def record_of(jwt_value: str) -> str | None:
    """The session record a JWT names (our claim's last item)."""
    import jwt

    return t.cast("str | None", jwt.decode(jwt_value, options={"verify_signature": False})["sep"][3])


def sessions_of(server: ApiServer, account: Account) -> dict[str, dict[str, t.Any]]:
    """The user's sessions, active and ended, as the admin's REST API lists them, by id."""
    listed = admin_browser(server).get(f"{server.url}/auth/api/v1/session_epoch/sessions",
                                       params={"user_id": account.id, "page_size": 100}, timeout=30)
    assert listed.status_code == 200, listed.text
    return {found["id"]: found for found in listed.json()["result"]}


def end_session(server: ApiServer, record_id: str) -> None:
    """What an admin's *End session* does, through the REST API."""
    admin = admin_browser(server)
    listing = admin.get(f"{server.url}/auth/users/list/", timeout=30)
    ended = admin.delete(f"{server.url}/auth/api/v1/session_epoch/sessions/{record_id}",
                         headers={"X-CSRFToken": csrf_token(listing.text)}, timeout=30)
    assert ended.status_code == 200 and ended.json()["result"]["active"] is False, ended.text


def ui_token(server: ApiServer, **credential: t.Any) -> str:
    """A token minted by ``POST /ui/auth/token`` for whoever the credential (cookies or headers) is."""
    minted = requests.post(f"{server.url}/ui/auth/token", json={"token_type": "cli"}, timeout=30, **credential)
    assert minted.status_code == 200, minted.text
    return t.cast(str, minted.json()["access_token"])


def test_a_password_login_for_a_token_gets_a_record_of_its_own(api_server: ApiServer,
                                                                make_user: t.Callable[..., Account]) -> None:
    me = make_user()
    held = sign_in(api_server, me)
    record = record_of(held.api_token)
    assert record is not None and record != record_of(browser_token(held))
    listed = sessions_of(api_server, me)[record]
    assert (listed["kind"], listed["via"], listed["active"]) == ("api", "api", True)
    end_session(api_server, record)
    assert refused_as_sign_in_again(api(api_server, headers=bearer(held.api_token)))
    assert_served(api_server, sign_in(api_server, me))


def test_tokens_minted_from_a_token_belong_to_its_record_and_end_with_it(api_server: ApiServer,
                                                                          make_user: t.Callable[..., Account]) -> None:
    me = make_user()
    held = sign_in(api_server, me)
    browser_record, api_record = record_of(browser_token(held)), record_of(held.api_token)
    # The UI's way (its _token cookie), then a script's with what it was given (a bearer).
    from_cookie = ui_token(api_server, cookies={"_token": browser_token(held)})
    from_minted = ui_token(api_server, headers=bearer(from_cookie))
    from_api_login = ui_token(api_server, headers=bearer(held.api_token))
    assert [record_of(minted) for minted in (from_cookie, from_minted, from_api_login)] == [
        browser_record, browser_record, api_record]
    end_session(api_server, t.cast(str, browser_record))
    for minted in (from_cookie, from_minted):
        assert refused_as_sign_in_again(api(api_server, headers=bearer(minted)))
        assert refused_as_sign_in_again(requests.post(f"{api_server.url}/ui/auth/token", json={},
                                                      headers=bearer(minted), timeout=30))
    assert api(api_server, headers=bearer(from_api_login)).status_code == 200  # another session
    end_session(api_server, t.cast(str, api_record))
    assert refused_as_sign_in_again(api(api_server, headers=bearer(from_api_login)))


def test_airflow_logout_ends_the_session_and_every_copy_of_it(api_server: ApiServer,
                                                              make_user: t.Callable[..., Account]) -> None:
    me = make_user()
    held, other = sign_in(api_server, me), sign_in(api_server, me)
    copied = {"session": held.browser.cookies["session"], "_token": browser_token(held)}
    record = t.cast(str, record_of(copied["_token"]))
    out = held.browser.get(f"{api_server.url}/auth/logout", allow_redirects=False, timeout=30)
    assert out.status_code == 307 and "/auth/login" in out.headers["location"]
    replayed = requests.Session()
    replayed.cookies.set("session", copied["session"])
    landed = page(api_server, replayed)
    assert landed.status_code == 302 and "/auth/login/" in landed.headers["Location"], landed.text[:300]
    assert refused_as_sign_in_again(api(api_server, cookies={"_token": copied["_token"]}))
    ended = sessions_of(api_server, me)[record]
    assert (ended["active"], ended["end_reason"], ended["ended_by"]) == (False, "logout", str(me.id))
    assert_served(api_server, other)  # the user's other sessions live on
    # The API's logout (a script's, with its bearer token) ends that login's session too.
    api_record = t.cast(str, record_of(other.api_token))
    successor = ui_token(api_server, headers=bearer(other.api_token))
    out = requests.get(f"{api_server.url}/api/v2/auth/logout", headers=bearer(other.api_token),
                       allow_redirects=False, timeout=30)
    assert out.status_code == 307
    assert sessions_of(api_server, me)[api_record]["end_reason"] == "logout"
    assert refused_as_sign_in_again(api(api_server, headers=bearer(successor)))


def test_airflow_logout_ends_a_bearer_token_sent_along(api_server: ApiServer,
                                                      make_user: t.Callable[..., Account]) -> None:
    me = make_user()
    held, script = sign_in(api_server, me), sign_in(api_server, me)
    api_record = t.cast(str, record_of(script.api_token))
    out = held.browser.get(f"{api_server.url}/auth/logout", headers=bearer(script.api_token),
                           allow_redirects=False, timeout=30)
    assert out.status_code == 307
    assert sessions_of(api_server, me)[api_record]["end_reason"] == "logout"
    assert refused_as_sign_in_again(api(api_server, headers=bearer(script.api_token)))


def test_a_junk_token_is_refused_not_500(api_server: ApiServer) -> None:
    for junk in ("junk", "a.b.c"):
        assert api(api_server, headers=bearer(junk)).status_code in (401, 403)
        out = requests.get(f"{api_server.url}/auth/logout", cookies={"_token": junk, "session": junk},
                           allow_redirects=False, timeout=30)
        assert out.status_code == 307


# -- the command line and the database ------------------------------------------------


def test_revoke_all_ends_everyone(api_server: ApiServer, airflow_home: t.Any,
                                  make_user: t.Callable[..., Account]) -> None:
    held = sign_in(api_server, make_user())
    old_browser_token = browser_token(held)
    assert "Ended every session" in cli(airflow_home, "revoke-all", "--yes", "--reason", "test").stdout
    assert_refused(api_server, held, old_browser_token)
    assert_served(api_server, sign_in(api_server, make_user()))


def test_unknown_user_is_one_clear_error(airflow_home: t.Any) -> None:
    proc = run_airflow("session-epoch", "revoke", "nobody-at-all", env=airflow_env(airflow_home), check=False)
    assert proc.returncode == 1
    assert "No user" in proc.stderr + proc.stdout and "Traceback" not in proc.stderr


def test_our_migrations_leave_airflows_version_tables_alone(airflow_home: t.Any) -> None:
    import sqlite3

    def versions() -> dict[str, list[str]]:
        with sqlite3.connect(airflow_home / "airflow.db") as db:
            return {table: [row[0] for row in db.execute(f"SELECT version_num FROM {table}")]
                    for table in ("alembic_version", "alembic_version_fab", "alembic_version_session_epoch")}

    before = versions()
    assert cli(airflow_home, "db", "current").stdout.strip().endswith(before["alembic_version_session_epoch"][0])
    run_airflow("db", "migrate", env=airflow_env(airflow_home))
    cli(airflow_home, "db", "upgrade")
    assert versions() == before


def test_a_security_manager_that_is_not_ours_fails_at_start(airflow_home: t.Any, tmp_path: t.Any) -> None:
    config = tmp_path / "webserver_config.py"
    config.write_text(
        "from airflow.providers.fab.auth_manager.security_manager.override import"
        " FabAirflowSecurityManagerOverride\nSECURITY_MANAGER_CLASS = FabAirflowSecurityManagerOverride\n"
    )
    proc = run_airflow("session-epoch", "status", "admin", check=False,
                       env=airflow_env(airflow_home, AIRFLOW__FAB__CONFIG_FILE=str(config)))
    assert proc.returncode != 0
    assert "must derive from flask_session_epoch.airflow.SessionEpochAirflowSecurityManager" in proc.stderr


def test_a_security_manager_derived_from_ours_is_used(airflow_home: t.Any, tmp_path: t.Any) -> None:
    config = tmp_path / "webserver_config.py"
    config.write_text(
        "from flask_session_epoch.airflow import SessionEpochAirflowSecurityManager\n"
        "class Mine(SessionEpochAirflowSecurityManager):\n    pass\nSECURITY_MANAGER_CLASS = Mine\n"
    )
    proc = run_airflow("session-epoch", "status", "admin", env=airflow_env(airflow_home,
                                                                            AIRFLOW__FAB__CONFIG_FILE=str(config)))
    assert "username:" in proc.stdout


def test_importing_the_package_defines_none_of_fabs_security_models() -> None:
    code = (
        "import sys, flask_session_epoch, flask_session_epoch.airflow as a\n"
        "assert not [m for m in sys.modules if 'flask_appbuilder.security.sqla' in m], sys.modules\n"
        "import airflow.providers.fab.auth_manager.models\n"
        "a.SessionEpochAirflowSecurityManager\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# -- cost and coexistence (in one process: see inprocess.py) -------------------------------


def inprocess(airflow_home: t.Any, what: str, **extra: str) -> dict[str, t.Any]:
    proc = subprocess.run([sys.executable, os.path.join(HERE, "inprocess.py"), what],
                          env=airflow_env(airflow_home, **extra), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return t.cast("dict[str, t.Any]", json.loads(proc.stdout.strip().splitlines()[-1]))


def test_the_check_adds_no_statement(airflow_home: t.Any) -> None:
    ours = inprocess(airflow_home, "count")
    plain = inprocess(airflow_home, "count", AIRFLOW__CORE__AUTH_MANAGER="airflow.providers.fab.auth_manager."
                                                                         "fab_auth_manager.FabAuthManager")
    print(f"\n[airflow statements] plain FAB auth manager {plain}, with flask-session-epoch {ours}")
    assert ours["api_jwt"] == plain["api_jwt"]
    assert ours["auth_page_cookie"] == plain["auth_page_cookie"]
    # The profile page also shows when the user's sessions last ended (one SELECT) and where
    # they are signed in (the list and its count: two).
    assert ours["profile_page_cookie"] == plain["profile_page_cookie"] + 3


def test_session_max_lifetime_still_works_beside_the_epoch(airflow_home: t.Any) -> None:
    result = inprocess(airflow_home, "lifetime", AIRFLOW__FAB__SESSION_MAX_LIFETIME_MINUTES="1")
    assert result == {"revoked_then_fresh_login": True, "past_max_lifetime": "login", "within": "served",
                      "past_without_a_request_between": "login"}


def test_the_uis_api_calls_keep_an_idle_limited_session_going_and_an_idle_one_ends(airflow_home: t.Any,
                                                                                  tmp_path: t.Any) -> None:
    config = tmp_path / "webserver_config.py"
    config.write_text("SESSION_EPOCH_IDLE_TIMEOUT = 120\nSESSION_EPOCH_ACTIVITY_INTERVAL = 30\n")
    result = inprocess(airflow_home, "idle", AIRFLOW__FAB__CONFIG_FILE=str(config))
    assert result == {"login": 200, "active_100s": 200, "active_200s": 200, "idle_121s": 403,
                      "end_reasons": ["idle-timeout"], "signalled": ["idle-timeout"]}


def test_the_uis_api_calls_keep_the_session_past_the_cookies_lifetime_but_not_past_its_token(
        airflow_home: t.Any) -> None:
    result = inprocess(airflow_home, "busy", AIRFLOW__FAB__SESSION_LIFETIME_MINUTES="2",
                       AIRFLOW__API_AUTH__JWT_EXPIRATION_TIME="600")
    # Plain Airflow serves a busy UI for as long as its _token lives, whatever the cookie's lifetime.
    assert result["busy"] == [200] * 9
    assert result["record_past_token_s"] <= 0  # the record never outlives the token that kept it going
    assert (result["then_busy"], result["then_idle"]) == (200, 403)


def test_a_token_minted_before_the_install_is_judged_by_its_iat(airflow_home: t.Any) -> None:
    assert inprocess(airflow_home, "legacy") == {"before": 200, "after": 403, "successor_has_a_record": True,
                                                 "successor_after": 403}


def test_where_you_are_signed_in_is_open_to_every_signed_in_user(api_server: ApiServer,
                                                                 make_user: t.Callable[..., Account]) -> None:
    account = make_user()  # Viewer: no permission of ours
    here, there = (browser_login(api_server, account.username, account.password) for _ in range(2))
    url = f"{api_server.url}/auth/sessionepoch/my-sessions/"
    listed = here.get(url, allow_redirects=False, timeout=30)
    assert listed.status_code == 200, listed.text[:300]
    assert "signed in" in listed.text and "this session" in listed.text and listed.text.count("data-session=") == 2
    [other] = re.findall(r'action="[^"]*/sessionepoch/sessions/([^/"]+)/end/"', listed.text)
    ended = here.post(f"{api_server.url}/auth/sessionepoch/sessions/{other}/end/",
                      data={"csrf_token": csrf_token(listed.text)}, headers={"Referer": url}, allow_redirects=False,
                      timeout=30)
    assert ended.status_code == 302, ended.text[:300]
    assert there.get(url, allow_redirects=False, timeout=30).status_code == 302  # signed out
    assert here.get(url, allow_redirects=False, timeout=30).status_code == 200
    anonymous = requests.get(url, allow_redirects=False, timeout=30)
    assert anonymous.status_code == 302 and "/auth/login/" in anonymous.headers["Location"]


# -- signing out of the identity provider (sso.py, in one process with the provider) -------


def test_logout_of_an_sso_login_signs_out_of_the_provider_too(airflow_home: t.Any, tmp_path: t.Any) -> None:
    import shutil

    from sso import WEBSERVER_CONFIG

    config = tmp_path / "webserver_config.py"
    config.write_text(WEBSERVER_CONFIG)
    # A database of its own: an app with another AUTH_TYPE syncs other permissions, which the
    # shared database's api-server would then serve to the tests that follow.
    home = tmp_path / "home"
    home.mkdir()
    shutil.copyfile(airflow_home / "airflow.db", home / "airflow.db")
    proc = subprocess.run([sys.executable, os.path.join(HERE, "sso.py"), "rp-logout"], capture_output=True,
                          env=airflow_env(home, AIRFLOW__FAB__CONFIG_FILE=str(config)), text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result == {
        "signed_in": True, "api_before": 200,
        # Airflow's /auth/logout sends the browser to the provider's end_session_endpoint, with the hint.
        "to": True, "query": ["client_id", "id_token_hint", "post_logout_redirect_uri", "state"],
        "hint_accepted": True, "op_sessions_revoked": [True],
        # Back on Airflow's login page, which says so; the copies of both cookies are refused.
        "back_to": "/auth/login/", "back_page": 200, "said": True,
        "end_reasons": ["rp-logout"], "api_after": 403, "ui_after": 302,
    }


# -- Shared Signals: `airflow session-epoch ssf` against the loopback transmitter -------------


def test_ssf_poll_from_airflows_cli_ends_the_users_sessions(api_server: ApiServer, airflow_home: t.Any,
                                                            make_user: t.Callable[..., Account],
                                                            tmp_path: t.Any) -> None:
    sys.path.insert(0, os.path.dirname(HERE))
    from ssf.sets import CREDENTIAL_CHANGE
    from ssf.transmitter import Transmitter

    victim = make_user()
    held = sign_in(api_server, victim)
    with Transmitter(audience="https://airflow.example.org/") as tx:
        config = tmp_path / "webserver_config.py"
        config.write_text(
            "SESSION_EPOCH_SSF_TRANSMITTERS = {'tx': {"
            f"'issuer': {tx.issuer!r}, 'jwks_uri': {tx.jwks_uri!r}, 'audience': 'https://airflow.example.org/',"
            f" 'configuration_url': {tx.configuration_url!r}, 'management_token_env': 'FSE_TEST_SSF_MGMT',"
            " 'delivery': 'poll'}}\n")
        env = airflow_env(airflow_home, AIRFLOW__FAB__CONFIG_FILE=str(config), FSE_TEST_SSF_MGMT=tx.bearer_token)
        assert "stream " in run_airflow("session-epoch", "ssf", "add", "tx", env=env).stdout
        [stream_id] = tx.streams
        jti = tx.queue(tx.make_set({CREDENTIAL_CHANGE: {}}, {"format": "email", "email": f"{victim.username}"
                                                                                        "@example.org"}), stream_id)
        assert page(api_server, held.browser).status_code == 200

        polled = run_airflow("session-epoch", "ssf", "poll", "tx", "--duration", "10", env=env)

        assert "applied 1" in polled.stdout, polled.stdout + polled.stderr
        assert tx.acked == [jti]
        assert page(api_server, held.browser).status_code != 200
        assert api(api_server, headers=bearer(held.api_token)).status_code in (401, 403)
        assert "ssf:tx:" in run_airflow("session-epoch", "status", victim.username, env=env).stdout
        run_airflow("session-epoch", "ssf", "remove", "tx", env=env)
        assert tx.streams == {}
