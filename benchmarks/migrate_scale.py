"""Time the shipped migration on a large database in an earlier layout.

Builds a throw-away database with ``--users`` FAB users (a fraction of them disabled)
and an ``ab_user_session_epoch`` table as an earlier release left it: no unique
constraint, no foreign key, no ``generation`` column, nullable times, duplicate rows and
rows of deleted users. Then runs ``flask_session_epoch.migrate.upgrade()`` the way an
operator does, in its own process inside a plain Flask app, and reports its wall time,
its peak RSS and the time of a second (no-op) run. The result is checked before
anything is printed as a success.

Every statement the migration sends is timed; the slowest are listed. The build is not
timed into the result. See ``benchmarks/README.rst``::

    python benchmarks/migrate_scale.py --users 100000
    python benchmarks/migrate_scale.py --url postgresql+psycopg2://user:pw@host/fse_bench

A server URL names a database that must not exist yet: it is created, and dropped at
the end unless ``--keep`` is given. The upgrade's interpreter runs in a process group of
its own and is stopped on every way out, Ctrl-C and SIGTERM included, before the
database is dropped.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
import time
import typing as t
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from _processes import guarded, start, stop  # benchmarks/_processes.py

from flask_session_epoch.migrations import VERSION_TABLE

USERS = "ab_user"
EPOCHS = "ab_user_session_epoch"
#: Every fifth user has a row from the earlier layout.
EVERY = 5
#: Of those, every tenth has no time (the earlier layout allowed NULL).
NULL_EVERY = EVERY * 10
#: With --user-attributes, users whose Superset time moves or creates their epoch.
IMPORT_MOVES, IMPORT_CREATES = 5, 3  # i % 10: users with a row / without one
FIRST_AT = dt.datetime(2026, 1, 1, 12, 0, 0)
SECOND_AT = dt.datetime(2026, 1, 1, 13, 0, 0)
IMPORTED_AT = dt.datetime(2026, 2, 1, 0, 0, 0)

# The child: a plain Flask app with only the database URL, as in tests/test_migrations.py.
# The listeners only read a clock; the URL comes through the environment so it never
# shows up in a process list.
CHILD = r"""
import json, os, sys, time
started = time.perf_counter()
import sqlalchemy as sa
from flask import Flask
from flask_session_epoch import migrate

statements = []

@sa.event.listens_for(sa.engine.Engine, "before_cursor_execute")
def _before(conn, cursor, statement, parameters, context, executemany):
    conn.info.setdefault("bench_started", []).append(time.perf_counter())

@sa.event.listens_for(sa.engine.Engine, "after_cursor_execute")
def _after(conn, cursor, statement, parameters, context, executemany):
    took = time.perf_counter() - conn.info["bench_started"].pop()
    statements.append([took, " ".join(statement.split())])

app = Flask("bench")
app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["FSE_BENCH_URL"]
imported = time.perf_counter()
with app.app_context():
    migrate.upgrade()
done = time.perf_counter()
with open(sys.argv[1], "w") as out:
    json.dump({"startup": imported - started, "upgrade": done - imported, "statements": statements}, out)
