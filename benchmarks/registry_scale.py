"""The session registry at scale: the per-request check, the listings and pruning.

Builds a throw-away database the way an operator has it (Flask-AppBuilder's tables made
by a FAB app, ours by ``flask_session_epoch.migrate.upgrade()``), fills
``ab_session_epoch_session`` with ``--records`` session records (1,000,000 by default)
of ``--users`` users with set-based SQL, one user holding ``--big-user`` sessions
(10,000) and another exactly one, with a mix of active and ended records. Then it
measures

* the per-request check: ``store.load_user_with_state()`` with a record id, for the
  user with one session and for the user with many, and its query plan (EXPLAIN);
* listings through ``sessions.list_sessions()`` inside the FAB app of
  ``tests/fabapp.py``: the first and a deep page of that user's sessions and of
  everyone's, all / active / ended, with their plans;
* pruning: old ended records are added until ``--prune-rows`` of them are due, then
  ``registry.prune(connection, cutoff, --batch)`` runs batch after batch, each in a
  transaction of its own, until none is left, while another thread goes on running the
  per-request check; its latency before and during pruning is reported.

See ``benchmarks/README.rst``::

    python benchmarks/registry_scale.py                                # 1,000,000 records, SQLite
    python benchmarks/registry_scale.py --records 20000 --big-user 2000
    python benchmarks/registry_scale.py --url postgresql+psycopg2://user:pw@host/fse_bench_reg

A server URL names a database that must not exist yet: it is created, and dropped at
the end unless ``--keep`` is given. The temporary directory of the SQLite file is
removed on every way out (normal end, error, Ctrl-C, SIGTERM, SIGHUP).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import logging
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
import typing as t
from pathlib import Path

import sqlalchemy as sa
from _processes import guarded  # benchmarks/_processes.py
from migrate_scale import _numbers, create_database, drop_database, settle  # benchmarks/migrate_scale.py
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from flask_session_epoch import registry, sessions, store
from flask_session_epoch.models import SessionRecord

ROOT = Path(__file__).resolve().parent.parent
USERS = "ab_user"
EPOCHS = "ab_user_session_epoch"
RECORDS = "ab_session_epoch_session"
DAY = 86_400
_R = t.cast(sa.Table, SessionRecord.__table__)
#: Records started over this many days; ended ones stay listed for HISTORY_DAYS (default 30).
SPAN_DAYS = 90
HISTORY_DAYS = 30
#: The mix, by a pseudo-random key 0..19 per record (each step is 5 %).
ACTIVE_BELOW = 5  # 0-4: open and not expired (25 %)
OPEN_EXPIRED = 5  # open, expired, not yet marked by registry.expire() (5 %)
LOGOUT_BELOW = 13  # 6-12: ended by logout (35 %)
EXPIRED_BELOW = 17  # 13-16: marked expired (20 %)
EPOCH_ENDED = 18  # open, but the user's epoch moved on since ("sign out everywhere", 5 %)
# 17 and 19: ended by an admin (10 %)
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"
RECORD_COLUMNS = (
    "id", "user_id", "kind", "auth_method", "provider", "user_generation", "global_generation", "started_at",
    "last_active_at", "expires_at", "ip", "user_agent", "device", "sid_key", "ended_at", "end_reason", "ended_by",
)


@dataclasses.dataclass
class Layout:
    """Who owns which records, and the moment the data is built around."""

    records: int
    users: int
    big: int
    first_id: int  # ids first_id .. first_id + users - 1 are ours; FAB's admin and alice come before
    now: dt.datetime

    @property
    def big_id(self) -> int:
        return self.first_id

    @property
    def single_id(self) -> int:
        return self.first_id + 1

    @property
    def others_first(self) -> int:
        return self.first_id + 2

    @property
    def others(self) -> int:
        return self.users - 2

    @property
    def step(self) -> int:
        """The big user owns every ``step``-th record, so their sessions are spread over the table."""
        return self.records // self.big

    @property
    def cutoff(self) -> dt.datetime:
        return self.now - dt.timedelta(days=HISTORY_DAYS)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="SQLAlchemy URL of a database to create (default: a SQLite file in a temp dir)")
    parser.add_argument("--records", type=int, default=1_000_000, help="session records (default 1000000)")
    parser.add_argument("--users", type=int, default=None, help="users owning them (default records/10)")
    parser.add_argument("--big-user", type=int, default=10_000, help="sessions of the biggest user (default 10000)")
    parser.add_argument(
        "--prune-rows", type=int, default=None,
        help="old ended records to prune: added before pruning until this many are due (default: --records)",
    )
    parser.add_argument("--batch", type=int, default=1000, help="registry.prune() batch size (default 1000)")
    parser.add_argument("--check-runs", type=int, default=2000, help="timed checks per user (default 2000)")
    parser.add_argument("--list-runs", type=int, default=3, help="timed calls per listing, after one warm-up (3)")
    parser.add_argument("--page-size", type=int, default=25, help="listing page size (default 25)")
    parser.add_argument("--deep-page", type=int, default=400, help="the deep page, 0-based (default 400)")
    parser.add_argument("--baseline-seconds", type=float, default=5.0,
                        help="checks in the background thread before pruning starts (default 5)")
    parser.add_argument("--check-pause", type=float, default=0.001,
                        help="pause of the background thread between two checks, s (default 0.001)")
    parser.add_argument("--keep", action="store_true", help="keep the database and print its URL")
    args = parser.parse_args(argv)
    if args.users is None:
        args.users = max(args.records // 10, 3)
    if args.prune_rows is None:
        args.prune_rows = args.records
    if args.users < 3:
        parser.error("--users must be at least 3")
    if not 1 <= args.big_user <= args.records // 2:
        parser.error("--big-user must be between 1 and records/2")
    if min(args.batch, args.check_runs, args.list_runs, args.page_size) < 1 or args.prune_rows < 0:
        parser.error("sizes and counts must be positive")
    return args


# -- SQL pieces per dialect -------------------------------------------------------------


def _div(dialect: str, a: str, b: str) -> str:
    """Integer division."""
    return f"({a} DIV {b})" if dialect in ("mysql", "mariadb") else f"({a} / {b})"


def _concat(dialect: str, *parts: str) -> str:
    if dialect in ("mysql", "mariadb"):
        return f"CONCAT({', '.join(parts)})"
    return "(" + " || ".join(parts) + ")"


def _literal(dialect: str, when: dt.datetime) -> str:
    if dialect == "sqlite":
        return f"'{when:%Y-%m-%d %H:%M:%S}'"
    return f"TIMESTAMP '{when:%Y-%m-%d %H:%M:%S}'"


def _at(dialect: str, now: dt.datetime, seconds: str) -> str:
    """SQL for ``now`` plus ``seconds`` (an integer expression, may be negative), as our columns store it."""
    base = _literal(dialect, now)
    if dialect == "sqlite":
        # SQLAlchemy's DateTime on SQLite: text with six fraction digits.
        return f"(strftime('%Y-%m-%d %H:%M:%S', {base}, ({seconds}) || ' seconds') || '.000000')"
    if dialect == "postgresql":
        return f"({base} + ({seconds}) * INTERVAL '1 second')"
    return f"({base} + INTERVAL ({seconds}) SECOND)"


def _random_id(dialect: str) -> str:
    """43 random characters, as long as ``registry.new_id()``'s (their order is random too)."""
    if dialect == "sqlite":
        return "substr(lower(hex(randomblob(22))), 1, 43)"
    if dialect == "postgresql":
        return "substr(md5(random()::text) || md5(random()::text), 1, 43)"
    return "substr(CONCAT(md5(rand()), md5(rand())), 1, 43)"


