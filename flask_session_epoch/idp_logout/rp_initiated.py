"""OpenID Connect RP-Initiated Logout 1.0: logging out of the app signs out of the provider too.

For a provider named in ``SESSION_EPOCH_RP_LOGOUT``, a logout first ends the session's
record here (its ID token goes with it), then sends the browser to the provider's
``end_session_endpoint`` with ``id_token_hint``, ``client_id``,
``post_logout_redirect_uri`` and a fresh ``state``. Authlib's ``create_logout_url``
builds that URL. The ``state`` travels in a short-lived cookie of ours, signed with the
app's secret key (a host's logout may clear the session, and Airflow's runs outside
Flask); when the browser comes back to ``post_logout_redirect_uri`` (by default the
login page) the state is checked and a message says how it went. Nothing here redirects
anywhere that the request names: the provider's endpoint comes from its discovery
document, the way back from the settings.

A provider that cannot be reached at logout, or advertises no ``end_session_endpoint``,
keeps the local logout, which has already happened.
"""

from __future__ import annotations

import dataclasses
import hmac
import logging
import typing as t
from urllib.parse import urljoin, urlsplit

from flask import after_this_request, current_app, flash, request
from flask_babel import gettext
from itsdangerous import BadData, URLSafeTimedSerializer

from .. import config, oidc, registry
from ..revoke import db_session, security_manager
from ..state import LogoutPlan as Plan

if t.TYPE_CHECKING:
    from flask import Flask
    from werkzeug.wrappers import Response

log = logging.getLogger("flask_session_epoch")

#: The cookie that carries a logout's ``state`` to the provider and back.
COOKIE = "session_epoch_rp_logout"
_SALT = "flask-session-epoch rp-initiated-logout"
#: Seconds the browser has to come back from the provider.
MAX_AGE = 900
_EXTENSION_KEY = "session_epoch_rp_logout"
# Outcomes that the cookie brings to the page the browser comes back to.
_SENT, _UNREACHABLE = "sent", "unreachable"


@dataclasses.dataclass(frozen=True)
class Provider:
    name: str
    remote: t.Any
    client_id: str
    metadata_url: str
    options: config.RpLogout


@dataclasses.dataclass(frozen=True)
class Departure:
    """A login being signed out that its provider should hear of."""

    provider: str
    id_token: str | None


def install(app: Flask, sm: t.Any) -> None:
    """Check ``SESSION_EPOCH_RP_LOGOUT`` against ``OAUTH_PROVIDERS``, and check the way back.

    :raises ConfigurationError: if a named provider is not an OpenID provider FAB logs in with,
        or Authlib is too old to build the logout URL.
    """
    settings: dict[str, config.RpLogout] = config.get("RP_LOGOUT", app)
    if not settings:
        return
    providers = {}
    for name, options in settings.items():
        remote, remote_app = oidc.oauth_provider(sm, name)
        if remote is None or not remote_app.get("server_metadata_url") or not remote_app.get("client_id"):
            raise config.ConfigurationError(
                f"SESSION_EPOCH_RP_LOGOUT names {name!r}, which is not an OAUTH_PROVIDERS entry with"
                " server_metadata_url and client_id in remote_app (RP-initiated logout needs AUTH_TYPE ="
                " AUTH_OAUTH and the provider's discovery document)."
            )
        if not hasattr(remote, "create_logout_url"):
            raise config.ConfigurationError("SESSION_EPOCH_RP_LOGOUT needs Authlib 1.7 or newer (create_logout_url):"
                               ' pip install "Authlib>=1.7"')
        providers[name] = Provider(name, remote, str(remote_app["client_id"]),
                                   str(remote_app["server_metadata_url"]), options)
    app.extensions[_EXTENSION_KEY] = providers
    app.before_request(check_return)


def _providers(app: Flask | None = None) -> dict[str, Provider]:
    return t.cast("dict[str, Provider]", (app or current_app).extensions.get(_EXTENSION_KEY, {}))


def departure(record_id: str | None, user_id: int | None) -> Departure | None:
    """If the login being signed out came through a provider of ours: which, with its ID token.

    Read before the record ends: its ending clears the ID token.
    """
    if record_id is None or not isinstance(user_id, int) or not _providers():
        return None
    found = registry.sign_in_of(db_session(security_manager()).connection(), record_id, user_id)
    if found is None or found[0] is None or found[0] not in _providers():
        return None
    return Departure(found[0], found[1])


def _serializer(app: Flask) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(t.cast(str, app.secret_key), salt=_SALT)


def _way_back(provider: Provider, login_url: str) -> str:
    """The absolute ``post_logout_redirect_uri``: the setting, made absolute, or the login page."""
    configured = provider.options.post_logout_redirect_uri
    return login_url if configured is None else urljoin(login_url, configured)


