"""OpenID Connect logins: which user a provider's subject is, which provider session a session is.

At an OAuth login through a provider named in ``SESSION_EPOCH_BACKCHANNEL_PROVIDERS``,
``SESSION_EPOCH_FRONTCHANNEL_PROVIDERS`` or ``SESSION_EPOCH_RP_LOGOUT``, the ID token's
``iss`` and ``sub`` are recorded against the FAB user the login ended in, and a key for
its ``sid`` goes into the session's record (with the ID token itself, for RP-initiated
logout). Back- and front-channel logout (:mod:`.backchannel`, :mod:`.frontchannel`)
read them; RP-initiated logout (:mod:`.rp_logout`) reads the ID token.
"""

from __future__ import annotations

import hashlib
import logging
import typing as t

import jwt
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from . import config, request_state, schema, store
from .models import OidcSubject
from .revoke import db_session
from .state import ProviderLogin as ProviderLogin  # re-exported: its home is .state

if t.TYPE_CHECKING:
    import datetime as dt

    from sqlalchemy.engine import Connection

log = logging.getLogger("flask_session_epoch")

# OpenID Connect caps ``sub`` at 255 ASCII characters. ``sid`` and ``jti`` have no cap
# (some providers encrypt their session key into ``sid``) and are only stored hashed.
_CLAIM_LIMITS = {"sub": 255, "iss": 1024}
_DEFAULT_LIMIT = 4096


def oauth_provider(sm: t.Any, name: str) -> tuple[t.Any, dict[str, t.Any]]:
    """The Authlib client FAB made for an ``OAUTH_PROVIDERS`` entry (None if it has none), and
    the entry's ``remote_app`` settings ({} if there is no such entry)."""
    remotes = getattr(sm, "oauth_remotes", None) or {}
    spec = next((p for p in getattr(sm, "oauth_providers", None) or () if p.get("name") == name), None)
    return remotes.get(name), dict((spec or {}).get("remote_app", {}))


def claim(claims: t.Mapping[str, t.Any], name: str) -> str | None:
    """An identifying claim (``iss``, ``sub``, ``sid``, ``jti``) if it is a usable string, else None."""
    value = claims.get(name)
    limit = _CLAIM_LIMITS.get(name, _DEFAULT_LIMIT)
    return value if isinstance(value, str) and 0 < len(value) <= limit else None


_SUBJECTS = OidcSubject.__table__


def key_of(issuer: str, value: str) -> str:
    """A fixed-length key for a provider's ``sub``, ``sid`` or ``jti``: the same value
    from two providers never collides."""
    return hashlib.sha256(f"{issuer}\0{value}".encode()).hexdigest()


def _id_token_claims(response: t.Mapping[str, t.Any]) -> t.Mapping[str, t.Any] | None:
    userinfo = response.get("userinfo")
    if isinstance(userinfo, t.Mapping) and "iss" in userinfo and "sub" in userinfo:
        return userinfo  # Authlib verified the ID token (signature, nonce) to make these
    id_token = response.get("id_token")
    if not isinstance(id_token, str):
        return None
    try:
        # Came straight from the token endpoint over TLS, which OpenID Connect Core
        # (3.1.3.7) accepts in place of checking the signature.
        claims = jwt.decode(id_token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    return claims if isinstance(claims, dict) else None


def note_oauth_login(provider: str, response: t.Mapping[str, t.Any]) -> None:
    """Keep the ID token's issuer, subject and session for the login that follows.

    Called from the security manager's ``set_oauth_session``; the user is not known yet.
    """
    state = request_state.current()
    state.provider_login = None
    keeps_id_token = provider in config.get("RP_LOGOUT")
    if not (keeps_id_token or provider in config.get("BACKCHANNEL_PROVIDERS")
            or provider in config.get("FRONTCHANNEL_PROVIDERS")):
        return
    claims = _id_token_claims(response)
    issuer = claim(claims, "iss") if claims else None
    subject = claim(claims, "sub") if claims else None
    if claims is None or issuer is None or subject is None:
        log.warning(
            "OAuth login through %s returned no usable ID token (is 'openid' in its scope?):"
            " the provider's logouts cannot reach this session", provider,
        )
        return
    id_token = response.get("id_token") if keeps_id_token else None
    state.provider_login = ProviderLogin(issuer, subject, claim(claims, "sid"),
                                         id_token if isinstance(id_token, str) else None)


def take_provider_login() -> ProviderLogin | None:
    """The OpenID provider login that this request's ``user_logged_in`` concludes, if any."""
    state = request_state.current()
    login, state.provider_login = state.provider_login, None
    return login


def sid_key_of(login: ProviderLogin | None) -> str | None:
    """The key a session record keeps for its provider session (see :func:`key_of`)."""
    return None if login is None or login.sid is None else key_of(login.issuer, login.sid)


def record_login(sm: t.Any, user: t.Any, login: ProviderLogin | None) -> None:
    """At a login through a provider: remember which user its subject is."""
    if login is None or not schema.ready():
        return
    db = db_session(sm)
    try:
        record_subject(db.connection(), login, user.id, store.utcnow())
        db.commit()
    except SQLAlchemyError:
        # The login goes on; only a subject-wide logout from the provider will miss it.
        log.error("Could not record the OpenID subject of user %s", user.id, exc_info=True)
        db.rollback()


def record_subject(connection: Connection, login: ProviderLogin, user_id: int, at: dt.datetime) -> None:
    """Point the provider's subject at ``user_id``: insert, or move it (the user may have changed)."""
    subject_key = key_of(login.issuer, login.subject)
    row = {"subject_key": subject_key, "issuer": login.issuer, "subject": login.subject, "user_id": user_id,
           "last_login_at": at}
    store.upsert(connection, _SUBJECTS, "subject_key", row,
                 lambda new: {"user_id": new.user_id, "last_login_at": new.last_login_at})


def user_of_subject(connection: Connection, issuer: str, subject: str) -> int | None:
    """The user a provider's subject last logged in as, or None."""
    stmt = select(_SUBJECTS.c.user_id).where(_SUBJECTS.c.subject_key == key_of(issuer, subject))
    return connection.execute(stmt).scalar()