def _insert_records(dialect: str, layout: Layout, count: int, select: str) -> str:
    prefix, source = _numbers(dialect, count)
    return f"{prefix}INSERT INTO {RECORDS} ({', '.join(RECORD_COLUMNS)}) {select.format(source=source)}"


def records_sql(dialect: str, layout: Layout) -> str:
    """One INSERT ... SELECT of every record; see the mix constants above."""
    n, step = layout.records, layout.step
    big_row = f"(i % {step} = 0 AND i <= {layout.big * step})"
    # a: the age of the record in seconds, pseudo-random over SPAN_DAYS; k: its place in the mix.
    times_i = "i::bigint" if dialect == "postgresql" else "i"
    age = f"(({times_i} * 7919) % {SPAN_DAYS * DAY})"
    user = (f"CASE WHEN {big_row} THEN {layout.big_id} WHEN i = 1 THEN {layout.single_id}"
            f" ELSE {layout.others_first} + i % {layout.others} END")
    kind = f"CASE WHEN i = 1 THEN 0 ELSE {_div(dialect, age, '60')} % 20 END"
    inner = f"SELECT i, {user} AS u, {age} AS a, {kind} AS k FROM {{source}} WHERE i <= {n}"
    active, logout, expired = f"k < {ACTIVE_BELOW}", f"k > {OPEN_EXPIRED} AND k < {LOGOUT_BELOW}", \
        f"k >= {LOGOUT_BELOW} AND k < {EXPIRED_BELOW}"
    open_ = f"({active} OR k = {OPEN_EXPIRED} OR k = {EPOCH_ENDED})"
    # Active records started within 14 days; marked-expired ones a day before their age.
    started_ago = f"CASE WHEN {active} THEN a % {14 * DAY} WHEN {expired} THEN a + {DAY} ELSE a END"
    started = f"(0 - ({started_ago}))"
    ended_after = f"CASE WHEN {expired} THEN {DAY} ELSE a % 14400 END"  # logout/admin: within 4 h, before now
    lifetime = f"CASE WHEN k = {OPEN_EXPIRED} OR {expired} THEN {DAY} ELSE {31 * DAY} END"
    ip = _concat(dialect, "'192.0.2.'", "CAST(i % 250 AS CHAR(3))" if dialect in ("mysql", "mariadb")
                 else "CAST(i % 250 AS VARCHAR(3))")
    select = (
        f"SELECT {_random_id(dialect)}, u, CASE WHEN k % 4 = 3 THEN 'api' ELSE 'browser' END, 'db', NULL,"
        f" CASE WHEN k = {EPOCH_ENDED} THEN 0 ELSE 1 END, 0,"
        f" {_at(dialect, layout.now, started)},"
        f" CASE WHEN {active} THEN {_at(dialect, layout.now, '0 - a % 3600')}"
        f" WHEN {open_} THEN {_at(dialect, layout.now, started)}"
        f" ELSE {_at(dialect, layout.now, f'{started} + {ended_after}')} END,"
        f" CASE WHEN {active} THEN {_at(dialect, layout.now, f'{DAY} * (1 + i % 30)')}"
        f" ELSE {_at(dialect, layout.now, f'{started} + {lifetime}')} END,"
        f" {ip}, '{USER_AGENT}', 'Firefox 120 on Linux', NULL,"
        f" CASE WHEN {open_} THEN NULL ELSE {_at(dialect, layout.now, f'{started} + {ended_after}')} END,"
        f" CASE WHEN {open_} THEN NULL WHEN {logout} THEN 'logout' WHEN {expired} THEN 'expired' ELSE 'admin' END,"
        f" CASE WHEN {open_} THEN NULL WHEN {logout} THEN 'self' WHEN {expired} THEN 'system' ELSE 'admin' END"
        f" FROM ({inner}) AS s"
    )
    return _insert_records(dialect, layout, n, select)