def plan(app: Flask, leaving: Departure, login_url: str) -> Plan | None:
    """The redirect that signs ``leaving`` out of its provider, or None to keep the local logout.

    :param login_url: the app's login page, absolute.
    """
    # Authlib's HTTP client; RP-initiated logout is only installed where Authlib is.
    import requests

    provider = _providers(app)[leaving.provider]
    way_back = _way_back(provider, login_url)
    try:
        # The provider must answer now: the browser is about to be sent to it.
        reply = requests.get(provider.metadata_url, timeout=provider.options.timeout)
        reply.raise_for_status()
        endpoint = reply.json().get("end_session_endpoint")
    except (requests.RequestException, ValueError, AttributeError) as exc:
        log.warning("RP-initiated logout: %s could not be reached (%s); signed out of this app only",
                    provider.name, type(exc).__name__)
        return Plan(way_back, _serializer(app).dumps({"p": provider.name, "o": _UNREACHABLE}), False)
    if not isinstance(endpoint, str) or urlsplit(endpoint).scheme not in ("http", "https"):
        log.warning("RP-initiated logout: %s advertises no end_session_endpoint in its discovery document;"
                    " signed out of this app only", provider.name)
        return None
    made = provider.remote.create_logout_url(post_logout_redirect_uri=way_back, id_token_hint=leaving.id_token,
                                             client_id=provider.client_id)
    cookie = _serializer(app).dumps({"p": provider.name, "o": _SENT, "s": made["state"]})
    return Plan(made["url"], cookie, True)


def set_cookie(response: Response, app: Flask, value: str, secure: bool) -> None:
    response.set_cookie(COOKIE, value, max_age=MAX_AGE, path=app.config.get("SESSION_COOKIE_PATH") or "/",
                        secure=secure or bool(app.config.get("SESSION_COOKIE_SECURE")), httponly=True,
                        samesite="Lax")


def prepare(record_id: str | None, user_id: int | None) -> Plan | None:
    """At a FAB logout, before its record ends: where the browser goes next, if its login came
    through a provider of ours (None: the host's own logout response stands)."""
    leaving = departure(record_id, user_id)
    if leaving is None:
        return None
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    return plan(app, leaving, urljoin(request.host_url, security_manager().appbuilder.get_url_for_login))


def after_logout(response: Response, made: Plan | None) -> Response:
    """A FAB logout's redirect goes on to the provider (or to the login page with a message)."""
    if made is None or response.status_code not in (301, 302, 303, 307, 308):
        return response
    response.headers["Location"] = made.location
    response.status_code = 302
    set_cookie(response, current_app, made.cookie, request.is_secure)
    return response


def _return_paths() -> set[str]:
    login = security_manager().appbuilder.get_url_for_login
    return {urlsplit(_way_back(provider, login)).path for provider in _providers().values()}


def check_return() -> None:
    """On the way back from the provider: check the ``state``, and say how the sign-out went.

    Any request to the way back with our cookie, or with a ``state``, is looked at; a
    missing, wrong or replayed ``state`` says so on the page, which is served as usual.
    """
    carried = request.cookies.get(COOKIE)
    if carried is None and "state" not in request.args:
        return
    if request.script_root + request.path not in _return_paths():
        return
    if carried is not None:
        @after_this_request
        def forget(response: Response) -> Response:
            response.delete_cookie(COOKIE, path=current_app.config.get("SESSION_COOKIE_PATH") or "/")
            return response
    try:
        loaded = _serializer(current_app).loads(carried, max_age=MAX_AGE) if carried else None
    except BadData:
        loaded = None
    data: dict[str, t.Any] = loaded if isinstance(loaded, dict) else {}
    provider = data.get("p")
    name = provider if isinstance(provider, str) and provider in _providers() else None
    if name is not None and data.get("o") == _UNREACHABLE:
        flash(gettext("You are signed out of this app, but %(provider)s could not be reached: you may still be"
                      " signed in there. Sign out on its own page, or close the browser.", provider=name), "warning")
        return
    sent = data.get("s")
    given = request.args.get("state", "")
    if name is not None and isinstance(sent, str) and hmac.compare_digest(sent.encode(), given.encode()):
        flash(gettext("You are signed out of this app and of %(provider)s.", provider=name), "info")
        return
    log.warning("RP-initiated logout: the way back from the provider carried %s state",
                "no" if not given else "a wrong or replayed")
    flash(gettext("You are signed out of this app. Signing out of the identity provider could not be confirmed:"
                  " sign out on its own page if you are still signed in there."), "warning")
