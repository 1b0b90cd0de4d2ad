"""A session record keeps its login's ID token, for signing out of the identity provider.

Revision ID: 0007_session_id_token
Revises: 0006_mark_epoch_ended_sessions
Create Date: 2026-12-07

OpenID Connect RP-Initiated Logout sends the provider the ID token of the login being
signed out (``id_token_hint``). It is kept server-side, on the login's session record,
and cleared when the record ends. Existing records get none: their logout goes to the
provider without a hint. Running it again (after a run that died before recording its
revision) changes nothing.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_session_id_token"
down_revision = "0006_mark_epoch_ended_sessions"
branch_labels = None
depends_on = None

SESSIONS = "ab_session_epoch_session"
COLUMN = "id_token"


def _columns() -> set[str]:
    return {column["name"] for column in sa.inspect(op.get_bind()).get_columns(SESSIONS)}


def upgrade() -> None:
    if COLUMN not in _columns():
        with op.batch_alter_table(SESSIONS) as batch:
            batch.add_column(sa.Column(COLUMN, sa.Text(), nullable=True))


def downgrade() -> None:
    if COLUMN in _columns():
        with op.batch_alter_table(SESSIONS) as batch:
            batch.drop_column(COLUMN)