def old_records_sql(dialect: str, layout: Layout, count: int) -> str:
    """``count`` records that ended by logout more than HISTORY_DAYS ago (the users other than the two)."""
    times_i = "i::bigint" if dialect == "postgresql" else "i"
    started = f"(0 - {(HISTORY_DAYS + 1) * DAY} - (({times_i} * 7919) % {(SPAN_DAYS - HISTORY_DAYS) * DAY}))"
    ended = f"{started} + i % 14400"
    select = (
        f"SELECT {_random_id(dialect)}, {layout.others_first} + i % {layout.others}, 'browser', 'db', NULL, 1, 0,"
        f" {_at(dialect, layout.now, started)}, {_at(dialect, layout.now, ended)},"
        f" {_at(dialect, layout.now, f'{started} + {31 * DAY}')}, '192.0.2.1', '{USER_AGENT}',"
        f" 'Firefox 120 on Linux', NULL, {_at(dialect, layout.now, ended)}, 'logout', 'self'"
        f" FROM {{source}} WHERE i <= {count}"
    )
    return _insert_records(dialect, layout, count, select)


# -- building ---------------------------------------------------------------------------


def _tests_importable() -> None:
    """tests/fabapp.py and tests/databases.py import each other as top-level modules."""
    if str(ROOT / "tests") not in sys.path:
        sys.path.insert(0, str(ROOT / "tests"))


