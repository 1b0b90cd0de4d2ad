"""Back-channel logout in a real Superset that users sign in to through a real OpenID provider.

Superset runs under gunicorn in a subprocess (``superset_sso_config.py``: ``AUTH_OAUTH``,
Superset's CSRF protection left on); the idpyoidc provider of ``oidc/provider.py`` runs
in this process. Browsers are ``requests`` sessions that follow the OAuth redirects, and
the provider sends its logout tokens to Superset over HTTP, as it would in production.
"""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import time
import typing as t
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

# What this module needs next to Superset: gunicorn to serve it, Authlib for FAB's OAuth
# login, idpyoidc for the provider. CI installs them all: missing is an error there.
_NEEDED = {
    "superset.app": "apache-superset==6.1.0",
    "gunicorn": "gunicorn",
    "authlib": "Authlib",
    "idpyoidc": "idpyoidc",
}
for _module, _package in _NEEDED.items():
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        try:
            __import__(_module)
        except ImportError as exc:
            pytest.fail(f"CI is set, but {_module} cannot be imported: {exc}", pytrace=False)
    else:
        pytest.importorskip(_module, reason=f"{_package} is not installed; with CI=true this is an error")

import requests  # noqa: E402
from conftest import copy_db, superset_env  # noqa: E402
from oidc.provider import OpenIDProvider  # noqa: E402

pytestmark = pytest.mark.superset

HERE = Path(__file__).resolve().parent
SSO_CONFIG_PATH = HERE / "superset_sso_config.py"
CLIENT_ID = "superset"
CLIENT_SECRET = "superset-client-secret-0123456789abcdef"
ENDED_HEADER = "X-Session-Ended"
ME = "/api/v1/me/"
# Starting Superset (two gunicorn workers, each building the app) takes about 5 s.
START_TIMEOUT = 180
HTTP_TIMEOUT = 30
_usernames = (f"sso-user{n}" for n in itertools.count(1))


class Superset(t.NamedTuple):
    """The running Superset: where it answers, and where the provider sends logouts."""

    url: str
    logout_uri: str


@pytest.fixture(scope="module")
def listener() -> t.Iterator[socket.socket]:
    """Superset's listening socket, bound first so its callback URL is known to the provider."""
    sock = socket.create_server(("127.0.0.1", 0))
    yield sock
    sock.close()


@pytest.fixture(scope="module")
def op(listener: socket.socket) -> t.Iterator[OpenIDProvider]:
    """The OpenID provider, with Superset registered as its client."""
    port = listener.getsockname()[1]
    # What FAB's url_for(".oauth_authorized", _external=True) gives behind this address.
    callback = f"http://127.0.0.1:{port}/oauth-authorized/idp"
    with OpenIDProvider(CLIENT_ID, CLIENT_SECRET, [callback]) as provider:
        yield provider


