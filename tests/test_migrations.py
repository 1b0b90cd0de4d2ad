"""The shipped Alembic chain, on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from databases import drop_epoch_tables
from fabapp import ALICE
from flask import Flask
from helpers import api_login, user_id

from flask_session_epoch import migrate
from flask_session_epoch.cli import cli
from flask_session_epoch.migrations import ALEMBIC_INI, SCRIPT_LOCATION, VERSION_TABLE
from flask_session_epoch.models import GlobalSessionEpoch, SessionRecord, SsfStream, UserSessionEpoch

OURS = ("ab_user_session_epoch", "ab_session_epoch_global", "ab_session_epoch_session", "ab_session_epoch_ssf_stream")
T0 = dt.datetime(2026, 1, 1, 12, 0, 0, 250000)


@pytest.fixture
def engine(app: Flask, db_url: str) -> t.Iterator[sa.engine.Engine]:
    engine = sa.create_engine(db_url, poolclass=sa.pool.NullPool)
    yield engine
    engine.dispose()


@pytest.fixture
def bare(app: Flask, db_url: str) -> Flask:
    """The app's database as an operator finds it before installing us: no epoch tables."""
    drop_epoch_tables(db_url)
    return app


def run(app: Flask, *args: str) -> t.Any:
    return app.test_cli_runner().invoke(cli, ["db", *args])


def tables(engine: sa.engine.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def schema_diff(engine: sa.engine.Engine) -> list[t.Any]:
    from flask_appbuilder import Model

    metadata = sa.MetaData()
    # ab_user comes along only so the foreign key resolves; the filter leaves it out.
    for table in (Model.metadata.tables["ab_user"], UserSessionEpoch.__table__, GlobalSessionEpoch.__table__,
                  SessionRecord.__table__, SsfStream.__table__):
        table.to_metadata(metadata)
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "include_object": lambda obj, name, type_, reflected, other: (
                    name in OURS if type_ == "table" else getattr(obj, "table", None) is None or obj.table.name in OURS
                ),
                "compare_type": True,
            },
        )
        return compare_metadata(context, metadata)


def epoch_rows(engine: sa.engine.Engine) -> list[tuple]:
    table = UserSessionEpoch.__table__
    columns = ("user_id", "sessions_invalidated_at", "generation", "reason", "actor")
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(sa.select(*(table.c[c] for c in columns)).order_by(table.c.user_id))]


def legacy_table(engine: sa.engine.Engine, name: str, *columns: sa.Column, rows: list[dict]) -> None:
    """A table as an earlier layout (or Superset) left it: made by hand, filled by hand."""
    table = sa.Table(name, sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True), *columns)
    with engine.begin() as conn:
        table.create(conn)
        conn.execute(table.insert(), rows)


def version(engine: sa.engine.Engine, table: str = VERSION_TABLE) -> list[str]:
    with engine.connect() as conn:
        return [row[0] for row in conn.execute(sa.text(f"SELECT version_num FROM {table}"))]


def test_chain_has_a_single_head() -> None:
    scripts = ScriptDirectory(str(SCRIPT_LOCATION))
    assert len(scripts.get_heads()) == 1
    assert migrate.head() == scripts.get_current_head()


@pytest.mark.all_databases
def test_round_trip_matches_the_models(bare: Flask, engine: sa.engine.Engine) -> None:
    assert run(bare, "upgrade").exit_code == 0
    assert set(OURS) <= tables(engine)
    assert schema_diff(engine) == []
    result = run(bare, "downgrade", "base")
    assert result.exit_code == 0, result.output
    assert not set(OURS) & tables(engine)
    assert version(engine) == []
    assert run(bare, "upgrade").exit_code == 0
    assert schema_diff(engine) == []
    assert version(engine) == [migrate.head()]


@pytest.mark.all_databases
def test_tables_made_by_create_all_are_adopted(bare: Flask, engine: sa.engine.Engine) -> None:
    # As 0.2.0's models did: on FAB's metadata, made by FAB's create_all on a fresh database.
    from flask_appbuilder import Model

    metadata = sa.MetaData()
    Model.metadata.tables["ab_user"].to_metadata(metadata)
    ours = [table.to_metadata(metadata) for table in (UserSessionEpoch.__table__, GlobalSessionEpoch.__table__)]
    metadata.create_all(engine, tables=ours)
    result = run(bare, "upgrade")
    assert result.exit_code == 0, result.output
    assert schema_diff(engine) == []