def prepare(url: sa.engine.URL) -> None:
    """FAB's tables from a FAB app (with its admin and alice), ours from migrate.upgrade()."""
    _tests_importable()
    from databases import prepare_database  # tests/databases.py

    prepare_database(url.render_as_string(hide_password=False))


def _execute(engine: sa.engine.Engine, statements: t.Sequence[str]) -> None:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            # Only this connection: the measurements run with SQLite's defaults.
            conn.exec_driver_sql("PRAGMA journal_mode = OFF")
            conn.exec_driver_sql("PRAGMA synchronous = OFF")
            conn.exec_driver_sql("PRAGMA cache_size = -262144")
        for statement in statements:
            conn.execute(sa.text(statement))  # text(): modulo signs escaped for pyformat drivers
        conn.commit()


def build(engine: sa.engine.Engine, layout: Layout) -> None:
    """Users (each with the epoch row every user gets at creation) and the records."""
    dialect = engine.dialect.name
    prefix, source = _numbers(dialect, layout.users)
    user_id = f"{layout.first_id - 1} + i"
    created = _literal(dialect, layout.now - dt.timedelta(days=2 * SPAN_DAYS))
    if dialect == "sqlite":
        created = f"({created} || '.000000')"
    username, email = _concat(dialect, "'bench'", "i"), _concat(dialect, "'bench'", "i", "'@example.org'")
    statements = [
        (f"{prefix}INSERT INTO {USERS} (id, first_name, last_name, username, email, active, created_on,"
         f" changed_on) SELECT {user_id}, 'Bench', 'User', {username}, {email}, (1 = 1), {created}, {created}"
         f" FROM {source} WHERE i <= {layout.users}"),
        (f"{prefix}INSERT INTO {EPOCHS} (user_id, sessions_invalidated_at, generation, reason, actor)"
         f" SELECT {user_id}, {created}, 1, 'created', 'system' FROM {source} WHERE i <= {layout.users}"),
        records_sql(dialect, layout),
    ]
    _execute(engine, statements)


def prunable(conn: sa.engine.Connection, cutoff: dt.datetime) -> int:
    r = _R
    due = sa.func.coalesce(r.c.ended_at, r.c.expires_at) < cutoff
    return int(conn.execute(sa.select(sa.func.count()).select_from(r).where(due)).scalar_one())


def mix(engine: sa.engine.Engine, layout: Layout) -> list[tuple[str, str]]:
    """What the table holds, by what ended each record, for the printout."""
    r = _R
    now = layout.now
    is_open = r.c.ended_at.is_(None)
    holds = sa.and_(is_open, r.c.expires_at > now, r.c.user_generation == 1)
    cases = sa.case(
        (holds, "active"),
        (sa.and_(is_open, r.c.expires_at <= now), "open, expired (not yet marked)"),
        (is_open, "open, ended by the user's epoch"),
        else_=sa.func.coalesce(r.c.end_reason, "?"),
    ).label("what")
    with engine.connect() as conn:
        rows = conn.execute(sa.select(cases, sa.func.count()).group_by(cases).order_by(cases)).all()
        per_user = dict(conn.execute(
            sa.select(r.c.user_id, sa.func.count()).where(r.c.user_id.in_([layout.big_id, layout.single_id]))
            .group_by(r.c.user_id)).all())
        due = prunable(conn, layout.cutoff)
    total = sum(count for _, count in rows)
    lines = [(what, f"{count:,} ({100 * count / total:.0f} %)") for what, count in rows]
    lines += [
        ("all records", f"{total:,}"),
        (f"user {layout.big_id} (big)", f"{per_user.get(layout.big_id, 0):,}"),
        (f"user {layout.single_id} (one session)", f"{per_user.get(layout.single_id, 0):,}"),
        (f"due for pruning (ended before now - {HISTORY_DAYS} days)", f"{due:,}"),
    ]
    return lines


def active_record(engine: sa.engine.Engine, user_id: int, now: dt.datetime) -> str:
    """The newest record of the user that holds."""
    r = _R
    with engine.connect() as conn:
        found = conn.execute(
            sa.select(r.c.id).where(r.c.user_id == user_id, r.c.ended_at.is_(None), r.c.expires_at > now,
                                    r.c.user_generation == 1)
            .order_by(r.c.started_at.desc()).limit(1)
        ).scalar()
    if found is None:
        raise SystemExit(f"user {user_id} has no active record: the build is wrong")
    return str(found)


