"""Our migration chain next to Superset's: ``superset session-epoch db ...`` on a real Superset database."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from conftest import ADMIN_USERNAME as ADMIN
from conftest import SUPERSET_CLI, copy_db, run_superset, superset_env

from flask_session_epoch.migrations import SCRIPT_LOCATION

if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
    import superset.app  # noqa: F401 - in CI a missing Superset is an error, not a skip
else:
    pytest.importorskip("superset.app", reason="apache-superset is not installed (pip install apache-superset==6.1.0)")

pytestmark = pytest.mark.superset

HEAD = ScriptDirectory(SCRIPT_LOCATION).get_current_head()
OURS = (
    "ab_user_session_epoch",
    "ab_session_epoch_global",
    "ab_session_epoch_oidc_subject",
    "ab_session_epoch_oidc_jti",
    "ab_session_epoch_session",
)


def query(db_path: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db_path) as conn:
        return conn.execute(sql).fetchall()


def tables(db_path: Path) -> set[str]:
    return {row[0] for row in query(db_path, "SELECT name FROM sqlite_master WHERE type = 'table'")}


@pytest.fixture
def deployment(pristine_db: Path, superset_home: Path, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A Superset database as it is before flask-session-epoch is installed."""
    db_path = copy_db(pristine_db, tmp_path / "superset.db")
    with sqlite3.connect(db_path) as conn:
        for table in (*OURS, "alembic_version_session_epoch"):
            conn.execute(f"DROP TABLE IF EXISTS {table}")
        # One disabled user, whose old sessions must not come back when re-enabled.
        conn.execute("UPDATE ab_user SET active = 0 WHERE username = 'admin'")
    return db_path, superset_env(db_path, superset_home)


def test_superset_alembic_version_is_untouched(deployment: tuple[Path, dict[str, str]]) -> None:
    db_path, env = deployment
    superset_revision = query(db_path, "SELECT version_num FROM alembic_version")
    assert superset_revision

    run_superset("session-epoch", "db", "upgrade", env=env)
    assert set(OURS) <= tables(db_path)
    assert query(db_path, "SELECT version_num FROM alembic_version") == superset_revision
    assert query(db_path, "SELECT reason FROM ab_user_session_epoch") == [("backfill",)]

    # Superset's own chain still runs (a no-op) and still sees its own revision.
    run_superset("db", "upgrade", env=env)
    assert query(db_path, "SELECT version_num FROM alembic_version") == superset_revision

    current = subprocess.run(
        [*SUPERSET_CLI, "session-epoch", "db", "current"], env=env, capture_output=True, text=True, timeout=300
    )
    assert current.returncode == 0 and HEAD in current.stdout.split()

    run_superset("session-epoch", "db", "downgrade", "base", env=env)
    assert not set(OURS) & tables(db_path)
    assert query(db_path, "SELECT version_num FROM alembic_version") == superset_revision


def test_superset_without_our_manager_is_refused_by_our_cli(pristine_db: Path, superset_home: Path,
                                                              tmp_path: Path) -> None:
    """A Superset whose CUSTOM_SECURITY_MANAGER is not ours: our commands say so instead of running."""
    env = superset_env(copy_db(pristine_db, tmp_path / "superset.db"), superset_home, extension=False)
    refused = subprocess.run([*SUPERSET_CLI, "session-epoch", "revoke", ADMIN], env=env, capture_output=True,
                             text=True, timeout=300)
    assert refused.returncode == 1
    assert "Error: flask-session-epoch is not in use in this app" in refused.stderr
    assert "superset.security.manager.SupersetSecurityManager" in refused.stderr
    assert "CUSTOM_SECURITY_MANAGER is not set" in refused.stderr
    assert "Traceback" not in refused.stderr
