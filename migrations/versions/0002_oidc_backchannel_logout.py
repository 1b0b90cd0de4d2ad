"""Tables for OpenID Connect back-channel logout: subjects, ended provider sessions, used tokens.

Revision ID: 0002_oidc_backchannel
Revises: 0001_session_epoch
Create Date: 2026-11-22

The tables start empty and are only written when back-channel logout is configured.
A table that FAB's ``create_all`` already made is kept as it is.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0002_oidc_backchannel"
down_revision = "0001_session_epoch"
branch_labels = None
depends_on = None

SUBJECTS = "ab_session_epoch_oidc_subject"
ENDED_SIDS = "ab_session_epoch_oidc_ended_sid"
USED_JTIS = "ab_session_epoch_oidc_jti"


def _utc_datetime() -> sa.types.TypeEngine:
    # Naive UTC; MySQL/MariaDB keep microseconds only when asked to.
    return (
        sa.DateTime(timezone=False)
        .with_variant(mysql.DATETIME(fsp=6), "mysql")
        .with_variant(mysql.DATETIME(fsp=6), "mariadb")
    )


def upgrade() -> None:
    tables = set(sa.inspect(op.get_bind()).get_table_names())
    if SUBJECTS not in tables:
        op.create_table(
            SUBJECTS,
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("subject_key", sa.String(64), nullable=False),
            sa.Column("issuer", sa.String(1024), nullable=False),
            sa.Column("subject", sa.String(255), nullable=False),
            sa.Column("user_id", sa.Integer, sa.ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False),
            sa.Column("last_login_at", _utc_datetime(), nullable=False),
            sa.UniqueConstraint("subject_key", name="uq_ab_session_epoch_oidc_subject_key"),
        )
        op.create_index("ix_ab_session_epoch_oidc_subject_user_id", SUBJECTS, ["user_id"])
    for table in (ENDED_SIDS, USED_JTIS):
        if table in tables:
            continue
        key = "sid_key" if table == ENDED_SIDS else "jti_key"
        extra = [sa.Column("ended_at", _utc_datetime(), nullable=False)] if table == ENDED_SIDS else []
        op.create_table(
            table,
            sa.Column(key, sa.String(64), primary_key=True),
            *extra,
            sa.Column("expires_at", _utc_datetime(), nullable=False),
        )
        op.create_index(f"ix_{table}_expires_at", table, ["expires_at"])


def downgrade() -> None:
    for table in (USED_JTIS, ENDED_SIDS, SUBJECTS):
        op.drop_table(table)