# -- measuring ---------------------------------------------------------------------------


@dataclasses.dataclass
class Captured:
    statement: str
    parameters: t.Any
    seconds: float = 0.0


@contextlib.contextmanager
def capture() -> t.Iterator[list[Captured]]:
    """Every statement any engine sends meanwhile, with its time in the database driver."""
    found: list[Captured] = []
    started: list[float] = []

    def before(conn: t.Any, cursor: t.Any, statement: str, parameters: t.Any, context: t.Any, many: bool) -> None:
        found.append(Captured(statement, parameters))
        started.append(time.perf_counter())

    def after(conn: t.Any, cursor: t.Any, statement: str, parameters: t.Any, context: t.Any, many: bool) -> None:
        found[-1].seconds = time.perf_counter() - started.pop()

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", before)
    sa.event.listen(sa.engine.Engine, "after_cursor_execute", after)
    try:
        yield found
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", before)
        sa.event.remove(sa.engine.Engine, "after_cursor_execute", after)


def explain(engine: sa.engine.Engine, query: Captured) -> tuple[list[str], list[str]]:
    """The plan of a captured statement, and the tables it reads by a full scan."""
    dialect = engine.dialect.name
    with engine.connect() as conn:
        if dialect == "sqlite":
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + query.statement, query.parameters).all()
            depth: dict[int, int] = {}
            lines = []
            for node, parent, _, detail in rows:
                depth[node] = depth.get(parent, -1) + 1
                lines.append("  " * depth[node] + detail)
            scans = [line.strip() for line in lines if line.strip().startswith("SCAN ")
                     and "CONSTANT ROW" not in line]
        elif dialect == "postgresql":
            rows = conn.exec_driver_sql("EXPLAIN (ANALYZE, COSTS OFF) " + query.statement, query.parameters).all()
            lines = [row[0] for row in rows]
            scans = [found.group(0) for line in lines if (found := re.search(r"Seq Scan on \w+", line))]
        else:
            result = conn.exec_driver_sql("EXPLAIN " + query.statement, query.parameters)
            keys = list(result.keys())
            lines = ["  ".join(f"{k}={v}" for k, v in zip(keys, row, strict=True)
                               if k in ("table", "type", "key", "rows", "Extra")) for row in result]
            scans = [line for line in lines if "type=ALL" in line]
        conn.rollback()
    return lines, scans


