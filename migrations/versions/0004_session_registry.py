"""The session registry: one row per login; it replaces the table of ended provider sessions.

Revision ID: 0004_session_registry
Revises: 0003_repair_epochs
Create Date: 2026-11-30

Sessions that exist at upgrade have no row: only the epoch governs them, as before,
until they end. Those that logged in under an OpenID provider session (back-channel
logout) are the exception: without the table of ended provider sessions nothing could
end them one by one, so they end at their next request and sign in again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0004_session_registry"
down_revision = "0003_repair_epochs"
branch_labels = None
depends_on = None

SESSIONS = "ab_session_epoch_session"
ENDED_SIDS = "ab_session_epoch_oidc_ended_sid"
INDEXES = {
    "ix_ab_session_epoch_session_user_id_ended_at": ["user_id", "ended_at"],
    "ix_ab_session_epoch_session_sid_key": ["sid_key"],
    "ix_ab_session_epoch_session_ended_at": ["ended_at"],
    "ix_ab_session_epoch_session_expires_at": ["expires_at"],
}


def _utc_datetime() -> sa.types.TypeEngine:
    # Naive UTC; MySQL/MariaDB keep microseconds only when asked to.
    return (
        sa.DateTime(timezone=False)
        .with_variant(mysql.DATETIME(fsp=6), "mysql")
        .with_variant(mysql.DATETIME(fsp=6), "mariadb")
    )


def upgrade() -> None:
    tables = set(sa.inspect(op.get_bind()).get_table_names())
    if SESSIONS not in tables:
        op.create_table(
            SESSIONS,
            sa.Column("id", sa.String(64), primary_key=True),
            sa.Column("user_id", sa.Integer, sa.ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False),
            sa.Column("kind", sa.String(16), nullable=False),
            sa.Column("auth_method", sa.String(32), nullable=False),
            sa.Column("provider", sa.String(64)),
            sa.Column("user_generation", sa.Integer, nullable=False),
            sa.Column("global_generation", sa.Integer, nullable=False),
            sa.Column("started_at", _utc_datetime(), nullable=False),
            sa.Column("last_active_at", _utc_datetime(), nullable=False),
            sa.Column("expires_at", _utc_datetime(), nullable=False),
            sa.Column("ip", sa.String(45)),
            sa.Column("user_agent", sa.String(512)),
            sa.Column("device", sa.String(128)),
            sa.Column("sid_key", sa.String(64)),
            sa.Column("ended_at", _utc_datetime()),
            sa.Column("end_reason", sa.String(32)),
            sa.Column("ended_by", sa.String(256)),
        )
        for name, columns in INDEXES.items():
            op.create_index(name, SESSIONS, columns)
    if ENDED_SIDS in tables:
        op.drop_table(ENDED_SIDS)


def downgrade() -> None:
    op.drop_table(SESSIONS)
    op.create_table(
        ENDED_SIDS,
        sa.Column("sid_key", sa.String(64), primary_key=True),
        sa.Column("ended_at", _utc_datetime(), nullable=False),
        sa.Column("expires_at", _utc_datetime(), nullable=False),
    )
    op.create_index(f"ix_{ENDED_SIDS}_expires_at", ENDED_SIDS, ["expires_at"])
