"""Indexes for the session registry at scale: newest first, and open records past their expiry.

Revision ID: 0005_session_registry_indexes
Revises: 0004_session_registry
Create Date: 2026-11-30

* *Security > Sessions* and ``GET /api/v1/session_epoch/sessions`` show the newest
  sessions first: without an index on ``started_at`` the database sorts the whole
  registry for every page (about half a second at 1 000 000 rows on SQLite).
* Marking expired records looks for open records (``ended_at`` NULL) past their expiry:
  with ``ended_at`` and ``expires_at`` in one index that is a range, where the index on
  ``ended_at`` alone walked every record with an old expiry, ended or not. Pruning
  (``ended_at`` before a cutoff) uses the new index as it used the old one.

Measured in ``benchmarks/README.rst`` (``registry_scale.py``). It changes no data, and
running it again (after a run that died before recording its revision) changes nothing.
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
ENDED = "ix_ab_session_epoch_session_ended_at"
ENDED_EXPIRES = "ix_ab_session_epoch_session_ended_at_expires_at"


def _indexes() -> set[str]:
    return {index["name"] for index in sa.inspect(op.get_bind()).get_indexes(SESSIONS)}


def upgrade() -> None:
    present = _indexes()
    if STARTED not in present:
        op.create_index(STARTED, SESSIONS, ["started_at", "id"])
    if ENDED_EXPIRES not in present:
        op.create_index(ENDED_EXPIRES, SESSIONS, ["ended_at", "expires_at"])
    if ENDED in present:
        op.drop_index(ENDED, table_name=SESSIONS)


def downgrade() -> None:
    present = _indexes()
    if ENDED not in present:
        op.create_index(ENDED, SESSIONS, ["ended_at"])
    for name in (ENDED_EXPIRES, STARTED):
        if name in present:
            op.drop_index(name, table_name=SESSIONS)
