"""Global Token Revocation (draft-parecki-oauth-global-token-revocation; Okta's Universal Logout).

``POST /session_epoch/global-token-revocation`` with ``{"sub_id": {...}}`` (a subject
identifier, RFC 9493) stamps that user's epoch (reason ``global-token-revocation``):
every cookie session, JWT, refresh token and remember-me cookie of theirs is dead at
its next request, on every worker. The request is authenticated as
``SESSION_EPOCH_GLOBAL_TOKEN_REVOCATION`` says: a bearer token, or a JWT signed by a
configured issuer for this endpoint (``aud``), used once.

Answers, as the draft lists them (it defines no body; ours is ``{"error": ...}``):

* ``204``: the user's sessions and tokens are ended;
* ``400``: the request is malformed, or its subject of an unsupported format;
* ``401``: no valid authentication (with ``WWW-Authenticate: Bearer``);
* ``403``: the caller may not revoke that subject (an ``iss_sub`` of an issuer that is
  neither the JWT's issuer nor the linked provider's);
* ``404``: no user, or more than one, matches the subject;
* ``422``: the user could not be logged out (the database failed).
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import logging
import typing as t

import jwt
from flask import current_app, request
from sqlalchemy.exc import SQLAlchemyError

from .. import config
from ..revoke import db_session, invalidate_sessions, security_manager
from . import replay, subjects, transaction, web
from .errors import InboundError
from .keys import Keys

if t.TYPE_CHECKING:
    from flask import Blueprint, Flask
    from werkzeug.wrappers import Response

    from .settings import RevocationAuth

log = logging.getLogger("flask_session_epoch")

ENDPOINT = "session_epoch.global_token_revocation"
PATH = "/global-token-revocation"
REASON = "global-token-revocation"
_EXTENSION_KEY = "session_epoch_gtr"
_MAX_BODY = 8 * 1024
_LEEWAY = 60


class Revoker:
    """The endpoint's settings, the JWT issuer's keys, and the linked provider."""

    def __init__(self, auth: RevocationAuth, sm: t.Any) -> None:
        self.auth = auth
        self.keys = None if auth.jwt is None else Keys(lambda: auth.jwt.jwks_uri, "JWT", "issuer")  # type: ignore[union-attr]
        self.linked = subjects.LinkedProvider(sm, auth.provider)


def install(app: Flask, blueprint: Blueprint, revoker: Revoker) -> None:
    app.extensions[_EXTENSION_KEY] = revoker
    blueprint.add_url_rule(PATH, endpoint="global_token_revocation", view_func=revoke, methods=["POST"])
    web.exempt_from_csrf(app, ENDPOINT, revoke)


def _unauthorized(description: str) -> Response:
    response = web.answer(401, error="invalid_token", error_description=description)
    response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return response


def _caller(revoker: Revoker, credential: str) -> str:
    """Who is calling, from the request's bearer credential.

    :returns: the issuer whose JWT authenticated it, or ``""`` for the static bearer token.
    :raises InboundError: if the credential is not valid.
    """
    auth = revoker.auth
    if auth.bearer_token is not None:
        if not hmac.compare_digest(credential.encode("utf-8", "replace"), auth.bearer_token.encode()):
            raise InboundError("the bearer token is not the configured one")
        return ""
    issuer, keys = t.cast("t.Any", auth.jwt), t.cast(Keys, revoker.keys)
    try:
        header = jwt.get_unverified_header(credential)
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in config.get("BACKCHANNEL_ALGORITHMS"):
            raise InboundError("the JWT is not signed with an accepted public-key algorithm")
        key = keys.signing_key(header.get("kid") if isinstance(header.get("kid"), str) else None)
        claims = jwt.decode(credential, key.key, algorithms=[algorithm], issuer=issuer.issuer,
                            audience=issuer.audience, leeway=_LEEWAY, options={"require": ["iss", "aud", "exp", "iat"]})
    except jwt.PyJWTError as exc:
        raise InboundError(f"the JWT is not valid ({type(exc).__name__})") from None
    jti = claims.get("jti")
    if isinstance(jti, str) and jti:
        until = dt.datetime.fromtimestamp(float(claims["exp"]) + _LEEWAY, dt.timezone.utc).replace(tzinfo=None)
        db = db_session(security_manager())

        def use_once() -> None:
            replay.use(db.connection(), f"gtr:{issuer.issuer}", jti, until, "JWT")
            db.commit()

        transaction.carry_out(db, use_once, "Global Token Revocation JWT")
    return t.cast(str, issuer.issuer)


def _subject() -> subjects.Subject:
    raw = request.stream.read(_MAX_BODY + 1)  # never more, whatever Content-Length says
    if request.mimetype != "application/json" or len(raw) > _MAX_BODY:
        raise InboundError("the body must be a JSON object of at most 8 KiB")
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if not isinstance(body, dict) or set(body) != {"sub_id"}:
        raise InboundError('the body must be {"sub_id": {...}}')
    subject = subjects.parse(body["sub_id"])
    if not subject.supported:
        raise InboundError(f"subject identifiers of format {subject.format!r} are not supported")
    if subject.format == "complex":
        raise InboundError("Global Token Revocation takes a user's identifier, not a complex subject")
    return subject


def revoke() -> Response:
    revoker: Revoker = current_app.extensions[_EXTENSION_KEY]
    scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        return _unauthorized("the request needs a bearer credential")
    try:
        caller = _caller(revoker, credential.strip())
    except InboundError as exc:
        log.warning("Refused a Global Token Revocation request: %s", exc)
        return _unauthorized(str(exc))
    except SQLAlchemyError:
        log.exception("Global Token Revocation could not record its JWT")
        return web.answer(422, error="the request could not be carried out")
    try:
        subject = _subject()
    except InboundError as exc:
        return web.answer(400, error="invalid_request", error_description=str(exc))
    try:
        linked = revoker.linked.issuer()
    except ConnectionError:
        log.exception("Global Token Revocation could not read its linked provider's metadata")
        return web.answer(422, error="the request could not be carried out")
    allowed = {issuer for issuer in (caller, linked) if issuer}
    if any(kind == "iss_sub" and iss not in allowed for kind, _, iss in subject.identifiers):
        return web.answer(403, error="the caller may not revoke subjects of that issuer")
    sm = security_manager()
    try:
        user_id = subjects.user_of(db_session(sm), sm, subject, linked)
        if user_id is None:
            log.info("Global Token Revocation: no single user matches the %s subject", subjects.describe(subject))
            return web.answer(404, error="no such user")
        invalidate_sessions(user_id, REASON, actor=f"gtr:{caller or 'bearer'}"[:256])
    except SQLAlchemyError:
        log.exception("Global Token Revocation could not end the sessions of a user")
        db_session(sm).rollback()
        return web.answer(422, error="the user could not be logged out")
    log.info("Global Token Revocation: ended every session and token of user %s", user_id)
    return web.answer(204)