def percentile(values: t.Sequence[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def one_check(engine: sa.engine.Engine, user_model: t.Any, user_id: int, record_id: str) -> tuple[float, bool]:
    """One request's check, in a session of its own as a request has: its time, and whether the record holds."""
    with Session(engine) as db:
        started = time.perf_counter()
        user, state = store.load_user_with_state(db, user_model, user_id, record_id)
        took = time.perf_counter() - started
    holds = user is not None and state.record is not None and state.record.holds(state, store.utcnow())
    return took, holds


def time_checks(engine: sa.engine.Engine, user_model: t.Any, user_id: int, record_id: str, runs: int) -> list[float]:
    for _ in range(20):  # warm-up: compiled statement cache, pool, page cache
        one_check(engine, user_model, user_id, record_id)
    times = []
    for _ in range(runs):
        took, holds = one_check(engine, user_model, user_id, record_id)
        if not holds:
            raise SystemExit(f"the record of user {user_id} does not hold: the build is wrong")
        times.append(took)
    return times


def check_plan(engine: sa.engine.Engine, user_model: t.Any, user_id: int, record_id: str) -> Captured:
    with capture() as found, Session(engine) as db:
        store.load_user_with_state(db, user_model, user_id, record_id)
    if len(found) != 1:
        raise SystemExit(f"load_user_with_state sent {len(found)} statements, expected 1")
    return found[0]


@dataclasses.dataclass
class Listing:
    what: str
    state: str
    page: int
    rows: int
    total: int
    call: float  # median of list_sessions()
    count: float  # median time of its COUNT statement in the driver
    fetch: float  # and of its page SELECT
    statements: list[Captured]


def time_listing(user_id: int | None, state: str | None, page: int, page_size: int, runs: int,
                 what: str) -> Listing:
    calls, counts, fetches = [], [], []
    found: list[Captured]
    rows: list[t.Any] = []
    total = 0
    db = sessions.db_session(sessions.security_manager())
    for run in range(runs + 1):
        with capture() as found:
            started = time.perf_counter()
            rows, total = sessions.list_sessions(user_id, state, page, page_size)
            took = time.perf_counter() - started
        db.rollback()
        if run == 0:
            continue  # warm-up
        calls.append(took)
        counts.append(sum(q.seconds for q in found if "count(" in q.statement.lower()))
        fetches.append(sum(q.seconds for q in found if "count(" not in q.statement.lower()))
    return Listing(what, state or "all", page, len(rows), total, statistics.median(calls), statistics.median(counts),
                   statistics.median(fetches), found)


def listings(url: sa.engine.URL, layout: Layout, args: argparse.Namespace) -> tuple[list[Listing], list[str]]:
    """The listings inside the FAB app of tests/fabapp.py (SessionEpochSecurityManager)."""
    _tests_importable()
    from databases import dispose  # tests/databases.py
    from fabapp import create_app  # tests/fabapp.py

    app = create_app(url.render_as_string(hide_password=False))
    results: list[Listing] = []
    plans: list[str] = []
    try:
        with app.app_context():
            engine = sessions.db_session(sessions.security_manager()).get_bind()
            for user_id, what in ((layout.big_id, f"user {layout.big_id} ({layout.big:,} sessions)"),
                                  (None, "all users")):
                for state in (None, sessions.ACTIVE, sessions.ENDED):
                    first = time_listing(user_id, state, 0, args.page_size, args.list_runs, what)
                    last_page = max((first.total - 1) // args.page_size, 0)
                    deep = time_listing(user_id, state, min(args.deep_page, last_page), args.page_size,
                                        args.list_runs, what)
                    results += [first, deep]
                    print(f"  {what}, {first.state}: page 0 {ms(first.call)} ms, page {deep.page}"
                          f" {ms(deep.call)} ms ({first.total:,} in all)", flush=True)
                    for query in deep.statements:
                        lines, scans = explain(engine, query)
                        kind = "COUNT" if "count(" in query.statement.lower() else "page SELECT"
                        plans.append(f"{what}, {first.state}, page {deep.page}: {kind}\n    " + "\n    ".join(lines)
                                     + f"\n  -> full scans: {'; '.join(scans) or 'none'}")
    finally:
        dispose(app)
    return results, plans


@dataclasses.dataclass
class Latencies:
    times: list[float] = dataclasses.field(default_factory=list)
    errors: list[str] = dataclasses.field(default_factory=list)
    not_holding: int = 0


class Checker(threading.Thread):
    """Requests that go on: the per-request check, again and again, for both users in turn."""

    def __init__(self, engine: sa.engine.Engine, user_model: t.Any, targets: list[tuple[int, str]],
                 pause: float) -> None:
        super().__init__(name="checker", daemon=True)
        self.engine, self.user_model, self.targets, self.pause = engine, user_model, targets, pause
        self.phase = Latencies()
        self.done = threading.Event()

    def switch(self) -> Latencies:
        """Start a new phase; returns the one that ended."""
        ended, self.phase = self.phase, Latencies()
        return ended

    def run(self) -> None:
        while not self.done.is_set():
            for user_id, record_id in self.targets:
                phase = self.phase
                try:
                    took, holds = one_check(self.engine, self.user_model, user_id, record_id)
                except SQLAlchemyError as error:  # e.g. SQLite's "database is locked" after its busy timeout
                    phase.errors.append(str(getattr(error, "orig", error)))
                    continue
                phase.times.append(took)
                phase.not_holding += not holds
                self.done.wait(self.pause)


@dataclasses.dataclass
class Pruning:
    rows: int
    batches: list[tuple[int, float]]
    total: float
    top_up: float
    added: int


def prune_all(engine: sa.engine.Engine, cutoff: dt.datetime, batch: int) -> list[tuple[int, float]]:
    """Rounds as a process runs them after a response, until nothing is due: ``registry.expire``
    (open records past their expiry marked) then ``registry.prune``, each in a transaction of
    its own. (rows deleted, seconds of the round) of each round.
    """
    now = cutoff + dt.timedelta(days=HISTORY_DAYS)
    batches = []
    while True:
        started = time.perf_counter()
        with engine.begin() as conn:
            marked = registry.expire(conn, now, batch)
        with engine.begin() as conn:
            deleted = registry.prune(conn, cutoff, batch)
        took = time.perf_counter() - started
        if not deleted and not marked:
            return batches
        batches.append((deleted, took))
        if len(batches) % 100 == 0:
            done = sum(rows for rows, _ in batches)
            print(f"  {len(batches)} batches, {done:,} rows, last batch {ms(took)} ms", flush=True)


def prune_plan(engine: sa.engine.Engine, cutoff: dt.datetime, batch: int) -> Captured:
    """The SELECT of one prune batch (its DELETE rolled back)."""
    with engine.connect() as conn, capture() as found:
        registry.prune(conn, cutoff, batch)
        conn.rollback()
    return found[0]


# -- printing ---------------------------------------------------------------------------


def table(headers: t.Sequence[str], rows: t.Sequence[t.Sequence[str]]) -> str:
    """A reStructuredText simple table, ready for README.rst."""
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]
    rule = "  ".join("=" * w for w in widths)

    def line(cells: t.Sequence[str]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()

    return "\n".join([rule, line(headers), rule, *(line(row) for row in rows), rule])


def latency_row(name: str, phase: Latencies) -> list[str]:
    times = phase.times or [float("nan")]
    return [name, f"{len(phase.times):,}", ms(percentile(times, 50)), ms(percentile(times, 95)),
            ms(percentile(times, 99)), ms(max(times)), str(len(phase.errors) + phase.not_holding)]


def print_plan(title: str, lines: list[str], scans: list[str]) -> None:
    print(f"{title}:\n    " + "\n    ".join(lines))
    print(f"  -> index lookups only: {'yes' if not scans else 'NO, full scans: ' + '; '.join(scans)}")


# -- main ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # The FAB app's start-up chatter (permission sync, "no user yet") is not a result.
    logging.getLogger("flask_appbuilder").setLevel(logging.ERROR)
    scratch = None
    if args.url:
        url = sa.make_url(args.url)
    else:
        scratch = tempfile.mkdtemp(prefix="fse-bench-registry-")
        url = sa.make_url(f"sqlite:///{scratch}/bench.db")
    create_database(url)  # before the try: a database that exists is refused, never dropped
    checker: Checker | None = None
    engine: sa.engine.Engine | None = None
    try:
        print(f"preparing {url.render_as_string(hide_password=True)} (FAB app, migrate.upgrade())...", flush=True)
        prepare(url)
        engine = sa.create_engine(url)
        from flask_appbuilder.security.sqla.models import User

        with engine.connect() as conn:
            first_id = int(conn.execute(sa.select(sa.func.max(User.id))).scalar() or 0) + 1
        layout = Layout(args.records, args.users, args.big_user, first_id, store.utcnow().replace(microsecond=0))
        print(f"building {args.users:,} users and {args.records:,} records...", flush=True)
        started = time.perf_counter()
        build(engine, layout)
        settle(engine, (USERS, EPOCHS, RECORDS))
        print(f"built in {time.perf_counter() - started:.1f} s", flush=True)
        print(table(("records", "count"), mix(engine, layout)))
        dialect = engine.dialect.name
        backend = "mariadb" if getattr(engine.dialect, "is_mariadb", False) else dialect

        # (a) The per-request check.
        targets = [(layout.single_id, active_record(engine, layout.single_id, layout.now)),
                   (layout.big_id, active_record(engine, layout.big_id, layout.now))]
        check_rows = []
        for (user_id, record_id), sessions_of in zip(targets, (1, args.big_user), strict=True):
            times = time_checks(engine, User, user_id, record_id, args.check_runs)
            check_rows.append([f"{sessions_of:,}", f"{len(times):,}", ms(statistics.median(times)),
                               ms(percentile(times, 95)), ms(percentile(times, 99))])
        print(f"\n(a) per-request check, load_user_with_state() with a record id, {args.records:,} records,"
              f" {backend}:")
        print(table(("sessions of the user", "runs", "median ms", "p95 ms", "p99 ms"), check_rows))
        plan_lines, plan_scans = explain(engine, check_plan(engine, User, *targets[1]))
        how = {"sqlite": "EXPLAIN QUERY PLAN", "postgresql": "EXPLAIN (ANALYZE, COSTS OFF)"}.get(dialect, "EXPLAIN")
        print_plan(f"plan of the check ({how},"
                   f" user {layout.big_id})", plan_lines, plan_scans)

        # (b) Listings.
        print(f"\n(b) listings, sessions.list_sessions(), page size {args.page_size}:", flush=True)
        results, plans = listings(url, layout, args)
        print(table(
            ("listing", "state", "page", "rows", "total", "median ms", "COUNT ms", "page SELECT ms"),
            [[r.what, r.state, str(r.page), str(r.rows), f"{r.total:,}", ms(r.call), ms(r.count), ms(r.fetch)]
             for r in results],
        ))
        for plan in plans:
            print("plan of " + plan)

        # (c) Pruning, with requests going on.
        with engine.connect() as conn:
            due = prunable(conn, layout.cutoff)
        added = max(args.prune_rows - due, 0)
        print(f"\n(c) pruning: {due:,} records due; adding {added:,} old ended ones...", flush=True)
        started = time.perf_counter()
        if added:
            _execute(engine, [old_records_sql(dialect, layout, added)])
            settle(engine, (USERS, EPOCHS, RECORDS))
        top_up = time.perf_counter() - started
        print(table(("records", "count"), mix(engine, layout)))
        plan_lines, plan_scans = explain(engine, prune_plan(engine, layout.cutoff, args.batch))
        print_plan("plan of a prune batch's SELECT", plan_lines, plan_scans)

        checker = Checker(engine, User, targets, args.check_pause)
        checker.start()
        time.sleep(args.baseline_seconds)
        baseline = checker.switch()
        print(f"pruning in batches of {args.batch} while the checks go on...", flush=True)
        started = time.perf_counter()
        batches = prune_all(engine, layout.cutoff, args.batch)
        total = time.perf_counter() - started
        during = checker.switch()
        checker.done.set()
        checker.join(timeout=30)
        with engine.connect() as conn:
            left = prunable(conn, layout.cutoff)
            remaining = int(conn.execute(sa.select(sa.func.count()).select_from(_R))
                            .scalar_one())
        pruning = Pruning(sum(rows for rows, _ in batches), batches, total, top_up, added)
        times = [took for _, took in batches] or [0.0]
        tenth = max(len(times) // 10, 1)
        print(f"\n(c) pruning {pruning.rows:,} records ({added:,} of them added in {top_up:.1f} s),"
              f" batch {args.batch}, {backend}; {remaining:,} records left, {left} due:")
        print(table(
            ("rows pruned", "batches", "total s", "median batch ms", "p99 batch ms", "max batch ms",
             "first 10 % median ms", "last 10 % median ms"),
            [[f"{pruning.rows:,}", f"{len(batches):,}", f"{total:.1f}", ms(statistics.median(times)),
              ms(percentile(times, 99)), ms(max(times)), ms(statistics.median(times[:tenth])),
              ms(statistics.median(times[-tenth:]))]],
        ))
        print("per-request check in another thread (both users in turn), latency:")
        print(table(("phase", "checks", "p50 ms", "p95 ms", "p99 ms", "max ms", "failed"),
                    [latency_row(f"before pruning ({args.baseline_seconds:g} s)", baseline),
                     latency_row(f"during pruning ({total:.0f} s)", during)]))
        errors = baseline.errors + during.errors
        if errors:
            print(f"errors in the checks: {len(errors)}, first: {errors[0]}")
        failed = left != 0 or baseline.not_holding or during.not_holding
        if failed:
            print("FAILED: records still due after pruning, or a check that should hold did not")
        return 1 if failed else 0
    finally:
        if checker is not None:
            checker.done.set()
            checker.join(timeout=30)
        if engine is not None:
            engine.dispose()
        if args.keep:
            print(f"kept: {url.render_as_string(hide_password=True)}")
        else:
            try:
                drop_database(url)
            except SQLAlchemyError as error:  # say so, without hiding why the script ended
                print(f"could not drop {url.render_as_string(hide_password=True)}: {error}", file=sys.stderr)
            if scratch:
                shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(guarded(main))