@pytest.fixture(scope="module")
def superset(
    listener: socket.socket, op: OpenIDProvider, pristine_db: Path, superset_home: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> t.Iterator[Superset]:
    """Superset behind gunicorn (two workers) on ``listener``, logging in through ``op``."""
    workdir = tmp_path_factory.mktemp("superset_sso")
    # The conftest's database already has our migrations (0002 included) applied.
    db_path = copy_db(pristine_db, workdir / "superset.db")
    env = {
        **superset_env(db_path, superset_home),
        "SUPERSET_CONFIG_PATH": str(SSO_CONFIG_PATH),
        "SESSION_EPOCH_TEST_OP_METADATA": op.metadata_url,
        "SESSION_EPOCH_TEST_CLIENT_ID": CLIENT_ID,
        "SESSION_EPOCH_TEST_CLIENT_SECRET": CLIENT_SECRET,
    }
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    log_path = workdir / "gunicorn.log"
    command = [
        sys.executable, "-m", "gunicorn", "--workers", "2", "--timeout", "60",
        # gunicorn takes over the socket bound above, so no other process can get the port.
        "--bind", f"fd://{listener.fileno()}", "--no-control-socket", "superset.app:create_app()",
    ]
    with open(log_path, "wb") as log:
        # A process group of its own: the last resort below ends gunicorn's workers with it.
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            pass_fds=(listener.fileno(),), start_new_session=True,
        )
    try:
        _wait_until_healthy(url, process, log_path)
        logout_uri = f"{url}/session_epoch/backchannel-logout/idp"
        op.backchannel_logout_uri = logout_uri
        yield Superset(url, logout_uri)
    finally:
        # gunicorn's quick shutdown: a graceful one waits out --graceful-timeout for Superset's workers.
        process.send_signal(signal.SIGQUIT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _wait_until_healthy(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if process.poll() is not None:
            pytest.fail(f"gunicorn exited {process.returncode}:\n{_tail(log_path)}", pytrace=False)
        try:
            if requests.get(f"{url}/health", timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"Superset did not answer /health within {START_TIMEOUT} s:\n{_tail(log_path)}",
                        pytrace=False)
        time.sleep(0.25)


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-5000:]


@pytest.fixture
def username(op: OpenIDProvider) -> str:
    """A new user at the provider, signed in there; Superset creates them at their first login."""
    name = next(_usernames)
    op.add_user(name, email=f"{name}@example.org", given_name="Sso", family_name="User")
    op.login_as(name)
    return name


def _no_server_error(response: requests.Response, *args: t.Any, **kwargs: t.Any) -> None:
    assert response.status_code < 500, f"{response.request.method} {response.url}: {response.status_code}"


def new_browser() -> requests.Session:
    """A browser of its own: a cookie jar, and no tolerance for a 500 from anyone."""
    session = requests.Session()
    session.hooks["response"].append(_no_server_error)
    return session


def sso_login(browser: requests.Session, superset: Superset, op: OpenIDProvider, username: str) -> str:
    """Sign in to Superset through the provider, hop by hop; returns the provider session's ``sid``."""
    start = browser.get(f"{superset.url}/login/idp", allow_redirects=False, timeout=HTTP_TIMEOUT)
    assert start.status_code == 302 and start.headers["Location"].startswith(op.issuer), start.text
    callback = f"{superset.url}/oauth-authorized/idp"
    assert parse_qs(urlsplit(start.headers["Location"]).query)["redirect_uri"] == [callback]

    at_provider = browser.get(start.headers["Location"], allow_redirects=False, timeout=HTTP_TIMEOUT)
    assert at_provider.status_code == 303 and at_provider.headers["Location"].startswith(f"{callback}?")

    back = browser.get(at_provider.headers["Location"], allow_redirects=False, timeout=HTTP_TIMEOUT)
    # Superset sends a failed OAuth login back to its login page.
    assert back.status_code == 302 and urlsplit(back.headers["Location"]).path != "/login/", back.headers
    return op.sessions(username)[-1].sid


def me(browser: requests.Session, superset: Superset) -> requests.Response:
    """``GET /api/v1/me/``, as Superset's pages do: 200 when signed in, 401 otherwise."""
    return browser.get(f"{superset.url}{ME}", timeout=HTTP_TIMEOUT)


def assert_signed_in(browser: requests.Session, superset: Superset, username: str) -> None:
    response = me(browser, superset)
    assert response.status_code == 200, response.text
    assert response.json()["result"]["username"] == username
    assert ENDED_HEADER not in response.headers


def assert_ended(browser: requests.Session, superset: Superset) -> None:
    """The session was ended by the extension: 401, and a header and body saying so."""
    response = me(browser, superset)
    assert response.status_code == 401
    assert response.headers.get(ENDED_HEADER) == "1"
    assert response.json()["session_ended"] is True


def post_logout_token(superset: Superset, token: str) -> requests.Response:
    """POST a logout token the way a provider does: a form, no cookie, no CSRF token.

    Redirects are not followed: Superset answers a form POST that fails its CSRF check
    with a redirect to the login page, which a following client would read as a 200.
    """
    return requests.post(superset.logout_uri, data={"logout_token": token}, allow_redirects=False,
                         timeout=HTTP_TIMEOUT)


def test_login_through_the_provider_signs_in_to_superset(
    superset: Superset, op: OpenIDProvider, username: str
) -> None:
    laptop, stranger = new_browser(), new_browser()

    sso_login(laptop, superset, op, username)

    assert_signed_in(laptop, superset, username)
    # Someone who never signed in gets Superset's own 401, which does not claim an ended session.
    response = me(stranger, superset)
    assert response.status_code == 401 and ENDED_HEADER not in response.headers


def test_provider_logout_ends_that_session_and_no_other(
    superset: Superset, op: OpenIDProvider, username: str
) -> None:
    laptop, phone = new_browser(), new_browser()
    sid = sso_login(laptop, superset, op, username)
    sso_login(phone, superset, op, username)
    assert_signed_in(laptop, superset, username)
    assert_signed_in(phone, superset, username)

    # idpyoidc POSTs the logout token to Superset over HTTP before this returns.
    assert op.end_session(sid) == [(superset.logout_uri, 200)]

    assert_ended(laptop, superset)
    assert_signed_in(phone, superset, username)


def test_provider_logout_needs_no_csrf_token_where_superset_wants_one(
    superset: Superset, op: OpenIDProvider, username: str
) -> None:
    laptop = new_browser()
    sid = sso_login(laptop, superset, op, username)
    # The same browser, posting to one of Superset's own endpoints without a token: refused.
    refused = laptop.post(f"{superset.url}/api/v1/dashboard/", json={"dashboard_title": "x"}, timeout=HTTP_TIMEOUT)
    assert refused.status_code == 400 and "CSRF" in refused.text

    response = post_logout_token(superset, op.logout_token(sid))

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert_ended(laptop, superset)


def test_subject_logout_ends_every_session_of_that_user(
    superset: Superset, op: OpenIDProvider, username: str
) -> None:
    laptop, phone = new_browser(), new_browser()
    sso_login(laptop, superset, op, username)
    sso_login(phone, superset, op, username)
    other = next(_usernames)
    op.add_user(other, email=f"{other}@example.org")
    op.login_as(other)
    bystander = new_browser()
    sso_login(bystander, superset, op, other)

    response = post_logout_token(superset, op.subject_logout_token(username))

    assert response.status_code == 200
    assert_ended(laptop, superset)
    assert_ended(phone, superset)
    assert_signed_in(bystander, superset, other)


def test_a_new_login_after_provider_logout_works(superset: Superset, op: OpenIDProvider, username: str) -> None:
    laptop = new_browser()
    assert op.end_session(sso_login(laptop, superset, op, username)) == [(superset.logout_uri, 200)]
    assert_ended(laptop, superset)

    sso_login(laptop, superset, op, username)

    assert_signed_in(laptop, superset, username)


def test_replayed_logout_token_is_refused(superset: Superset, op: OpenIDProvider, username: str) -> None:
    token = op.logout_token(sso_login(new_browser(), superset, op, username))
    assert post_logout_token(superset, token).status_code == 200

    replay = post_logout_token(superset, token)

    assert replay.status_code == 400
    assert replay.json() == {"error": "invalid_request", "error_description": "the logout token was already used"}
    assert replay.headers["Cache-Control"] == "no-store"


def test_logout_endpoint_refuses_what_is_not_a_logout(superset: Superset) -> None:
    assert requests.get(superset.logout_uri, allow_redirects=False, timeout=HTTP_TIMEOUT).status_code == 405
    # The reason is the one expected, not the catch-all that would hide a crash.
    for data, reason in (({}, "exactly one logout_token"), ({"logout_token": "not-a-jwt"}, "not a JWT")):
        response = requests.post(superset.logout_uri, data=data, allow_redirects=False, timeout=HTTP_TIMEOUT)
        assert response.status_code == 400, data
        assert response.json()["error"] == "invalid_request"
        assert reason in response.json()["error_description"]


def test_superset_logout_signs_out_of_the_provider_and_its_frontchannel_ends_one_session(
    superset: Superset, op: OpenIDProvider, username: str
) -> None:
    """Superset's *Logout* is FAB's: it ends the session, then goes to the provider's end_session_endpoint."""
    laptop, phone, tablet = new_browser(), new_browser(), new_browser()
    sso_login(laptop, superset, op, username)
    copy = new_browser()
    copy.cookies.update(laptop.cookies)

    out = laptop.get(f"{superset.url}/logout/", allow_redirects=False, timeout=HTTP_TIMEOUT)

    assert out.status_code == 302
    where = urlsplit(out.headers["Location"])
    metadata = requests.get(op.metadata_url, timeout=HTTP_TIMEOUT).json()
    assert f"{where.scheme}://{where.netloc}{where.path}" == metadata["end_session_endpoint"]
    query = parse_qs(where.query)
    assert set(query) == {"id_token_hint", "client_id", "post_logout_redirect_uri", "state"}
    assert query["post_logout_redirect_uri"] == [f"{superset.url}/login/"]
    assert_ended(copy, superset)
    # Back from the provider with the state: checked, and the message waits in the session
    # (Superset 6.1's React login page does not render Flask flashes).
    back = laptop.get(f"{superset.url}/login/", params={"state": query["state"][0]}, timeout=HTTP_TIMEOUT)
    assert back.status_code == 200
    from flask import Flask

    reader = Flask("reader")
    reader.secret_key = "flask-session-epoch-superset-sso-tests"  # superset_sso_config.SECRET_KEY
    flashes = reader.session_interface.get_signing_serializer(reader).loads(laptop.cookies["session"])["_flashes"]
    assert ("info", "You are signed out of this app and of idp.") in [tuple(f) for f in flashes]

    # The provider's front-channel logout of one provider session, without any cookie.
    sid = sso_login(phone, superset, op, username)
    sso_login(tablet, superset, op, username)
    front = requests.get(f"{superset.url}/session_epoch/frontchannel-logout/idp", params={"iss": op.issuer,
                         "sid": sid}, allow_redirects=False, timeout=HTTP_TIMEOUT)
    assert front.status_code == 200 and front.headers["Cache-Control"] == "no-cache, no-store"
    assert_ended(phone, superset)
    assert_signed_in(tablet, superset, username)
