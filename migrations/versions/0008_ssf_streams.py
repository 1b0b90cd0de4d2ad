"""The streams that Shared Signals transmitters keep for this app.

Revision ID: 0008_ssf_streams
Revises: 0007_session_id_token
Create Date: 2026-12-07

One row per transmitter in ``SESSION_EPOCH_SSF_TRANSMITTERS`` whose stream was set up
with ``session-epoch ssf add``: its id, delivery, the configuration the transmitter
answered, and the verification asked for and heard. Nothing on the request path reads
it. Running it again (after a run that died before recording its revision) changes
nothing.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0008_ssf_streams"
down_revision = "0007_session_id_token"
branch_labels = None
depends_on = None

TABLE = "ab_session_epoch_ssf_stream"


def _when() -> sa.types.TypeEngine:
    return sa.DateTime(timezone=False).with_variant(mysql.DATETIME(fsp=6), "mysql").with_variant(
        mysql.DATETIME(fsp=6), "mariadb")


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table(TABLE):
        return
    op.create_table(
        TABLE,
        sa.Column("transmitter", sa.String(64), primary_key=True),
        sa.Column("stream_id", sa.String(256), nullable=False),
        sa.Column("delivery", sa.String(16), nullable=False),
        sa.Column("endpoint_url", sa.String(2048)),
        sa.Column("configuration", sa.Text()),
        sa.Column("verification_state", sa.String(128)),
        sa.Column("verified_at", _when()),
        sa.Column("last_poll_at", _when()),
        sa.Column("last_poll_error", sa.String(512)),
        sa.Column("created_at", _when(), nullable=False),
        sa.Column("updated_at", _when(), nullable=False),
    )


def downgrade() -> None:
    if sa.inspect(op.get_bind()).has_table(TABLE):
        op.drop_table(TABLE)