@pytest.mark.all_databases
def test_duplicate_rows_are_merged_keeping_every_value(bare: Flask, engine: sa.engine.Engine) -> None:
    alice, admin = user_id(bare), user_id(bare, "admin")
    # An earlier layout: no uniqueness, no foreign key, no generation, nullable time.
    at = sa.Column("sessions_invalidated_at", UserSessionEpoch.__table__.c.sessions_invalidated_at.type)
    rows = [
        (alice, T0, "disable", None),
        (alice, T0 + dt.timedelta(hours=1), None, "cli"),
        (alice, None, "from-a-row-without-time", None),
        (admin, T0, None, None),
        (10**6, T0, None, None),  # a user that no longer exists
    ]
    legacy_table(
        engine, "ab_user_session_epoch",
        sa.Column("user_id", sa.Integer, nullable=False), at,
        sa.Column("reason", sa.String(64)), sa.Column("actor", sa.String(256)),
        rows=[dict(zip(("user_id", "sessions_invalidated_at", "reason", "actor"), row, strict=False)) for row in rows],
    )
    result = run(bare, "upgrade")
    assert result.exit_code == 0, result.output
    merged = {row[0]: row for row in epoch_rows(engine)}
    assert set(merged) == {alice, admin}
    # Generation 1: an epoch from an earlier layout is an epoch (0003 repairs 0001's 0).
    assert merged[alice][1:] == (T0 + dt.timedelta(hours=1), 1, "disable", "cli")
    assert merged[admin][1:] == (T0, 1, None, None)
    assert schema_diff(engine) == []


@pytest.mark.all_databases
def test_superset_epochs_are_imported(bare: Flask, engine: sa.engine.Engine) -> None:
    alice, admin = user_id(bare), user_id(bare, "admin")
    epoch_type = UserSessionEpoch.__table__.c.sessions_invalidated_at.type
    rows = [(alice, T0), (alice, T0 + dt.timedelta(days=1)), (admin, None), (admin, T0), (10**6, T0)]
    legacy_table(
        engine, "user_attribute", sa.Column("user_id", sa.Integer), sa.Column("sessions_invalidated_at", epoch_type),
        rows=[{"user_id": uid, "sessions_invalidated_at": when} for uid, when in rows],
    )
    # The admin already has an older epoch of ours: it moves forward.
    legacy_table(
        engine, "ab_user_session_epoch", sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("sessions_invalidated_at", epoch_type),
        rows=[{"user_id": admin, "sessions_invalidated_at": T0 - dt.timedelta(days=1)}],
    )
    assert run(bare, "upgrade").exit_code == 0
    assert sorted(epoch_rows(engine)) == sorted([
        (alice, T0 + dt.timedelta(days=1), 1, "superset-import", "migration"),
        (admin, T0, 1, "superset-import", "migration"),
    ])
    assert "ab_user_session_epoch_import" not in tables(engine)


