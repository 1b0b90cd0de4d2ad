"""Tables that hold the invalidation epochs and the back-channel logout records.

They live on a metadata of their own, not on Flask-AppBuilder's: the host's
``create_all`` never makes them (our migrations do), and Airflow's FAB provider, which
swaps FAB's metadata for its own copy of the user tables, never sees them. Their
foreign keys name ``ab_user`` by name only.
"""

from __future__ import annotations

import typing as t

from sqlalchemy import Column, DateTime, ForeignKey, Index, Integer, MetaData, String, UniqueConstraint
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


class OidcEndedSession(Model):
    """An OpenID provider session (``sid``) that was logged out over the back channel.

    Sessions that logged in under it end on their next request. Rows are never pruned:
    a copy of such a session can be kept alive by requests that are never checked.
    """

    __tablename__ = "ab_session_epoch_oidc_ended_sid"
    __table_args__ = (Index("ix_ab_session_epoch_oidc_ended_sid_expires_at", "expires_at"),)

    #: SHA-256 (hex) of issuer and ``sid``, as stored in the session at login.
    sid_key = Column(String(64), primary_key=True)
    ended_at = Column(UtcDateTime, nullable=False)
    expires_at = Column(UtcDateTime, nullable=False)


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
