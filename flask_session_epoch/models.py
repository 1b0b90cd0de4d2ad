"""Tables that hold the invalidation epochs and the back-channel logout records.

They live on a metadata of their own, not on Flask-AppBuilder's: the host's
``create_all`` never makes them (our migrations do), and Airflow's FAB provider, which
swaps FAB's metadata for its own copy of the user tables, never sees them. Their
foreign keys name ``ab_user`` by name only.
"""

from __future__ import annotations

import typing as t

from sqlalchemy import Column, DateTime, ForeignKey, Index, Integer, MetaData, String, Text, UniqueConstraint
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import declarative_base

#: The metadata of every table of ours.
metadata = MetaData()
Model: t.Any = declarative_base(metadata=metadata)

# Naive UTC. MySQL/MariaDB ``DATETIME`` drops fractions unless asked for them.
UtcDateTime = (
    DateTime(timezone=False)
    .with_variant(mysql.DATETIME(fsp=6), "mysql")
    .with_variant(mysql.DATETIME(fsp=6), "mariadb")
)

#: Primary key of the single row of :class:`GlobalSessionEpoch`.
GLOBAL_ROW_ID = 1


class UserSessionEpoch(Model):
    """One user's epoch: sessions and tokens issued before it are dead."""

    __tablename__ = "ab_user_session_epoch"
    __table_args__ = (UniqueConstraint("user_id", name="uq_ab_user_session_epoch_user_id"),)

    id = Column(Integer, primary_key=True)
    user_id = Column(Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False)
    #: When the epoch was last stamped (UTC). It only moves forward.
    sessions_invalidated_at = Column(UtcDateTime, nullable=False)
    #: Bumped by every stamp; sessions and tokens remember the value they saw.
    generation = Column(Integer, nullable=False, default=0)
    reason = Column(String(64))
    actor = Column(String(256))

    def __repr__(self) -> str:
        return (
            f"<UserSessionEpoch user_id={self.user_id} generation={self.generation}"
            f" at={self.sessions_invalidated_at}>"
        )


class GlobalSessionEpoch(Model):
    """The epoch that ends everyone's sessions at once (a single row)."""

    __tablename__ = "ab_session_epoch_global"

    id = Column(Integer, primary_key=True, autoincrement=False)
    sessions_invalidated_at = Column(UtcDateTime, nullable=False)
    generation = Column(Integer, nullable=False, default=0)
    reason = Column(String(64))
    actor = Column(String(256))

    def __repr__(self) -> str:
        return f"<GlobalSessionEpoch generation={self.generation} at={self.sessions_invalidated_at}>"


class OidcSubject(Model):
    """Which FAB user an OpenID provider's subject logged in as (recorded at each OAuth login).

    Back-channel logout tokens name the subject (``iss`` + ``sub``); this is how it
    finds the user whose epoch to stamp.
    """

    __tablename__ = "ab_session_epoch_oidc_subject"
    __table_args__ = (
        UniqueConstraint("subject_key", name="uq_ab_session_epoch_oidc_subject_key"),
        Index("ix_ab_session_epoch_oidc_subject_user_id", "user_id"),
    )

    id = Column(Integer, primary_key=True)
    #: SHA-256 (hex) of issuer and subject: a fixed-length key that any database can index.
    subject_key = Column(String(64), nullable=False)
    issuer = Column(String(1024), nullable=False)
    subject = Column(String(255), nullable=False)
    user_id = Column(Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False)
    #: When this subject last logged in (UTC).
    last_login_at = Column(UtcDateTime, nullable=False)

    def __repr__(self) -> str:
        return f"<OidcSubject user_id={self.user_id} subject={self.subject!r} issuer={self.issuer!r}>"


class OidcLogoutTokenUse(Model):
    """A back-channel logout token's ``jti`` that was accepted: never accepted twice.

    Shared by every worker and host through the database; rows are pruned once the
    token would be refused as expired anyway.
    """

    __tablename__ = "ab_session_epoch_oidc_jti"
    __table_args__ = (Index("ix_ab_session_epoch_oidc_jti_expires_at", "expires_at"),)

    #: SHA-256 (hex) of issuer and ``jti``.
    jti_key = Column(String(64), primary_key=True)
    expires_at = Column(UtcDateTime, nullable=False)


