"""Write down how the sessions that an epoch has already ended ended.

Revision ID: 0006_mark_epoch_ended_sessions
Revises: 0005_session_registry_indexes
Create Date: 2026-12-07

From 0.4.0 on, a stamp marks the session records it ends with its own time, reason and
actor. Records that an earlier stamp ended are still open in the table, and their end
was worked out from the user's (or everyone's) *latest* stamp, so it changed at every
new stamp. This revision marks them once, with the stamp in force now (the user's if it
ended them, else everyone's): the best that is known, and from here on it never changes.
Only records still before their expiry are marked; the expiry round marks the others.
Running it again changes nothing: it only touches records that are not ended.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_mark_epoch_ended_sessions"
down_revision = "0005_session_registry_indexes"
branch_labels = None
depends_on = None

_meta = sa.MetaData()
SESSIONS = sa.Table(
    "ab_session_epoch_session", _meta,
    sa.Column("id", sa.String(64)), sa.Column("user_id", sa.Integer),
    sa.Column("user_generation", sa.Integer), sa.Column("global_generation", sa.Integer),
    sa.Column("expires_at", sa.DateTime), sa.Column("ended_at", sa.DateTime),
    sa.Column("end_reason", sa.String(32)), sa.Column("ended_by", sa.String(256)),
)
USERS = sa.Table(
    "ab_user_session_epoch", _meta,
    sa.Column("user_id", sa.Integer), sa.Column("generation", sa.Integer),
    sa.Column("sessions_invalidated_at", sa.DateTime), sa.Column("reason", sa.String(64)),
    sa.Column("actor", sa.String(256)),
)
EVERYONE = sa.Table(
    "ab_session_epoch_global", _meta,
    sa.Column("id", sa.Integer), sa.Column("generation", sa.Integer),
    sa.Column("sessions_invalidated_at", sa.DateTime), sa.Column("reason", sa.String(64)),
    sa.Column("actor", sa.String(256)),
)
_GLOBAL_ROW_ID = 1


def _mark(table: sa.Table, row: sa.ColumnElement[bool], behind: sa.ColumnElement[bool]) -> None:
    """End the open records that ``table``'s row (``row``) ended, with its time, reason and actor."""
    def value(column: sa.Column, length: int | None = None) -> sa.ScalarSelect:
        selected = sa.func.substr(column, 1, length) if length else column
        return sa.select(selected).where(row).scalar_subquery()

    before_expiry = table.c.sessions_invalidated_at < SESSIONS.c.expires_at
    op.get_bind().execute(
        sa.update(SESSIONS)
        .where(SESSIONS.c.ended_at.is_(None), sa.exists().where(row, behind, before_expiry))
        .values(ended_at=value(table.c.sessions_invalidated_at), end_reason=value(table.c.reason, 32),
                ended_by=value(table.c.actor, 256))
    )


def upgrade() -> None:
    _mark(USERS, USERS.c.user_id == SESSIONS.c.user_id, USERS.c.generation != SESSIONS.c.user_generation)
    _mark(EVERYONE, EVERYONE.c.id == _GLOBAL_ROW_ID, EVERYONE.c.generation != SESSIONS.c.global_generation)


def downgrade() -> None:
    """Nothing to undo: the marks say what the epochs said, and 0.3 reads them the same way."""