"""


@dataclass
class Scenario:
    """What the database holds before the upgrade."""

    users: int
    disabled_fraction: float
    duplicates: int
    user_attributes: bool

    def moved(self, user_id: t.Any) -> t.Any:
        """Users whose existing epoch the Superset import moves (not the merged ones)."""
        return ((user_id % 10) == IMPORT_MOVES) & (user_id > self.duplicates * EVERY)

    def created(self, user_id: t.Any) -> t.Any:
        """Users without an epoch row that the Superset import gives one."""
        return (user_id % 10) == IMPORT_CREATES


@dataclass
class Run:
    """One migration process: what the operator waits for and what it cost."""

    wall: float
    upgrade: float
    startup: float
    max_rss_kib: int
    statements: list[tuple[float, str]] = field(default_factory=list)


@dataclass
class Result:
    backend: str
    scenario: Scenario
    build: float
    first: Run
    rerun: Run
    unstamped: Run


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="SQLAlchemy URL of a database to create (default: a SQLite file in a temp dir)")
    parser.add_argument("--users", type=int, default=1_000_000, help="number of users (default 1000000)")
    parser.add_argument("--disabled-fraction", type=float, default=0.1, help="users with active = false (default 0.1)")
    parser.add_argument(
        "--duplicates",
        type=int,
        default=None,
        help="extra epoch rows: this many users get a second row (default users/20, 50000 for 1M users)",
    )
    parser.add_argument(
        "--user-attributes",
        action="store_true",
        help="add a Superset-style user_attribute table (one row per user, sessions_invalidated_at)"
        " so the import step runs too",
    )
    parser.add_argument("--statements", type=int, default=5, help="list this many slowest statements (default 5)")
    parser.add_argument("--keep", action="store_true", help="keep the database and print its URL")
    args = parser.parse_args(argv)
    if args.users < 10:
        parser.error("--users must be at least 10")
    if args.duplicates is None:
        args.duplicates = args.users // 20
    if not 0 <= args.duplicates <= args.users // EVERY:
        parser.error(f"--duplicates must be between 0 and users/{EVERY} (only every {EVERY}th user has a row)")
    if not 0 <= args.disabled_fraction <= 1:
        parser.error("--disabled-fraction must be between 0 and 1")
    return args


def _numbers(dialect: str, upto: int) -> tuple[str, str]:
    """A ``WITH`` prefix and a ``FROM`` source that yield ``i`` = 1 .. at least ``upto``."""
    if dialect == "sqlite":
        return f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {upto}) ", "n"
    if dialect == "postgresql":
        return "", f"generate_series(1, {upto}) AS n(i)"
    # MySQL/MariaDB: no generate_series, and recursive CTEs stop at 1000 by default.
    digits = "(SELECT 0 AS d UNION ALL " + " UNION ALL ".join(f"SELECT {d}" for d in range(1, 10)) + ")"
    places = len(str(upto - 1))
    value = " + ".join(f"{10**p} * d{p}.d" for p in range(places))
    joins = " CROSS JOIN ".join(f"{digits} AS d{p}" for p in range(places))
    return "", f"(SELECT {value} + 1 AS i FROM {joins}) AS n"


def _text(dialect: str, prefix: str, suffix: str = "") -> str:
    if dialect in ("mysql", "mariadb"):
        return f"CONCAT('{prefix}', i, '{suffix}')"
    return f"'{prefix}' || i || '{suffix}'" if suffix else f"'{prefix}' || i"


def _timestamp(dialect: str, when: dt.datetime) -> str:
    # SQLite keeps what SQLAlchemy's DateTime writes: text with six fraction digits.
    if dialect == "sqlite":
        return f"'{when.isoformat(' ', 'microseconds')}'"
    return f"TIMESTAMP '{when.isoformat(' ')}'"


def _earlier_epoch_table() -> sa.Table:
    """The epoch table of an earlier layout: no uniqueness, no foreign key, no generation."""
    from flask_session_epoch.models import UtcDateTime

    return sa.Table(
        EPOCHS,
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("sessions_invalidated_at", UtcDateTime),
        sa.Column("reason", sa.String(64)),
        sa.Column("actor", sa.String(256)),
    )


def _user_attribute_table() -> sa.Table:
    """Superset's ``user_attribute`` with the column the migration imports.

    Superset declares ``user_id`` as a foreign key without an index: PostgreSQL and
    SQLite have none, MySQL/MariaDB make one for the foreign key.
    """
    from flask_appbuilder import Model

    from flask_session_epoch.models import UtcDateTime

    metadata = sa.MetaData()
    Model.metadata.tables[USERS].to_metadata(metadata)  # so the foreign key resolves
    return sa.Table(
        "user_attribute",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey(f"{USERS}.id")),
        sa.Column("welcome_dashboard_id", sa.Integer),
        sa.Column("sessions_invalidated_at", UtcDateTime),
    )


def build(engine: sa.engine.Engine, scenario: Scenario) -> None:
    """Fill an empty database with set-based statements only."""
    from flask_appbuilder import Model
    from flask_appbuilder.security.sqla import models  # noqa: F401  (registers ab_user)

    dialect = engine.dialect.name
    Model.metadata.create_all(engine, tables=[Model.metadata.tables[USERS]])
    _earlier_epoch_table().create(engine)
    users, duplicates = scenario.users, scenario.duplicates
    prefix, source = _numbers(dialect, users)
    disabled = round(scenario.disabled_fraction * 1000)
    orphans = max(users // 1000, 1)
    first, second = _timestamp(dialect, FIRST_AT), _timestamp(dialect, SECOND_AT)
    columns = f"INSERT INTO {EPOCHS} (user_id, sessions_invalidated_at, reason, actor) "
    statements = [
        # Disabled where i % 1000 < disabled: the fraction, spread over the whole id range.
        (
            f"{prefix}INSERT INTO {USERS} (id, first_name, last_name, username, email, active)"
            f" SELECT i, 'First', 'Last', {_text(dialect, 'user')}, {_text(dialect, 'user', '@example.org')},"
            f" (i % 1000 >= {disabled}) FROM {source} WHERE i <= {users}"
        ),
        # One row for every fifth user; some without a time.
        (
            f"{prefix}{columns}SELECT i, CASE WHEN i % {NULL_EVERY} = 0 THEN NULL ELSE {first} END, 'disable', NULL"
            f" FROM {source} WHERE i <= {users} AND i % {EVERY} = 0"
        ),
        # A second, later row for the first `duplicates` of them: the rows to merge.
        (
            f"{prefix}{columns}SELECT i, {second}, NULL, 'cli'"
            f" FROM {source} WHERE i <= {duplicates * EVERY} AND i % {EVERY} = 0"
        ),
        # Rows of users deleted since: the foreign key would reject them.
        f"{prefix}{columns}SELECT {users} + i, {first}, 'disable', NULL FROM {source} WHERE i <= {orphans}",
    ]
    tables = [USERS, EPOCHS]
    if scenario.user_attributes:
        _user_attribute_table().create(engine)
        imported = f"(i % 10 = {IMPORT_MOVES} AND i > {duplicates * EVERY}) OR i % 10 = {IMPORT_CREATES}"
        statements.append(
            f"{prefix}INSERT INTO user_attribute (id, user_id, sessions_invalidated_at) SELECT i, i,"
            f" CASE WHEN {imported} THEN {_timestamp(dialect, IMPORTED_AT)} ELSE NULL END"
            f" FROM {source} WHERE i <= {users}"
        )
        tables.append("user_attribute")
    with engine.connect() as conn:
        if dialect == "sqlite":
            # Only this connection: the migration runs with SQLite's defaults.
            conn.exec_driver_sql("PRAGMA journal_mode = OFF")
            conn.exec_driver_sql("PRAGMA synchronous = OFF")
        for statement in statements:
            # text() escapes the modulo signs for pyformat drivers; no colon starts a name.
            conn.execute(sa.text(statement))
        conn.commit()
    # A production database has statistics and no pending writes; do not bill the
    # migration for the build's.
    settle(engine, tables)


def settle(engine: sa.engine.Engine, tables: t.Sequence[str]) -> None:
    """A server's steady state: statistics, and no pending writes billed to what is measured next.

    SQLite is left as an operator has it, without ``ANALYZE``.
    """
    dialect = engine.dialect.name
    if dialect == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f"VACUUM ANALYZE {', '.join(tables)}")
            conn.exec_driver_sql("CHECKPOINT")
    elif dialect in ("mysql", "mariadb"):
        with engine.connect() as conn:
            conn.exec_driver_sql(f"ANALYZE TABLE {', '.join(tables)}").all()


def _server(url: sa.engine.URL) -> sa.engine.Engine:
    database = "postgres" if url.get_backend_name() == "postgresql" else None  # MySQL: no database at all
    maintenance = sa.engine.URL.create(
        url.drivername, url.username, url.password, url.host, url.port, database, url.query
    )
    return sa.create_engine(maintenance, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")


def create_database(url: sa.engine.URL) -> None:
    """Create the database ``url`` names; refuse one that exists, so nothing is lost."""
    backend, name = url.get_backend_name(), url.database
    if backend == "sqlite":
        if name and Path(name).exists():
            raise SystemExit(f"{name} exists: give a path that does not, it is deleted at the end.")
        return
    if not name:
        raise SystemExit("The URL must name the database to create, for example .../fse_bench")
    server = _server(url)
    with server.connect() as conn:
        if backend == "postgresql":
            exists = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
        else:
            exists = conn.execute(
                sa.text("SELECT 1 FROM information_schema.schemata WHERE schema_name = :n"), {"n": name}
            ).first()
        if exists:
            raise SystemExit(f"The database {name} exists: name one that does not, it is dropped at the end.")
        quote = server.dialect.identifier_preparer.quote
        conn.exec_driver_sql(f"CREATE DATABASE {quote(name)}")
    server.dispose()


def drop_database(url: sa.engine.URL) -> None:
    if url.get_backend_name() == "sqlite":
        if url.database:
            Path(url.database).unlink(missing_ok=True)
        return
    server = _server(url)
    with server.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE {server.dialect.identifier_preparer.quote(str(url.database))}")
    server.dispose()


def run_upgrade(url: sa.engine.URL) -> Run:
    """Run ``migrate.upgrade()`` in a fresh interpreter; its own peak RSS via wait4."""
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.json"
        log = Path(scratch) / "stderr"
        env = {**os.environ, "FSE_BENCH_URL": url.render_as_string(hide_password=False)}
        started = time.perf_counter()
        with open(log, "w") as stderr:
            child = start([sys.executable, "-c", CHILD, str(report)], env=env, stderr=stderr)
            try:
                # wait4 gives this child's own rusage, not the maximum over all children so far.
                _, status, usage = os.wait4(child.pid, 0)
                child.returncode = os.waitstatus_to_exitcode(status)
            finally:
                stop(child)  # an interrupted wait: the child's group is stopped, then reaped
        wall = time.perf_counter() - started
        if child.returncode != 0:
            raise SystemExit(f"The upgrade failed (exit {child.returncode}):\n{log.read_text()}")
        data = json.loads(report.read_text())
    statements = sorted(((s, q) for s, q in data["statements"]), reverse=True)
    return Run(wall, data["upgrade"], data["startup"], usage.ru_maxrss, statements)


def _scalar(conn: sa.engine.Connection, query: t.Any) -> int:
    return int(conn.execute(query).scalar_one())


def verify(engine: sa.engine.Engine, scenario: Scenario) -> list[str]:
    """What an operator would check after the upgrade; returns the failures."""
    from flask_appbuilder import Model

    from flask_session_epoch import migrate
    from flask_session_epoch.models import UserSessionEpoch

    user, epoch = Model.metadata.tables[USERS], UserSessionEpoch.__table__
    count = sa.func.count()
    has_epoch = sa.exists().where(epoch.c.user_id == user.c.id)
    had_rows = (user.c.id % EVERY) == 0
    disabled = user.c.active == sa.false()
    imported = scenario.created(user.c.id) if scenario.user_attributes else sa.false()
    failures = []

    def expect(what: str, got: int, wanted: int) -> None:
        if got != wanted:
            failures.append(f"{what}: {got}, expected {wanted}")

    with engine.connect() as conn:
        expect("users", _scalar(conn, sa.select(count).select_from(user)), scenario.users)
        rows = _scalar(conn, sa.select(count).select_from(epoch))
        expect(
            "users with more than one row",
            rows - _scalar(conn, sa.select(sa.func.count(epoch.c.user_id.distinct()))),
            0,
        )
        expect("rows", rows, _scalar(conn, sa.select(count).where(had_rows | disabled | imported)))
        expect("users that had rows without one", _scalar(conn, sa.select(count).where(had_rows, ~has_epoch)), 0)
        expect("disabled users without a row", _scalar(conn, sa.select(count).where(disabled, ~has_epoch)), 0)
        expect(
            "rows of deleted users",
            _scalar(conn, sa.select(count).select_from(epoch).where(~sa.exists().where(user.c.id == epoch.c.user_id))),
            0,
        )
        no_time = sa.select(count).select_from(epoch).where(epoch.c.sessions_invalidated_at.is_(None))
        expect("rows without a time", _scalar(conn, no_time), 0)
        merged = sa.select(count).where(
            epoch.c.user_id <= scenario.duplicates * EVERY,
            epoch.c.sessions_invalidated_at == SECOND_AT,
            epoch.c.reason == "disable",
            epoch.c.actor == "cli",
        )
        expect("merged users keeping the latest time, reason and actor", _scalar(conn, merged), scenario.duplicates)
        expect(
            "backfilled rows",
            _scalar(conn, sa.select(count).select_from(epoch).where(epoch.c.reason == "backfill")),
            _scalar(conn, sa.select(count).where(disabled, ~had_rows, ~imported)),
        )
        if scenario.user_attributes:
            moved_or_created = scenario.moved(user.c.id) | scenario.created(user.c.id)
            expect(
                "imported rows",
                _scalar(
                    conn,
                    sa.select(count)
                    .select_from(epoch)
                    .where(
                        epoch.c.reason == "superset-import",
                        epoch.c.generation == 1,
                        epoch.c.sessions_invalidated_at == IMPORTED_AT,
                    ),
                ),
                _scalar(conn, sa.select(count).where(moved_or_created)),
            )
        inspector = sa.inspect(conn)
        if "ab_user_session_epoch_merge" in inspector.get_table_names():
            failures.append("the merge scratch table was left behind")
        if any(i["name"] == "ix_ab_user_session_epoch_user_id_merge" for i in inspector.get_indexes(EPOCHS)):
            failures.append("the merge scan index was left behind")
        unique = any(c["column_names"] == ["user_id"] for c in inspector.get_unique_constraints(EPOCHS)) or any(
            i["column_names"] == ["user_id"] and i.get("unique") for i in inspector.get_indexes(EPOCHS)
        )
        if not unique:
            failures.append("no unique constraint on user_id")
        if not any(fk["referred_table"] == USERS for fk in inspector.get_foreign_keys(EPOCHS)):
            failures.append("no foreign key to ab_user")
        version = [row[0] for row in conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}"))]
        if version != [migrate.head()]:
            failures.append(f"version table holds {version}, expected {[migrate.head()]}")
    return failures


def unstamp(engine: sa.engine.Engine) -> None:
    """Forget the recorded revision, as if a run died just before recording it."""
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DELETE FROM {VERSION_TABLE}")


HEADERS = ("backend", "users", "duplicates", "build s", "upgrade s", "peak RSS MiB", "rerun s")


def table(results: list[Result]) -> str:
    """A reStructuredText simple table, ready for README.rst."""
    rows = [
        (
            r.backend + (" +ua" if r.scenario.user_attributes else ""),
            f"{r.scenario.users:,}",
            f"{r.scenario.duplicates:,}",
            f"{r.build:.1f}",
            f"{r.first.wall:.1f}",
            f"{r.first.max_rss_kib / 1024:.0f}",
            f"{r.rerun.wall:.1f}",
        )
        for r in results
    ]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(HEADERS)]
    rule = " ".join("=" * w for w in widths)

    def line(cells: t.Sequence[str]) -> str:
        return " ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()

    return "\n".join([rule, line(HEADERS), rule, *(line(row) for row in rows), rule])


def summary(r: Result) -> str:
    return (
        f"{r.backend}: {r.scenario.users:,} users, {r.scenario.duplicates:,} duplicate rows"
        f"{', user_attribute' if r.scenario.user_attributes else ''}: upgrade {r.first.wall:.1f} s"
        f" (upgrade() {r.first.upgrade:.1f} s, interpreter and imports {r.first.startup:.1f} s),"
        f" peak RSS {r.first.max_rss_kib / 1024:.0f} MiB; rerun {r.rerun.wall:.1f} s;"
        f" rerun without the version row {r.unstamped.wall:.1f} s; verified"
    )


def slowest(run: Run, count: int) -> str:
    total = sum(s for s, _ in run.statements)
    lines = [
        (
            f"slowest statements of the first run ({len(run.statements)} statements, {total:.1f} s in the"
            f" database of {run.upgrade:.1f} s in upgrade()):"
        )
    ]
    for seconds, statement in run.statements[:count]:
        lines.append(f"  {seconds:7.2f} s  {statement[:150]}{'...' if len(statement) > 150 else ''}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    scratch = None
    if args.url:
        url = sa.make_url(args.url)
    else:
        scratch = tempfile.mkdtemp(prefix="fse-bench-")
        url = sa.make_url(f"sqlite:///{scratch}/bench.db")
    create_database(url)
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        scenario = Scenario(args.users, args.disabled_fraction, args.duplicates, args.user_attributes)
        print(
            f"building {args.users:,} users and {args.duplicates:,} duplicate rows in"
            f" {url.render_as_string(hide_password=True)}...",
            flush=True,
        )
        started = time.perf_counter()
        build(engine, scenario)
        built = time.perf_counter() - started
        print(f"built in {built:.1f} s; upgrading...", flush=True)
        first = run_upgrade(url)
        failures = verify(engine, scenario)
        rerun = run_upgrade(url)
        unstamp(engine)
        unstamped = run_upgrade(url)
        failures += [f"after a rerun without the version row: {f}" for f in verify(engine, scenario)]
        backend = "mariadb" if getattr(engine.dialect, "is_mariadb", False) else engine.dialect.name
        result = Result(backend, scenario, built, first, rerun, unstamped)
        if failures:
            print("VERIFICATION FAILED:\n  " + "\n  ".join(failures))
            return 1
        print(summary(result))
        print(table([result]))
        if args.statements:
            print(slowest(first, args.statements))
        return 0
    finally:
        engine.dispose()
        if args.keep:
            print(f"kept: {url.render_as_string(hide_password=True)}")
        else:
            drop_database(url)
            if scratch:
                shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(guarded(main))
