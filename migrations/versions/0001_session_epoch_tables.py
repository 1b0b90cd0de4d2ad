"""Session epoch tables: create or complete them, merge duplicates, import, backfill.

Revision ID: 0001_session_epoch
Revises:
Create Date: 2026-11-22

Every step first looks at what is there, so the revision works on a fresh database,
next to tables that FAB's ``create_all`` already made, on an earlier layout without the
unique constraint, and when rerun after an interruption (MySQL cannot roll DDL back).
All data moves are set-based statements: no row passes through Python.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op
from alembic.util import CommandError
from sqlalchemy.dialects import mysql

revision = "0001_session_epoch"
down_revision = None
branch_labels = None
depends_on = None

USERS = "ab_user"
EPOCHS = "ab_user_session_epoch"
GLOBAL = "ab_session_epoch_global"
UNIQUE = "uq_ab_user_session_epoch_user_id"
FOREIGN_KEY = "fk_ab_user_session_epoch_user_id_ab_user"
MERGE = "ab_user_session_epoch_merge"
IMPORT = "ab_user_session_epoch_import"
SCAN_INDEX = "ix_ab_user_session_epoch_user_id_merge"
ACTOR = "migration"


def _utc_datetime() -> sa.types.TypeEngine:
    # Naive UTC; MySQL/MariaDB keep microseconds only when asked to.
    return (
        sa.DateTime(timezone=False)
        .with_variant(mysql.DATETIME(fsp=6), "mysql")
        .with_variant(mysql.DATETIME(fsp=6), "mariadb")
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def _epochs() -> sa.sql.TableClause:
    return sa.table(
        EPOCHS,
        sa.column("id", sa.Integer),
        sa.column("user_id", sa.Integer),
        sa.column("sessions_invalidated_at", _utc_datetime()),
        sa.column("generation", sa.Integer),
        sa.column("reason", sa.String(64)),
        sa.column("actor", sa.String(256)),
    )


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    tables = set(inspector.get_table_names())
    if USERS not in tables:
        raise CommandError(
            f"No {USERS} table in this database: run the application's own migrations first"
            " (superset db upgrade, or start the Flask-AppBuilder app once), then this one."
        )
    for scratch in (MERGE, IMPORT):
        if scratch in tables:  # left behind by an interrupted run
            op.drop_table(scratch)
    if EPOCHS in tables:
        _complete_user_table(inspector)
    else:
        _create_user_table()
    if GLOBAL in tables:
        _complete_global_table(inspector)
    else:
        _create_global_table()
    if "user_attribute" in tables and any(
        column["name"] == "sessions_invalidated_at" for column in inspector.get_columns("user_attribute")
    ):
        _import_superset_epochs()
    _backfill_disabled_users()


def downgrade() -> None:
    op.drop_table(EPOCHS)
    op.drop_table(GLOBAL)


def _create_user_table() -> None:
    op.create_table(
        EPOCHS,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey(f"{USERS}.id", ondelete="CASCADE"), nullable=False),
        sa.Column("sessions_invalidated_at", _utc_datetime(), nullable=False),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("reason", sa.String(64)),
        sa.Column("actor", sa.String(256)),
        sa.UniqueConstraint("user_id", name=UNIQUE),
    )


def _create_global_table() -> None:
    op.create_table(
        GLOBAL,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("sessions_invalidated_at", _utc_datetime(), nullable=False),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("reason", sa.String(64)),
        sa.Column("actor", sa.String(256)),
    )


def _missing_columns(inspector: sa.engine.Inspector, table: str) -> list[sa.Column]:
    present = {column["name"] for column in inspector.get_columns(table)}
    wanted: list[sa.Column[int | str]] = [
        sa.Column("generation", sa.Integer, nullable=False, server_default="0"),
        sa.Column("reason", sa.String(64)),
        sa.Column("actor", sa.String(256)),
    ]
    if "sessions_invalidated_at" not in present:
        raise CommandError(f"{table} exists but has no sessions_invalidated_at column: an unknown layout.")
    return [column for column in wanted if column.name not in present]


def _complete_global_table(inspector: sa.engine.Inspector) -> None:
    missing = _missing_columns(inspector, GLOBAL)
    if missing:
        with op.batch_alter_table(GLOBAL) as batch:
            for column in missing:
                batch.add_column(column)


def _complete_user_table(inspector: sa.engine.Inspector) -> None:
    """Bring an existing epoch table to the current layout without losing a value."""
    missing = _missing_columns(inspector, EPOCHS)
    unique = any(c["column_names"] == ["user_id"] for c in inspector.get_unique_constraints(EPOCHS)) or any(
        i["column_names"] == ["user_id"] and i.get("unique") for i in inspector.get_indexes(EPOCHS)
    )
    has_foreign_key = any(
        fk["referred_table"] == USERS and fk["constrained_columns"] == ["user_id"]
        for fk in inspector.get_foreign_keys(EPOCHS)
    )
    nullable_at = any(
        c["name"] == "sessions_invalidated_at" and c["nullable"] for c in inspector.get_columns(EPOCHS)
    )
    if missing:
        with op.batch_alter_table(EPOCHS) as batch:
            for column in missing:
                batch.add_column(column)
    if not unique:
        _merge_duplicates(inspector)
    epochs = _epochs()
    bind = op.get_bind()
    if not has_foreign_key:
        # Rows of users that no longer exist would block the foreign key; they end no session.
        users = sa.table(USERS, sa.column("id", sa.Integer))
        bind.execute(sa.delete(epochs).where(~sa.exists().where(users.c.id == epochs.c.user_id)))
    if nullable_at:
        bind.execute(
            sa.update(epochs).where(epochs.c.sessions_invalidated_at.is_(None)).values(sessions_invalidated_at=_now())
        )
    if not (unique and has_foreign_key and not nullable_at):
        with op.batch_alter_table(EPOCHS) as batch:
            if nullable_at:
                batch.alter_column("sessions_invalidated_at", existing_type=_utc_datetime(), nullable=False)
            if not unique:
                batch.create_unique_constraint(UNIQUE, ["user_id"])
            if not has_foreign_key:
                batch.create_foreign_key(FOREIGN_KEY, USERS, ["user_id"], ["id"], ondelete="CASCADE")
    if not unique and SCAN_INDEX in {i["name"] for i in sa.inspect(bind).get_indexes(EPOCHS)}:
        op.drop_index(SCAN_INDEX, table_name=EPOCHS)


def _merge_duplicates(inspector: sa.engine.Inspector) -> None:
    """Fold several rows of one user into one: the latest epoch, every non-null value.

    Set-based and MySQL-safe: the merged rows are built in a scratch table, then the
    duplicates are deleted with a subquery on that table (never on the target).
    """
    bind = op.get_bind()
    if not any(i["column_names"][:1] == ["user_id"] for i in inspector.get_indexes(EPOCHS)):
        op.create_index(SCAN_INDEX, EPOCHS, ["user_id"])
    epochs = _epochs()
    # create_table returns the Table: the statements below use it directly.
    merge = op.create_table(
        MERGE,
        sa.Column("user_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("id", sa.Integer),
        sa.Column("sessions_invalidated_at", _utc_datetime()),
        sa.Column("generation", sa.Integer),
        sa.Column("reason", sa.String(64)),
        sa.Column("actor", sa.String(256)),
    )
    duplicated = (
        sa.select(
            epochs.c.user_id,
            sa.func.max(epochs.c.id),  # reused: an old layout's id may have no default
            sa.func.max(epochs.c.sessions_invalidated_at),
            sa.func.max(epochs.c.generation),
        )
        .group_by(epochs.c.user_id)
        .having(sa.func.count() > 1)
    )
    bind.execute(
        sa.insert(merge).from_select(["user_id", "id", "sessions_invalidated_at", "generation"], duplicated)
    )
    for name in ("reason", "actor"):
        # The value of the latest row that has one.
        source = epochs.alias("source")
        latest = (
            sa.select(source.c[name])
            .where(source.c.user_id == merge.c.user_id, source.c[name].is_not(None))
            # NULL times last on every database (PostgreSQL sorts them first when descending).
            .order_by(
                source.c.sessions_invalidated_at.is_(None),
                source.c.sessions_invalidated_at.desc(),
                source.c.id.desc(),
            )
            .limit(1)
            .scalar_subquery()
        )
        bind.execute(sa.update(merge).values({name: latest}))
    bind.execute(sa.delete(epochs).where(epochs.c.user_id.in_(sa.select(merge.c.user_id))))
    columns = ["id", "user_id", "sessions_invalidated_at", "generation", "reason", "actor"]
    bind.execute(sa.insert(epochs).from_select(columns, sa.select(*(merge.c[c] for c in columns))))
    op.drop_table(MERGE)


def _import_superset_epochs() -> None:
    """Take over Superset's own ``user_attribute.sessions_invalidated_at``: the latest per user.

    ``user_attribute.user_id`` carries no index in Superset, so the latest time per user is
    first gathered into a scratch table keyed by user id, in one pass over the table.
    """
    bind = op.get_bind()
    epochs = _epochs()
    attributes = sa.table("user_attribute", sa.column("user_id", sa.Integer),
                          sa.column("sessions_invalidated_at", _utc_datetime()))
    users = sa.table(USERS, sa.column("id", sa.Integer))
    imported = op.create_table(
        IMPORT,
        sa.Column("user_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("sessions_invalidated_at", _utc_datetime(), nullable=False),
    )
    latest_per_user = (
        sa.select(attributes.c.user_id, sa.func.max(attributes.c.sessions_invalidated_at))
        .where(
            attributes.c.sessions_invalidated_at.is_not(None),
            sa.exists().where(users.c.id == attributes.c.user_id),
        )
        .group_by(attributes.c.user_id)
    )
    bind.execute(sa.insert(imported).from_select(["user_id", "sessions_invalidated_at"], latest_per_user))
    later = (
        sa.select(imported.c.sessions_invalidated_at)
        .where(imported.c.user_id == epochs.c.user_id)
        .scalar_subquery()
    )
    # MySQL evaluates SET left to right: the generation is bumped after the time moved.
    bind.execute(
        sa.update(epochs)
        .where(sa.exists().where(imported.c.user_id == epochs.c.user_id,
                                 imported.c.sessions_invalidated_at > epochs.c.sessions_invalidated_at))
        .values(sessions_invalidated_at=later, generation=epochs.c.generation + 1,
                reason="superset-import", actor=ACTOR)
    )
    missing = sa.select(
        imported.c.user_id, imported.c.sessions_invalidated_at, sa.literal(1),
        sa.literal("superset-import"), sa.literal(ACTOR),
    ).where(~sa.exists().where(epochs.c.user_id == imported.c.user_id))
    columns = ["user_id", "sessions_invalidated_at", "generation", "reason", "actor"]
    bind.execute(sa.insert(epochs).from_select(columns, missing))
    op.drop_table(IMPORT)


def _backfill_disabled_users() -> None:
    """Give every disabled user an epoch, so re-enabling them revives no older session.

    ``active`` NULL is not "disabled". Users who already have an epoch keep it.
    """
    epochs = _epochs()
    users = sa.table(USERS, sa.column("id", sa.Integer), sa.column("active", sa.Boolean))
    disabled = sa.select(
        users.c.id, sa.literal(_now(), _utc_datetime()), sa.literal(1), sa.literal("backfill"), sa.literal(ACTOR)
    ).where(users.c.active == sa.false(), ~sa.exists().where(epochs.c.user_id == users.c.id))
    columns = ["user_id", "sessions_invalidated_at", "generation", "reason", "actor"]
    op.get_bind().execute(sa.insert(epochs).from_select(columns, disabled))
