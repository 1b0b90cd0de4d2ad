"""Fixtures that run flask-session-epoch inside a real Apache Superset.

Superset is slow to set up and serves only 404s from a second ``create_app()`` in
the same process, so:

* the metadata database is prepared once per session with Superset's own CLI, and
  every consumer works on a copy of it;
* the tests share one app, built in this process;
* anything that needs another Superset (the plain one, for comparison) runs in a
  subprocess, see ``measure_queries.py``.

Nothing here imports Superset at module level: ``test_superset.py`` decides whether
a missing Superset is a skip or an error.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
CONFIG_PATH = HERE / "superset_config.py"

ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "admin-pass-1"
USER_PASSWORD = "user-pass-1"
# Usernames stay unique across the whole session, whichever tests run.
_user_numbers = itertools.count(1)



class Account(t.NamedTuple):
    """A user the tests can sign in as."""

    id: int
    username: str
    password: str


# The ``superset`` console script, run by this interpreter so that it is this venv's Superset.
SUPERSET_CLI = (sys.executable, "-c", "from superset.cli.main import superset; superset()")
CLI_TIMEOUT = 300


def superset_env(db_path: Path, home: Path, *, extension: bool = True) -> dict[str, str]:
    """The environment under which ``superset_config.py`` points Superset at ``db_path``."""
    return {
        **os.environ,
        "SUPERSET_CONFIG_PATH": str(CONFIG_PATH),
        # Superset keeps files under SUPERSET_HOME (default ~/.superset): keep them in tmp.
        "SUPERSET_HOME": str(home),
        "SESSION_EPOCH_TEST_DB": str(db_path),
        "SESSION_EPOCH_TEST_EXTENSION": "1" if extension else "0",
    }


def run_superset(*args: str, env: dict[str, str]) -> None:
    """Run one ``superset`` CLI command; fail the test with its output if it fails."""
    proc = subprocess.run(
        [*SUPERSET_CLI, *args], env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT
    )
    if proc.returncode != 0:
        pytest.fail(
            f"`superset {' '.join(args)}` exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def superset_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Superset's data directory for this run (instead of ~/.superset)."""
    return tmp_path_factory.mktemp("superset_home")


@pytest.fixture(scope="session")
def pristine_db(superset_home: Path) -> Path:
    """A Superset metadata database prepared the way an operator does it, with an admin.

    Takes about 35 s, hence once per session; copy it before writing to it.
    """
    db_path = superset_home / "pristine.db"
    env = superset_env(db_path, superset_home)
    run_superset("db", "upgrade", env=env)
    run_superset("init", env=env)
    run_superset(
        "fab", "create-admin", "--username", ADMIN_USERNAME, "--password", ADMIN_PASSWORD,
        "--firstname", "Ada", "--lastname", "Admin", "--email", "admin@example.org",
        env=env,
    )
    # `superset db upgrade` runs only Superset's migrations; ours run the way an operator
    # runs them (FAB's create_all may already have made the tables: they are adopted).
    run_superset("session-epoch", "db", "upgrade", env=env)
    return db_path


def copy_db(pristine_db: Path, target: Path) -> Path:
    """A private copy of the prepared database (SQLite: a file copy)."""
    shutil.copyfile(pristine_db, target)
    return target


@pytest.fixture(scope="session")
def app(pristine_db: Path, superset_home: Path, tmp_path_factory: pytest.TempPathFactory) -> t.Any:
    """The one Superset app of this process, with the extension, on its own copy of the database."""
    db_path = copy_db(pristine_db, tmp_path_factory.mktemp("app") / "superset.db")
    env = superset_env(db_path, superset_home)
    with pytest.MonkeyPatch.context() as mp:
        # superset.config reads superset_config.py, and that reads these, during create_app().
        for key, value in env.items():
            if os.environ.get(key) != value:
                mp.setenv(key, value)
        from superset.app import create_app

        app = create_app()
    # Let exceptions reach the test instead of becoming a 500 page.
    app.config["TESTING"] = True
    assert "session_epoch" in app.extensions, "CUSTOM_SECURITY_MANAGER did not install the extension"
    return app


@pytest.fixture
def client(app: t.Any) -> t.Any:
    """A fresh browser: its own cookie jar."""
    return app.test_client()


@pytest.fixture(scope="session")
def admin(app: t.Any) -> Account:
    """The admin created by ``superset fab create-admin``."""
    from superset.extensions import security_manager

    with app.app_context():
        return Account(security_manager.find_user(ADMIN_USERNAME).id, ADMIN_USERNAME, ADMIN_PASSWORD)


@pytest.fixture
def make_user(app: t.Any) -> t.Callable[[], Account]:
    """A factory of new Gamma users.

    Each test gets users of its own, so one test's revocations cannot leak into another.
    """
    from superset.extensions import security_manager

    def make() -> Account:
        username = f"user{next(_user_numbers)}"
        with app.app_context():
            user = security_manager.add_user(
                username, "Test", "User", f"{username}@example.org",
                security_manager.find_role("Gamma"), USER_PASSWORD,
            )
            assert user, f"could not create {username}"
            return Account(user.id, username, USER_PASSWORD)

    return make


@pytest.fixture
def statement_counts(pristine_db: Path, superset_home: Path, tmp_path: Path) -> dict[str, dict[str, t.Any]]:
    """SQL statements per request in a plain Superset and in one with the extension.

    Both run ``measure_queries.py`` in their own subprocess (one app per process), in
    parallel, each on its own copy of the database.
    """
    procs = {}
    for name, extension in (("plain", False), ("extension", True)):
        db_path = copy_db(pristine_db, tmp_path / f"{name}.db")
        output = tmp_path / f"{name}.json"
        procs[name] = (
            output,
            subprocess.Popen(
                [sys.executable, str(HERE / "measure_queries.py"), str(output), ADMIN_USERNAME, ADMIN_PASSWORD],
                env=superset_env(db_path, superset_home, extension=extension),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            ),
        )
    results = {}
    for name, (output, proc) in procs.items():
        log, _ = proc.communicate(timeout=CLI_TIMEOUT)
        if proc.returncode != 0:
            pytest.fail(f"measure_queries.py ({name}) exited {proc.returncode}:\n{log[-5000:]}", pytrace=False)
        results[name] = json.loads(output.read_text())
    return results
