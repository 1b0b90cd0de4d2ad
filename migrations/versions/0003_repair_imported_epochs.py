"""Repair what 0001 left: imported epochs without a generation, disabled users it skipped.

Revision ID: 0003_repair_epochs
Revises: 0002_oidc_backchannel
Create Date: 2026-11-30

0001 gave epochs it imported or merged from an older layout generation 0, which
0.2.0 read as "no epoch", so credentials issued before them came back. It also
backfilled only disabled users without a row, so a disabled user whose older row
predated their tokens got those tokens back when re-enabled. This revision:

* moves every generation-0 row to generation 1, keeping its time: credentials issued
  before it end;
* stamps every disabled user (``active`` false, not NULL) now, unless a migration's
  backfill already did (those rows were written after every credential of the user).

Running it again changes nothing.
"""

from __future__ import annotations

import datetime as dt
import typing as t

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0003_repair_epochs"
down_revision = "0002_oidc_backchannel"
branch_labels = None
depends_on = None

USERS = "ab_user"
EPOCHS = "ab_user_session_epoch"
GLOBAL = "ab_session_epoch_global"
ACTOR = "migration"
REASON = "backfill"


def _utc_datetime() -> sa.types.TypeEngine:
    # Naive UTC; MySQL/MariaDB keep microseconds only when asked to.
    return (
        sa.DateTime(timezone=False)
        .with_variant(mysql.DATETIME(fsp=6), "mysql")
        .with_variant(mysql.DATETIME(fsp=6), "mariadb")
    )


def _table(name: str, *extra: sa.sql.expression.ColumnClause[t.Any]) -> sa.sql.TableClause:
    return sa.table(
        name,
        sa.column("sessions_invalidated_at", _utc_datetime()),
        sa.column("generation", sa.Integer),
        sa.column("reason", sa.String(64)),
        sa.column("actor", sa.String(256)),
        *extra,
    )


def upgrade() -> None:
    bind = op.get_bind()
    epochs = _table(EPOCHS, sa.column("user_id", sa.Integer))
    everyone = _table(GLOBAL, sa.column("id", sa.Integer))
    for table in (epochs, everyone):
        bind.execute(sa.update(table).where(table.c.generation == 0).values(generation=1))
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    users = sa.table(USERS, sa.column("id", sa.Integer), sa.column("active", sa.Boolean))
    disabled = sa.select(users.c.id).where(users.c.active == sa.false())
    # NULL-safe: a row without a reason or actor was not written by a backfill.
    not_backfilled = sa.or_(
        sa.func.coalesce(epochs.c.reason, "") != REASON, sa.func.coalesce(epochs.c.actor, "") != ACTOR
    )
    # MySQL applies SET left to right: the time moves (forward only) before anything else.
    bind.execute(
        sa.update(epochs)
        .where(epochs.c.user_id.in_(disabled), not_backfilled)
        .values(
            sessions_invalidated_at=sa.case(
                (epochs.c.sessions_invalidated_at > sa.literal(now, _utc_datetime()), epochs.c.sessions_invalidated_at),
                else_=sa.literal(now, _utc_datetime()),
            ),
            generation=epochs.c.generation + 1,
            reason=REASON,
            actor=ACTOR,
        )
    )
    missing = sa.select(
        users.c.id, sa.literal(now, _utc_datetime()), sa.literal(1), sa.literal(REASON), sa.literal(ACTOR)
    ).where(users.c.active == sa.false(), ~sa.exists().where(epochs.c.user_id == users.c.id))
    columns = ["user_id", "sessions_invalidated_at", "generation", "reason", "actor"]
    bind.execute(sa.insert(epochs).from_select(columns, missing))


def downgrade() -> None:
    # Nothing to undo: the repaired rows are what 0001 should have written.
    pass
