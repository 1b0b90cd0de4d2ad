"""Tokens that were accepted once are never accepted again, on any worker or host.

Logout tokens, SETs and Global Token Revocation JWTs share one table of used ``jti``
keys (:class:`~flask_session_epoch.models.OidcLogoutTokenUse`); each key is SHA-256
of the issuer and the ``jti``. SETs and revocation JWTs name their issuer with a
prefix (``ssf:``, ``gtr:``), so that no kind of token uses up another's ``jti``. Rows go
once the token would be refused as too old anyway.
"""

from __future__ import annotations

import typing as t

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from .. import oidc
from ..models import OidcLogoutTokenUse
from .errors import InboundError

if t.TYPE_CHECKING:
    import datetime as dt

    from sqlalchemy.engine import Connection

_USED = OidcLogoutTokenUse.__table__


def use(connection: Connection, issuer: str, jti: str, until: dt.datetime, token: str) -> None:
    """Record ``jti`` from ``issuer`` as used, in the caller's transaction, until ``until``.

    :param token: what the token is called, in the refusal.
    :raises InboundError: if it was used before; the caller must roll its transaction back.
    """
    try:
        connection.execute(_USED.insert().values(jti_key=oidc.key_of(issuer, jti), expires_at=until))
    except IntegrityError:
        raise InboundError(f"the {token} was already used") from None


def prune(connection: Connection, now: dt.datetime) -> None:
    """Forget used tokens that would be refused as too old anyway."""
    connection.execute(delete(_USED).where(_USED.c.expires_at < now))
