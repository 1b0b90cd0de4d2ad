"""Tables that hold the invalidation epochs.

Both tables live on Flask-AppBuilder's declarative base, so FAB's own ``create_all``
on a fresh database creates them next to ``ab_user``.
"""

from __future__ import annotations

from flask_appbuilder import Model
from sqlalchemy import Column, DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.dialects import mysql

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
