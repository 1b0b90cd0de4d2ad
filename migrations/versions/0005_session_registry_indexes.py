"""An index on when sessions started: everyone's sessions, newest first, at scale.

Revision ID: 0005_session_registry_indexes
Revises: 0004_session_registry
Create Date: 2026-11-30

*Security > Sessions* and ``GET /api/v1/session_epoch/sessions`` show the newest
sessions first. Without an index on ``started_at`` the database sorts the whole registry
for every page: about half a second at 1 000 000 rows on SQLite, where the first page now
takes a tenth of a millisecond besides its count (``benchmarks/README.rst``,
``registry_scale.py``). It changes no data, and running it again (after a run that died
before recording its revision) changes nothing.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_session_registry_indexes"
down_revision = "0004_session_registry"
branch_labels = None
depends_on = None

SESSIONS = "ab_session_epoch_session"
STARTED = "ix_ab_session_epoch_session_started_at"


def _indexes() -> set[str | None]:
    return {index["name"] for index in sa.inspect(op.get_bind()).get_indexes(SESSIONS)}


def upgrade() -> None:
    if STARTED not in _indexes():
        op.create_index(STARTED, SESSIONS, ["started_at", "id"])


def downgrade() -> None:
    if STARTED in _indexes():
        op.drop_index(STARTED, table_name=SESSIONS)
