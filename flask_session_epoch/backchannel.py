"""OpenID Connect Back-Channel Logout 1.0, the relying party's side.

The provider POSTs a signed ``logout_token`` to
``/session_epoch/backchannel-logout/<provider>``. A valid token with a ``sid`` ends
the sessions that logged in under that provider session; one with only a ``sub``
stamps the epoch of the user that subject logged in as (reason ``idp-logout``).
Every failure answers 400 with an OAuth-style ``error``; nothing here answers 500.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
import threading
import time
import typing as t

import jwt
from flask import current_app, jsonify, request
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

from . import config, listeners, oidc, registry, signals, store
from .revoke import db_session, security_manager

if t.TYPE_CHECKING:
    from flask import Blueprint, Flask
    from werkzeug.wrappers import Response

log = logging.getLogger("flask_session_epoch")

#: The member of ``events`` that makes a JWT a back-channel logout token.
BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
#: The endpoint of the logout route, for ``url_for``.
ENDPOINT = "session_epoch.backchannel_logout"
# Header ``typ`` values we accept: the explicit type, and none or plain JWT from
# providers that predate explicit typing.
_ACCEPTED_TYPES = {None, "jwt", "logout+jwt", "application/logout+jwt"}
# A logout token is a few hundred bytes; anything this long is not one.
_MAX_TOKEN_LENGTH = 16 * 1024
# How long a fetched JWKS is trusted before it is fetched again (an unknown key id
# fetches it at once), and how long one fetch may take.
_JWKS_LIFESPAN_SECONDS = 300
_HTTP_TIMEOUT_SECONDS = 10
# An unknown key id fetches the keys again at most this often, per provider.
_REFETCH_INTERVAL_SECONDS = 10
_EXTENSION_KEY = "session_epoch_backchannel"
# How often a logout is tried when the database gives up on its transaction.
_ATTEMPTS = 3


class LogoutTokenError(Exception):
    """A logout request that must be refused; the message says why (and is sent back)."""


@dataclasses.dataclass(frozen=True)
class LogoutToken:
    """The claims of a validated logout token that decide what ends."""

    issuer: str
    jti: str
    subject: str | None
    sid: str | None
    #: Until when the token could still be presented: its ``jti`` is kept that long.
    usable_until: dt.datetime


class Provider:
    """One OpenID provider that may send logout tokens: where its keys are, who we are to it."""

    def __init__(self, remote: t.Any, client_id: str) -> None:
        self.client_id = client_id
        self._remote = remote
        self._jwks: jwt.PyJWKClient | None = None
        self._lock = threading.Lock()
        self._last_refetch: float | None = None

    def metadata(self) -> t.Mapping[str, t.Any]:
        """The provider's discovery document, as Authlib's client loaded (and cached) it."""
        metadata = self._remote.load_server_metadata()
        if not isinstance(metadata.get("issuer"), str) or not isinstance(metadata.get("jwks_uri"), str):
            raise LogoutTokenError("the provider's metadata has no issuer or jwks_uri")
        return t.cast("t.Mapping[str, t.Any]", metadata)

    def _jwks_client(self) -> jwt.PyJWKClient:
        with self._lock:
            if self._jwks is None:
                self._jwks = jwt.PyJWKClient(
                    self.metadata()["jwks_uri"], cache_keys=False, cache_jwk_set=True,
                    lifespan=_JWKS_LIFESPAN_SECONDS, timeout=_HTTP_TIMEOUT_SECONDS,
                )
            return self._jwks

    def _may_refetch(self) -> bool:
        """Whether an unknown ``kid`` may fetch the JWKS again now: once per interval per provider.

        Anyone can send a token with a made-up ``kid``; without a limit each one would
        make this app fetch the provider's keys.
        """
        with self._lock:
            now = time.monotonic()
            if self._last_refetch is not None and now - self._last_refetch < _REFETCH_INTERVAL_SECONDS:
                return False
            self._last_refetch = now
            return True

    def signing_key(self, kid: str | None) -> jwt.PyJWK:
        """The provider's public key with this ``kid``; an unknown one refetches the JWKS,
        at most once per ``_REFETCH_INTERVAL_SECONDS``."""
        client = self._jwks_client()
        cache = client.jwk_set_cache
        # A set that is fetched now is fresh already: fetching it again would not help.
        fetched_before = cache is not None and cache.get() is not None
        for refresh in (False, True):
            if refresh and not (fetched_before and self._may_refetch()):
                break
            try:
                keys = [key for key in client.get_jwk_set(refresh).keys if key.public_key_use in ("sig", None)]
            except jwt.PyJWKClientError as exc:
                raise LogoutTokenError(f"the provider's keys could not be fetched ({exc})") from None
            if kid is None and len(keys) == 1:
                return keys[0]
            for key in keys:
                if kid is not None and key.key_id == kid:
                    return key
        raise LogoutTokenError("the logout token is signed with a key the provider does not publish")


def install(app: Flask, blueprint: Blueprint, sm: t.Any) -> None:
    """Add the logout route for the providers named in ``SESSION_EPOCH_BACKCHANNEL_PROVIDERS``.

    :raises RuntimeError: if a named provider is not an OpenID provider FAB logs in with.
    """
    names = config.get("BACKCHANNEL_PROVIDERS", app)
    if not names:
        return
    if isinstance(names, str):
        raise RuntimeError("SESSION_EPOCH_BACKCHANNEL_PROVIDERS must be a list of OAUTH_PROVIDERS names.")
    if not jwt.algorithms.has_crypto:
        raise RuntimeError(
            "Back-channel logout checks RSA and EC signatures, which needs the cryptography package:"
            ' pip install "flask-session-epoch[oidc]".'
        )
    remotes = getattr(sm, "oauth_remotes", None) or {}
    providers = {}
    for name in names:
        spec = next((p for p in sm.oauth_providers if p.get("name") == name), None)
        if name not in remotes or spec is None:
            raise RuntimeError(
                f"SESSION_EPOCH_BACKCHANNEL_PROVIDERS names {name!r}, which is not in OAUTH_PROVIDERS"
                " (back-channel logout needs AUTH_TYPE = AUTH_OAUTH)."
            )
        remote_app = spec.get("remote_app", {})
        if not remote_app.get("server_metadata_url") or not remote_app.get("client_id"):
            raise RuntimeError(
                f"OAUTH_PROVIDERS entry {name!r} needs server_metadata_url and client_id in remote_app"
                " for back-channel logout: the provider's issuer and keys come from its discovery document."
            )
        providers[name] = Provider(remotes[name], str(remote_app["client_id"]))
    app.extensions[_EXTENSION_KEY] = providers
    blueprint.add_url_rule(
        "/backchannel-logout/<provider>", endpoint="backchannel_logout", view_func=logout, methods=["POST"]
    )
    # The provider cannot send a CSRF token. Flask-WTF may be set up after us, so the
    # exemption is (re)applied just before its check would run.
    app.before_request_funcs.setdefault(None, []).insert(0, _exempt_from_csrf)


def _exempt_from_csrf() -> None:
    if request.endpoint == ENDPOINT:
        csrf = current_app.extensions.get("csrf")
        if csrf is not None:
            csrf.exempt(logout)


def _claims_error(exc: jwt.PyJWTError) -> str:
    if isinstance(exc, jwt.ExpiredSignatureError):
        return "the logout token has expired"
    if isinstance(exc, jwt.ImmatureSignatureError):
        return "the logout token was issued in the future"
    if isinstance(exc, jwt.InvalidIssuerError):
        return "the logout token comes from another issuer"
    if isinstance(exc, jwt.InvalidAudienceError):
        return "the logout token is meant for another client"
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"the logout token has no {exc.claim} claim"
    if isinstance(exc, jwt.InvalidSignatureError):
        return "the logout token's signature is invalid"
    # PyJWT 2.10 and later check the type of sub and jti itself.
    for claim in ("Subject", "JTI"):
        error = getattr(jwt.exceptions, f"Invalid{claim}Error", None)
        if error is not None and isinstance(exc, error):
            return f"the logout token's {'sub' if claim == 'Subject' else 'jti'} claim is not a valid string"
    return f"the logout token is invalid ({exc})"


def _optional_string(claims: t.Mapping[str, t.Any], name: str) -> str | None:
    """The claim, None if absent; present but unusable is a refusal."""
    value = oidc.claim(claims, name)
    if value is None and claims.get(name) is not None:
        raise LogoutTokenError(f"the logout token's {name} claim is not a valid string")
    return value


def validate(token: t.Any, provider: Provider) -> LogoutToken:
    """Check a logout token the way Back-Channel Logout 1.0 (section 2.6) asks.

    :raises LogoutTokenError: saying what is wrong with it.
    """
    if not isinstance(token, str) or not token or len(token) > _MAX_TOKEN_LENGTH:
        raise LogoutTokenError("the request has no usable logout_token")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise LogoutTokenError("the logout_token is not a JWT") from None
    algorithm = header.get("alg")
    if not isinstance(algorithm, str) or algorithm.lower() == "none":
        raise LogoutTokenError("the logout token is not signed")
    if algorithm not in config.get("BACKCHANNEL_ALGORITHMS"):
        raise LogoutTokenError(f"the logout token is signed with {algorithm}, which is not accepted")
    typ = header.get("typ")
    if typ is not None and (not isinstance(typ, str) or typ.lower() not in _ACCEPTED_TYPES):
        raise LogoutTokenError(f"a token of type {typ!r} is not a logout token")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise LogoutTokenError("the logout token's kid is not a string")
    issuer = provider.metadata()["issuer"]
    leeway = float(config.get("BACKCHANNEL_LEEWAY"))
    # Checked before the signature, so a token that could never pass fetches no keys.
    _precheck(token, issuer, provider.client_id, leeway)
    key = provider.signing_key(kid)
    try:
        claims = jwt.decode(
            token, key.key, algorithms=[algorithm], audience=provider.client_id, issuer=issuer,
            leeway=leeway, options={"require": ["iss", "aud", "iat", "jti"]},
        )
    except jwt.PyJWTError as exc:
        raise LogoutTokenError(_claims_error(exc)) from None
    return _checked_claims(claims, issuer, leeway)


def _precheck(token: str, issuer: str, client_id: str, leeway: float) -> None:
    """Issuer, audience and freshness from the payload as sent, before any key is looked up.

    Nothing here is trusted: the same checks run again on the verified claims.
    """
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise LogoutTokenError("the logout_token is not a JWT") from None
    for name in ("iss", "aud"):
        if name not in claims:
            raise LogoutTokenError(f"the logout token has no {name} claim")
    if claims["iss"] != issuer:
        raise LogoutTokenError("the logout token comes from another issuer")
    audience = claims["aud"]
    if audience != client_id and not (isinstance(audience, list) and client_id in audience):
        raise LogoutTokenError("the logout token is meant for another client")
    _check_iat(claims.get("iat"), leeway)


def _check_iat(iat: t.Any, leeway: float) -> float:
    if iat is None:
        raise LogoutTokenError("the logout token has no iat claim")
    if isinstance(iat, bool) or not isinstance(iat, (int, float)) or not math.isfinite(iat):
        raise LogoutTokenError("the logout token's iat is not a number")
    now = time.time()
    if iat > now + leeway:
        raise LogoutTokenError("the logout token was issued in the future")
    if iat < now - float(config.get("BACKCHANNEL_MAX_AGE")) - leeway:
        raise LogoutTokenError("the logout token is too old")
    return float(iat)


def _checked_claims(claims: dict[str, t.Any], issuer: str, leeway: float) -> LogoutToken:
    """The checks PyJWT does not make: freshness, events, nonce, sub/sid, jti."""
    iat = _check_iat(claims["iat"], leeway)
    max_age = float(config.get("BACKCHANNEL_MAX_AGE"))
    events = claims.get("events")
    if not isinstance(events, dict) or not isinstance(events.get(BACKCHANNEL_EVENT), dict):
        raise LogoutTokenError("the logout token has no back-channel logout event")
    if "nonce" in claims:
        raise LogoutTokenError("a logout token must not contain a nonce")
    subject, sid = _optional_string(claims, "sub"), _optional_string(claims, "sid")
    if subject is None and sid is None:
        raise LogoutTokenError("the logout token names neither a subject (sub) nor a session (sid)")
    jti = t.cast(str, _optional_string(claims, "jti"))  # PyJWT made sure it is there
    exp = claims.get("exp")  # PyJWT refused the token if this has passed
    until = max(float(exp) if isinstance(exp, (int, float)) else 0.0, iat + max_age) + leeway
    usable_until = dt.datetime.fromtimestamp(until, dt.timezone.utc).replace(tzinfo=None)
    return LogoutToken(issuer, jti, subject, sid, usable_until)


def _bad_request(description: str) -> Response:
    response = jsonify(error="invalid_request", error_description=description)
    response.status_code = 400
    response.headers["Cache-Control"] = "no-store"
    return response


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
    except LogoutTokenError as exc:
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
    response = current_app.response_class(status=200)
    response.headers["Cache-Control"] = "no-store"
    return response


def _apply(provider: str, token: LogoutToken) -> int | None:
    """Record the token as used and end what it names, in one transaction.

    A transaction that the database gave up on (a deadlock, a lock timeout, SQLite's
    "database is locked") is tried again: it wrote nothing, and the provider may never
    send this logout again.

    :returns: the user whose sessions ended, when known.
    :raises LogoutTokenError: if the token was used before.
    """
    session = db_session(security_manager())
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            user_id = _apply_once(session, provider, token)
        except OperationalError:
            session.rollback()
            if attempt == _ATTEMPTS:
                raise
            log.warning("Back-channel logout from %s hit a transient database error; trying again", provider)
            time.sleep(0.05 * attempt)
        except (LogoutTokenError, SQLAlchemyError):
            session.rollback()
            raise
        else:
            break
    _prune(session)
    return user_id


def _apply_once(session: t.Any, provider: str, token: LogoutToken) -> int | None:
    now = store.utcnow()
    connection = session.connection()
    try:
        oidc.use_jti(connection, oidc.key_of(token.issuer, token.jti), token.usable_until)
    except IntegrityError:
        raise LogoutTokenError("the logout token was already used") from None
    user_id = oidc.user_of_subject(connection, token.issuer, token.subject) if token.subject else None
    ended: list[tuple[str, int]] = []
    if token.sid is not None:
        # Only the sessions of that provider session end, as the spec asks even with a sub.
        ended = registry.end_provider_session(connection, oidc.key_of(token.issuer, token.sid), "idp-logout",
                                              f"idp:{provider}", now)
    elif user_id is not None:
        actor = f"idp:{provider}"
        store.stamp_user(connection, user_id, now, "idp-logout", actor)
        listeners.queue_signal(session, user_id=user_id, reason="idp-logout", actor=actor, at=now)
    session.commit()
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    for record_id, owner in ended:
        signals.session_ended.send(app, record_id=record_id, user_id=owner, reason="idp-logout",
                                   actor=f"idp:{provider}")
    return user_id


def _prune(session: t.Any) -> None:
    """Forget records that can no longer matter, in a transaction of its own.

    Apart from the logout's: on MySQL/MariaDB a range DELETE next to the logout's inserts
    would let two concurrent logouts deadlock. A failure here only postpones the clean-up.
    """
    try:
        oidc.prune(session.connection(), store.utcnow())
        session.commit()
    except SQLAlchemyError:
        log.warning("Could not prune back-channel logout records; will try again next time", exc_info=True)
        session.rollback()