@pytest.mark.all_databases
def test_disabled_users_are_backfilled(bare: Flask, engine: sa.engine.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE ab_user SET active = :no WHERE username = :u"), {"no": False, "u": ALICE[0]})
        conn.execute(sa.text("UPDATE ab_user SET active = NULL WHERE username = 'admin'"))
    assert run(bare, "upgrade").exit_code == 0
    rows = epoch_rows(engine)
    assert [(row[0], row[2], row[3]) for row in rows] == [(user_id(bare), 1, "backfill")]


@pytest.mark.all_databases
def test_rerun_after_interruption_changes_nothing(bare: Flask, engine: sa.engine.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE ab_user SET active = :no WHERE username = :u"), {"no": False, "u": ALICE[0]})
    assert run(bare, "upgrade").exit_code == 0
    before = epoch_rows(engine)
    assert run(bare, "upgrade").exit_code == 0  # already at head
    with engine.begin() as conn:  # as if the run died before recording its revision
        conn.execute(sa.text(f"DELETE FROM {VERSION_TABLE}"))
    result = run(bare, "upgrade")
    assert result.exit_code == 0, result.output
    assert epoch_rows(engine) == before
    assert schema_diff(engine) == []


def legacy_epoch_table(engine: sa.engine.Engine, rows: list[tuple[int, dt.datetime]]) -> None:
    """0.1's layout, before generations: a user id and a time, nothing else."""
    epoch_type = UserSessionEpoch.__table__.c.sessions_invalidated_at.type
    legacy_table(
        engine, "ab_user_session_epoch", sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("sessions_invalidated_at", epoch_type),
        rows=[{"user_id": uid, "sessions_invalidated_at": when} for uid, when in rows],
    )


def token_issued_at(app: Flask, when: dt.datetime, username: str = ALICE[0]) -> str:
    """A JWT as minted before the package was installed: no claim of ours, issued ``when`` (UTC)."""
    from flask_jwt_extended import create_access_token

    with app.test_request_context():
        claims = app.extensions["flask-jwt-extended"]._user_claims_callback
        app.extensions["flask-jwt-extended"]._user_claims_callback = lambda identity: {}
        try:
            iat = int(when.replace(tzinfo=dt.timezone.utc).timestamp())
            return create_access_token(identity=str(user_id(app, username)), additional_claims={"iat": iat})
        finally:
            app.extensions["flask-jwt-extended"]._user_claims_callback = claims


def ping(app: Flask, token: str) -> int:
    return app.test_client().get("/api/v1/ping/", headers={"Authorization": f"Bearer {token}"}).status_code


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)


@pytest.mark.all_databases
@pytest.mark.parametrize("duplicated", [False, True])
@pytest.mark.parametrize("stop_at", [None, "0002_oidc_backchannel"])
def test_imported_epochs_end_older_credentials(bare: Flask, engine: sa.engine.Engine, duplicated: bool,
                                                stop_at: str | None) -> None:
    """An epoch from 0.1's layout ends what was issued before it, also merged, also after 0.2.0 ran 0001."""
    legacy_at = utcnow() - dt.timedelta(minutes=10)
    rows = [(user_id(bare), legacy_at)]
    if duplicated:
        rows.append((user_id(bare), legacy_at - dt.timedelta(days=3)))
    legacy_epoch_table(engine, rows)
    before, after = token_issued_at(bare, legacy_at - dt.timedelta(hours=1)), token_issued_at(bare, utcnow())
    if stop_at is not None:  # a database that already ran 0.2.0's migrations
        assert run(bare, "upgrade", stop_at).exit_code == 0
    result = run(bare, "upgrade")
    assert result.exit_code == 0, result.output
    assert ping(bare, before) == 401
    assert ping(bare, after) == 200


@pytest.mark.all_databases
@pytest.mark.parametrize("stop_at", [None, "0002_oidc_backchannel"])
def test_disabled_users_with_an_older_epoch_are_stamped(bare: Flask, engine: sa.engine.Engine,
                                                         stop_at: str | None) -> None:
    """A disabled user whose row predates their tokens: re-enabling them revives none of those."""
    legacy_epoch_table(engine, [(user_id(bare), utcnow() - dt.timedelta(days=30))])
    token = token_issued_at(bare, utcnow() - dt.timedelta(days=1))
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE ab_user SET active = :no WHERE username = :u"), {"no": False, "u": ALICE[0]})
    if stop_at is not None:
        assert run(bare, "upgrade", stop_at).exit_code == 0
    assert run(bare, "upgrade").exit_code == 0
    with bare.app_context():
        sm = bare.appbuilder.sm
        sm.find_user(ALICE[0]).active = True
        sm.session.commit()
    assert ping(bare, token) == 401
    assert ping(bare, api_login(bare.test_client())["access_token"]) == 200


@pytest.mark.all_databases
def test_the_registry_revision_adds_its_table_and_drops_the_ended_sid_table(bare: Flask,
                                                                           engine: sa.engine.Engine) -> None:
    assert run(bare, "upgrade", "0003_repair_epochs").exit_code == 0
    assert "ab_session_epoch_oidc_ended_sid" in tables(engine)
    result = run(bare, "upgrade")
    assert result.exit_code == 0, result.output
    assert "ab_session_epoch_session" in tables(engine)
    assert "ab_session_epoch_oidc_ended_sid" not in tables(engine)
    indexes = {index["name"] for index in sa.inspect(engine).get_indexes("ab_session_epoch_session")}
    assert {"ix_ab_session_epoch_session_user_id_ended_at", "ix_ab_session_epoch_session_sid_key",
            "ix_ab_session_epoch_session_ended_at", "ix_ab_session_epoch_session_expires_at",
            "ix_ab_session_epoch_session_started_at"} <= indexes
    assert run(bare, "downgrade", "0004_session_registry").exit_code == 0  # 0005: an index only
    assert "ix_ab_session_epoch_session_started_at" not in {
        index["name"] for index in sa.inspect(engine).get_indexes("ab_session_epoch_session")}
    assert run(bare, "downgrade", "0003_repair_epochs").exit_code == 0
    assert "ab_session_epoch_oidc_ended_sid" in tables(engine)
    assert "ab_session_epoch_session" not in tables(engine)


@pytest.mark.all_databases
def test_sessions_that_an_epoch_ended_before_0_4_are_marked_once(bare: Flask, engine: sa.engine.Engine) -> None:
    """0.3 left them open and read their end off the latest stamp; 0006 writes it down."""
    assert run(bare, "upgrade", "0005_session_registry_indexes").exit_code == 0
    now = utcnow()
    later, earlier = now + dt.timedelta(days=1), now - dt.timedelta(days=1)
    with engine.begin() as conn:
        uid = conn.execute(sa.text("SELECT id FROM ab_user WHERE username = :u"), {"u": ALICE[0]}).scalar_one()
        conn.execute(sa.text("INSERT INTO ab_user_session_epoch (user_id, sessions_invalidated_at, generation,"
                             " reason, actor) VALUES (:u, :at, 2, 'disable', '7')"), {"u": uid, "at": now})
        for record_id, generation, expires in (("behind", 1, later), ("current", 2, later), ("expired", 1, earlier)):
            conn.execute(sa.text(
                "INSERT INTO ab_session_epoch_session (id, user_id, kind, auth_method, user_generation,"
                " global_generation, started_at, last_active_at, expires_at) VALUES (:id, :u, 'browser', 'db',"
                " :g, 0, :started, :started, :expires)"),
                {"id": record_id, "u": uid, "g": generation, "started": earlier - dt.timedelta(hours=1),
                 "expires": expires})
    assert run(bare, "upgrade").exit_code == 0
    assert run(bare, "downgrade", "0005_session_registry_indexes").exit_code == 0
    assert run(bare, "upgrade").exit_code == 0  # again: nothing changes
    with engine.connect() as conn:
        rows = {row[0]: tuple(row[1:]) for row in conn.execute(sa.text(
            "SELECT id, end_reason, ended_by, ended_at FROM ab_session_epoch_session"))}
    assert rows["behind"][:2] == ("disable", "7") and rows["behind"][2] is not None
    assert rows["current"] == (None, None, None)
    assert rows["expired"] == (None, None, None)  # past its expiry first: the expiry round marks it


@pytest.mark.all_databases
def test_0007_adds_the_id_token_column_and_keeps_every_record(bare: Flask, engine: sa.engine.Engine) -> None:
    assert run(bare, "upgrade", "0006_mark_epoch_ended_sessions").exit_code == 0
    now = utcnow()
    with engine.begin() as conn:
        uid = conn.execute(sa.text("SELECT id FROM ab_user WHERE username = :u"), {"u": ALICE[0]}).scalar_one()
        conn.execute(sa.text(
            "INSERT INTO ab_session_epoch_session (id, user_id, kind, auth_method, user_generation,"
            " global_generation, started_at, last_active_at, expires_at) VALUES ('old', :u, 'browser', 'oauth',"
            " 0, 0, :at, :at, :at)"), {"u": uid, "at": now})

    def columns() -> set[str]:
        return {column["name"] for column in sa.inspect(engine).get_columns("ab_session_epoch_session")}

    assert run(bare, "upgrade").exit_code == 0
    assert "id_token" in columns()
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT id, id_token FROM ab_session_epoch_session")).all() == [("old", None)]
    assert run(bare, "downgrade", "0006_mark_epoch_ended_sessions").exit_code == 0
    assert "id_token" not in columns()
    assert run(bare, "upgrade").exit_code == 0
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM ab_session_epoch_session")).scalar_one() == 1


def test_host_alembic_version_is_untouched(bare: Flask, engine: sa.engine.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
        conn.execute(sa.text("INSERT INTO alembic_version VALUES ('host_rev_42')"))
    assert run(bare, "upgrade").exit_code == 0
    assert run(bare, "downgrade", "base").exit_code == 0
    assert run(bare, "upgrade").exit_code == 0
    assert version(engine, "alembic_version") == ["host_rev_42"]
    assert version(engine) == [migrate.head()]


def test_cli_current_and_history(bare: Flask) -> None:
    assert "not upgraded" in run(bare, "current").output
    run(bare, "upgrade")
    assert run(bare, "current").output.strip() == migrate.head()
    assert migrate.head() in run(bare, "history").output


def plain_app(uri: str) -> Flask:
    app = Flask("plain")
    app.config["SQLALCHEMY_DATABASE_URI"] = uri
    return app


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("postgresql+psycopg2://nobody:wrong@127.0.0.1:1/none", "Cannot connect to the database"),
        ("not a url", "not a database URL"),
    ],
)
def test_wrong_url_is_one_clear_error(uri: str, message: str) -> None:
    result = run(plain_app(uri), "upgrade")
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output


