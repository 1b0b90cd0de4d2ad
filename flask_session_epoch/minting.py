"""The record of the JWTs minted in a request, and how long it lasts: as long as its longest token.

flask-jwt-extended tells the claims callback only the identity; its encoder knows the
token's type and lifetime. :func:`install_encoder` wraps the encoder, so each token gets
an ``exp`` that its record covers: an API login without ``"refresh": true`` ends with
its access token, one with a refresh token lasts as long as that, and an access token
minted by a refresh never outlives the refresh token.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import math
import typing as t

from sqlalchemy.exc import SQLAlchemyError

from . import check, config, logins, registry, request_state, store
from .revoke import db_session

if t.TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from .store import EpochState

log = logging.getLogger("flask_session_epoch")


def _extend(sm: t.Any, record_id: str, user_id: int, expires_at: dt.datetime, now: dt.datetime) -> None:
    """Make the record started in this request last until ``expires_at`` (its second, longer token).

    On a connection of its own: committing the host's session would expire the user it
    has loaded, and minting reads that user again.
    """
    engine = t.cast("Engine", db_session(sm).get_bind())
    try:
        with engine.begin() as connection:
            registry.touch(connection, record_id, now, expires_at)
    except SQLAlchemyError:
        log.error("Could not extend the session %s… of user %s", record_id[:8], user_id, exc_info=True)
        logins.go_on_without_record(user_id)  # or its refresh token dies with its access token


def api_record(sm: t.Any, user_id: int, state: EpochState, verified: t.Mapping[str, t.Any] | None) -> str | None:
    """The record of the JWT being minted, which lasts at least as long as that token.

    A token minted from another (a refresh) belongs to that token's record, and
    :func:`token_expiry` keeps it within that token's life. Otherwise the first token
    of the request starts an API login's record, with its own expiry; a longer second
    one (the refresh token of a login that asked for one) extends it. A login without
    ``"refresh": true`` therefore ends with its access token.

    :param verified: the claims of the token this request was authenticated with, if any.
    """
    minting = request_state.current()
    expires_at, now = minting.minting_expires, store.utcnow()
    if minting.minting_record is None:
        record_id = None if verified is None else check.token_record_id(verified, config.get("JWT_CLAIM"))
        if record_id is None:
            record_id = logins.start_api(sm, user_id, state, now, expires_at)
            minting.minting_record_expires = expires_at
        minting.minting_record = record_id
    elif (minting.minting_record_expires is not None and expires_at is not None
          and expires_at > minting.minting_record_expires):
        _extend(sm, minting.minting_record, user_id, expires_at, now)
        minting.minting_record_expires = expires_at
    return minting.minting_record


def token_expiry(token_type: str, expires_delta: t.Any, source: t.Mapping[str, t.Any] | None,
                 now: dt.datetime) -> tuple[dt.datetime, int | None]:
    """The last moment a JWT minted now can be presented, and the ``exp`` claim that says so.

    Its lifetime (``expires_delta``, else flask-jwt-extended's setting for its type), in
    whole seconds as ``exp`` counts them, and never past the token it is minted from.

    :param source: the claims of the token this request was authenticated with (a refresh token).
    :returns: ``(expiry as stored, exp)``; ``exp`` is None for a token that never expires.
    """
    from flask_jwt_extended.config import config as jwt_config

    if expires_delta is None:
        expires_delta = jwt_config.access_expires if token_type == "access" else jwt_config.refresh_expires
    last = None if expires_delta is False else now + expires_delta
    source_exp = None if source is None else source.get("exp")
    if type(source_exp) is int:
        until = dt.datetime.fromtimestamp(source_exp, dt.timezone.utc).replace(tzinfo=None)
        last = until if last is None else min(last, until)
    if last is None:
        return now + logins.NO_EXPIRY, None
    exp = math.floor(last.replace(tzinfo=dt.timezone.utc).timestamp())
    return dt.datetime.fromtimestamp(exp, dt.timezone.utc).replace(tzinfo=None), exp


def install_encoder(jwt_manager: t.Any, verified: t.Callable[[], t.Mapping[str, t.Any] | None]) -> None:
    """Make flask-jwt-extended give every token an ``exp`` that its record covers (see :func:`api_record`).

    flask-jwt-extended tells its claims callback only the identity; its encoder knows
    the token's type and lifetime. The expiry goes into the request's state for the
    record, and into the token as ``exp``.
    """
    encode = jwt_manager._encode_jwt_from_config
    if getattr(encode, "_session_epoch", False):
        return

    @functools.wraps(encode)
    def encode_jwt(identity: t.Any, token_type: str, claims: dict[str, t.Any] | None = None, fresh: t.Any = False,
                   expires_delta: t.Any = None, headers: dict[str, t.Any] | None = None) -> str:
        expires_at, exp = token_expiry(token_type, expires_delta, verified(), store.utcnow())
        request_state.current().minting_expires = expires_at
        if exp is not None:
            claims = {**(claims or {}), "exp": exp}
        return t.cast(str, encode(identity, token_type, claims=claims, fresh=fresh, expires_delta=expires_delta,
                                  headers=headers))

    encode_jwt._session_epoch = True  # type: ignore[attr-defined]
    jwt_manager._encode_jwt_from_config = encode_jwt
