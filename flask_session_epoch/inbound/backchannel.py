"""OpenID Connect Back-Channel Logout 1.0, the relying party's side.

The provider POSTs a signed ``logout_token`` to
``/session_epoch/backchannel-logout/<provider>``. A valid token with a ``sid`` ends
the sessions that logged in under that provider session; one with only a ``sub``
stamps the epoch of the user that subject logged in as (reason ``idp-logout``).
Every failure answers 400 with an OAuth-style ``error``; nothing here answers 500.
Checking the token itself is :mod:`.logout_tokens`' business.
"""

from __future__ import annotations

import logging
import typing as t

import jwt
from flask import current_app, request

from .. import config, listeners, oidc, registry, signals, store
from ..revoke import db_session, security_manager
from . import replay, transaction, web
from .errors import InboundError
from .logout_tokens import LogoutToken, Provider, validate

if t.TYPE_CHECKING:
    from flask import Blueprint, Flask
    from werkzeug.wrappers import Response

log = logging.getLogger("flask_session_epoch")

#: The endpoint of the logout route, for ``url_for``.
ENDPOINT = "session_epoch.backchannel_logout"
_EXTENSION_KEY = "session_epoch_backchannel"
# How often a logout is tried when the database gives up on its transaction.
_ATTEMPTS = 3


def install(app: Flask, blueprint: Blueprint, sm: t.Any) -> None:
    """Add the logout route for the providers named in ``SESSION_EPOCH_BACKCHANNEL_PROVIDERS``.

    :raises ConfigurationError: if a named provider is not an OpenID provider FAB logs in with.
    """
    names = config.get("BACKCHANNEL_PROVIDERS", app)
    if not names:
        return
    if isinstance(names, str):
        raise config.ConfigurationError("SESSION_EPOCH_BACKCHANNEL_PROVIDERS must be a list of OAUTH_PROVIDERS names.")
    if not jwt.algorithms.has_crypto:
        raise config.ConfigurationError(
            "Back-channel logout checks RSA and EC signatures, which needs the cryptography package:"
            ' pip install "flask-session-epoch[oidc]".'
        )
    providers = {}
    for name in names:
        remote, remote_app = oidc.oauth_provider(sm, name)
        if remote is None:
            raise config.ConfigurationError(
                f"SESSION_EPOCH_BACKCHANNEL_PROVIDERS names {name!r}, which is not in OAUTH_PROVIDERS"
                " (back-channel logout needs AUTH_TYPE = AUTH_OAUTH)."
            )
        if not remote_app.get("server_metadata_url") or not remote_app.get("client_id"):
            raise config.ConfigurationError(
                f"OAUTH_PROVIDERS entry {name!r} needs server_metadata_url and client_id in remote_app"
                " for back-channel logout: the provider's issuer and keys come from its discovery document."
            )
        providers[name] = Provider(remote, str(remote_app["client_id"]))
    app.extensions[_EXTENSION_KEY] = providers
    blueprint.add_url_rule(
        "/backchannel-logout/<provider>", endpoint="backchannel_logout", view_func=logout, methods=["POST"]
    )
    web.exempt_from_csrf(app, ENDPOINT, logout)


def _bad_request(description: str) -> Response:
    return web.answer(400, error="invalid_request", error_description=description)


def logout(provider: str) -> Response:
    """``POST /session_epoch/backchannel-logout/<provider>``: the provider logs a user out."""
    providers: dict[str, Provider] = current_app.extensions.get(_EXTENSION_KEY, {})
    if provider not in providers:
        return _bad_request("unknown provider")
    tokens = request.form.getlist("logout_token")
    if len(tokens) != 1:
        return _bad_request("the request must carry exactly one logout_token")
    try:
        token = validate(tokens[0], providers[provider])
        user_id = _apply(provider, token)
    except InboundError as exc:
        log.warning("Refused a back-channel logout from %s: %s", provider, exc)
        return _bad_request(str(exc))
    except Exception:  # the provider must hear "failed", never a 500
        log.exception("Back-channel logout from %s failed", provider)
        return _bad_request("the logout could not be carried out")
    log.info(
        "Back-channel logout from %s: %s", provider,
        f"provider session of user {user_id}" if token.sid else f"all sessions of user {user_id}",
    )
    signals.backchannel_logout.send(
        current_app._get_current_object(),  # type: ignore[attr-defined]
        provider=provider, subject=token.subject, sid=token.sid, user_id=user_id,
    )
    return web.answer(200)


def _apply(provider: str, token: LogoutToken) -> int | None:
    """Record the token as used and end what it names, in one transaction (see :mod:`.transaction`).

    :returns: the user whose sessions ended, when known.
    :raises InboundError: if the token was used before.
    """
    session = db_session(security_manager())
    return transaction.carry_out(session, lambda: _apply_once(session, provider, token),
                                 f"Back-channel logout from {provider}")


def _apply_once(session: t.Any, provider: str, token: LogoutToken) -> int | None:
    now = store.utcnow()
    connection = session.connection()
    replay.use(connection, token.issuer, token.jti, token.usable_until, "logout token")
    user_id = oidc.user_of_subject(connection, token.issuer, token.subject) if token.subject else None
    ended: list[tuple[str, int]] = []
    if token.sid is not None:
        # Only the sessions of that provider session end, as the spec asks even with a sub.
        ended = registry.end_provider_session(connection, oidc.key_of(token.issuer, token.sid), "idp-logout",
                                              f"idp:{provider}", now)
    elif user_id is not None:
        actor = f"idp:{provider}"
        store.stamp_user(connection, user_id, now, "idp-logout", actor, config.limits())
        listeners.queue_signal(session, user_id=user_id, reason="idp-logout", actor=actor, at=now)
    session.commit()
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    for record_id, owner in ended:
        signals.session_ended.send(app, record_id=record_id, user_id=owner, reason="idp-logout",
                                   actor=f"idp:{provider}", credentials=())
    return user_id