def test_missing_ab_user_is_one_clear_error(tmp_path: Path) -> None:
    result = run(plain_app(f"sqlite:///{tmp_path / 'empty.db'}"), "upgrade")
    assert result.exit_code == 1
    assert "No ab_user table" in result.output and "Traceback" not in result.output


def test_newer_database_revision_is_one_clear_error(bare: Flask, engine: sa.engine.Engine) -> None:
    run(bare, "upgrade")
    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = '0099_from_the_future'"))
    result = run(bare, "upgrade")
    assert result.exit_code == 1
    assert "0099_from_the_future" in result.output and "Upgrade the flask-session-epoch package" in result.output


def _env(db_url: str) -> dict[str, str]:
    tests = Path(__file__).parent
    return {
        **os.environ,
        "FLASK_APP": f'fabapp:create_app("{db_url}")',
        "PYTHONPATH": os.pathsep.join([str(tests), os.environ.get("PYTHONPATH", "")]),
        "PYTHONWARNINGS": "ignore",
    }


def test_flask_command_entry_point(bare: Flask, db_url: str, engine: sa.engine.Engine) -> None:
    flask = Path(sys.executable).with_name("flask")
    done = subprocess.run(
        [str(flask), "session-epoch", "db", "upgrade"], env=_env(db_url), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert migrate.head() in done.stdout
    assert set(OURS) <= tables(engine)


def test_plain_alembic_with_shipped_config(bare: Flask, db_url: str, engine: sa.engine.Engine) -> None:
    alembic = Path(sys.executable).with_name("alembic")
    done = subprocess.run(
        [str(alembic), "-c", str(ALEMBIC_INI), "upgrade", "head"],
        env=_env(db_url), capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert version(engine) == [migrate.head()]
    assert schema_diff(engine) == []


@pytest.mark.all_databases
def test_0008_adds_the_ssf_stream_table_as_the_model_says(bare: Flask, engine: sa.engine.Engine) -> None:
    assert run(bare, "upgrade", "0007_session_id_token").exit_code == 0
    assert "ab_session_epoch_ssf_stream" not in tables(engine)
    assert run(bare, "upgrade").exit_code == 0
    assert "ab_session_epoch_ssf_stream" in tables(engine) and schema_diff(engine) == []
    assert run(bare, "downgrade", "0007_session_id_token").exit_code == 0
    assert "ab_session_epoch_ssf_stream" not in tables(engine)
    assert run(bare, "upgrade").exit_code == 0
