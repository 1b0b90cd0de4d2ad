"""OpenID Connect Front-Channel Logout 1.0, the relying party's side.

The provider's logout page loads ``/session_epoch/frontchannel-logout/<provider>?iss=…&sid=…``
in an iframe. The records that logged in under that provider session (``iss`` and
``sid``, resolved here, so the app's cookies are not needed) end with the reason
``frontchannel-logout``. The answer is the same whatever happened (ended, replayed,
unknown, malformed): an empty page that is never cached, so that it tells a caller
nothing about which sessions exist.
"""

from __future__ import annotations

import logging
import typing as t

from flask import current_app, request
from sqlalchemy.exc import SQLAlchemyError

from .. import check, oidc, registry, signals, store
from .. import config as settings
from ..revoke import db_session, security_manager

if t.TYPE_CHECKING:
    from flask import Blueprint, Flask
    from werkzeug.wrappers import Response

log = logging.getLogger("flask_session_epoch")

#: The endpoint of the logout route, for ``url_for``.
ENDPOINT = "session_epoch.frontchannel_logout"
PATH = "/frontchannel-logout/<provider>"
_EXTENSION_KEY = "session_epoch_frontchannel"


def install(app: Flask, blueprint: Blueprint, sm: t.Any) -> None:
    """Add the route for the providers named in ``SESSION_EPOCH_FRONTCHANNEL_PROVIDERS``.

    :raises ConfigurationError: if a named provider is not an OpenID provider FAB logs in with.
    """
    names = settings.get("FRONTCHANNEL_PROVIDERS", app)
    if not names:
        return
    remotes = {name: oidc.oauth_provider(sm, name) for name in names}
    for name, (remote, remote_app) in remotes.items():
        if remote is None or not remote_app.get("server_metadata_url"):
            raise settings.ConfigurationError(
                f"SESSION_EPOCH_FRONTCHANNEL_PROVIDERS names {name!r}, which is not an OAUTH_PROVIDERS entry with"
                " server_metadata_url in remote_app (front-channel logout needs AUTH_TYPE = AUTH_OAUTH and the"
                " provider's issuer, from its discovery document)."
            )
    app.extensions[_EXTENSION_KEY] = {name: remote for name, (remote, _) in remotes.items()}
    blueprint.add_url_rule(PATH, endpoint="frontchannel_logout", view_func=logout, methods=["GET"])


def _answer() -> Response:
    """The one answer: an empty page, never cached (Front-Channel Logout 1.0, section 4)."""
    response = current_app.response_class("", status=200, mimetype="text/html")
    response.headers["Cache-Control"] = "no-cache, no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def _issuer(remote: t.Any) -> str | None:
    try:
        issuer = remote.load_server_metadata().get("issuer")
    except Exception:  # the provider's document is out of reach: nothing can be checked
        log.warning("Front-channel logout: the provider's discovery document could not be read", exc_info=True)
        return None
    return issuer if isinstance(issuer, str) else None


def logout(provider: str) -> Response:
    """``GET /session_epoch/frontchannel-logout/<provider>?iss=…&sid=…``."""
    remotes: dict[str, t.Any] = current_app.extensions.get(_EXTENSION_KEY, {})
    remote = remotes.get(provider)
    issuer, sid = request.args.get("iss"), request.args.get("sid")
    if remote is None or not issuer or not sid or len(request.args.getlist("sid")) != 1:
        return _answer()
    claims = {"iss": issuer, "sid": sid}
    if oidc.claim(claims, "iss") is None or oidc.claim(claims, "sid") is None or issuer != _issuer(remote):
        log.info("Front-channel logout from %s named another issuer or an unusable sid; nothing ended", provider)
        return _answer()
    by = f"idp:{provider}"
    db = db_session(security_manager())
    try:
        ended = registry.end_provider_session(db.connection(), oidc.key_of(issuer, sid), check.FRONTCHANNEL_LOGOUT,
                                              by, store.utcnow())
        db.commit()
    except SQLAlchemyError:
        db.rollback()
        log.error("Front-channel logout from %s could not be carried out", provider, exc_info=True)
        return _answer()
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    for record_id, owner in ended:
        signals.session_ended.send(app, record_id=record_id, user_id=owner, reason=check.FRONTCHANNEL_LOGOUT,
                                   actor=by, credentials=())
    log.info("Front-channel logout from %s: %d session(s) ended", provider, len(ended))
    return _answer()