class SessionRecord(Model):
    """One login: a browser session or the tokens of one API login, from its start to its end.

    A session or token carries its record's id; the record decides whether it still
    holds. The id grants nothing by itself: it is only honoured inside a signed cookie
    or token of the same user, and the request's SELECT joins it on that user.
    """

    __tablename__ = "ab_session_epoch_session"
    __table_args__ = (
        Index("ix_ab_session_epoch_session_user_id_ended_at", "user_id", "ended_at"),
        Index("ix_ab_session_epoch_session_sid_key", "sid_key"),
        Index("ix_ab_session_epoch_session_ended_at", "ended_at"),
        Index("ix_ab_session_epoch_session_expires_at", "expires_at"),
        Index("ix_ab_session_epoch_session_started_at", "started_at", "id"),
    )

    #: Opaque and random (URL-safe base64 of 32 random bytes).
    id = Column(String(64), primary_key=True)
    user_id = Column(Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False)
    #: ``browser`` (a session cookie, and its remember-me cookie) or ``api`` (JWTs of one login).
    kind = Column(String(16), nullable=False)
    #: How it logged in: ``db``, ``ldap``, ``oauth``, ``saml``, ``remote-user``, ``proxy``, ...
    auth_method = Column(String(32), nullable=False)
    #: The OAuth or SAML provider, if any.
    provider = Column(String(64))
    #: The epoch generations in force when it started (or was last kept by its own user).
    user_generation = Column(Integer, nullable=False, default=0)
    global_generation = Column(Integer, nullable=False, default=0)
    started_at = Column(UtcDateTime, nullable=False)
    #: The last request that was checked, written at most once per activity interval.
    last_active_at = Column(UtcDateTime, nullable=False)
    #: After this, no copy of it can be presented any more (cookie or token lifetime).
    expires_at = Column(UtcDateTime, nullable=False)
    ip = Column(String(45))
    user_agent = Column(String(512))
    #: A readable device and browser, from the user agent ("Firefox 120 on Ubuntu").
    device = Column(String(128))
    #: The OpenID provider session it logged in under (see :mod:`.oidc`), for back-channel logout.
    sid_key = Column(String(64))
    #: The login's OpenID Connect ID token, for RP-initiated logout (``id_token_hint``);
    #: kept only for providers in ``SESSION_EPOCH_RP_LOGOUT``, cleared when the record ends.
    id_token = Column(Text)
    ended_at = Column(UtcDateTime)
    end_reason = Column(String(32))
    ended_by = Column(String(256))

    def __repr__(self) -> str:
        return f"<SessionRecord {self.id[:8]}... user_id={self.user_id} kind={self.kind} ended_at={self.ended_at}>"



class SsfStream(Model):
    """The stream a Shared Signals transmitter keeps for us: one row per configured transmitter.

    Written by the ``session-epoch ssf`` commands and by verification events; never read
    on the request path.
    """

    __tablename__ = "ab_session_epoch_ssf_stream"

    #: The transmitter's name in ``SESSION_EPOCH_SSF_TRANSMITTERS``.
    transmitter = Column(String(64), primary_key=True)
    stream_id = Column(String(256), nullable=False)
    #: ``push`` or ``poll``.
    delivery = Column(String(16), nullable=False)
    #: Where SETs go (push: our URL) or are fetched from (poll: the transmitter's).
    endpoint_url = Column(String(2048))
    #: The stream's configuration as the transmitter last answered it (JSON).
    configuration = Column(Text)
    #: The ``state`` of the verification we last asked for, and when its SET arrived.
    verification_state = Column(String(128))
    verified_at = Column(UtcDateTime)
    last_poll_at = Column(UtcDateTime)
    #: Why the last poll failed; None after one that succeeded.
    last_poll_error = Column(String(512))
    created_at = Column(UtcDateTime, nullable=False)
    updated_at = Column(UtcDateTime, nullable=False)
