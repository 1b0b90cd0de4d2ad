"""SQL statements per request in a real Airflow 3, with the plain FAB auth manager and with ours.

Run with the Python of an environment that has ``apache-airflow`` and its FAB provider
(``bash tests/run.sh`` builds one in ``.venv-test/airflow``)::

    .venv-test/airflow/bin/python benchmarks/airflow_statements.py

It makes a throwaway Airflow home on SQLite (``airflow db migrate``, ``airflow
session-epoch db upgrade``), then, for each auth manager, builds Airflow's API server in
one process (``tests/airflow3/inprocess.py count``) and counts the statements of, once
warm: ``GET /api/v2/dags`` with a JWT, FAB's password form under ``/auth/`` with the
session cookie, and the *Your profile* page (which shows when sessions last ended).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from _processes import guarded, run  # benchmarks/_processes.py

ROOT = Path(__file__).resolve().parent.parent
INPROCESS = ROOT / "tests" / "airflow3" / "inprocess.py"
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
MANAGERS = {
    "plain FAB auth manager": "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager",
    "with flask-session-epoch": "flask_session_epoch.airflow.SessionEpochFabAuthManager",
}
ROWS = {
    "api_jwt": "GET /api/v2/dags, JWT",
    "auth_page_cookie": "GET /auth/resetmypassword/form, cookie",
    "profile_page_cookie": "GET /auth/users/userinfo/, cookie",
}


def environment(home: Path, auth_manager: str) -> dict[str, str]:
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__AUTH_MANAGER": auth_manager,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__API_AUTH__JWT_SECRET": "benchmark-jwt-secret-long-enough-0123456789",
        "AIRFLOW__API__SECRET_KEY": "benchmark-secret-key-long-enough-0123456789",
        "AIRFLOW__FAB__AUTH_RATE_LIMITED": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR",
        "PYTHONWARNINGS": "ignore",
    }


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="fse-airflow-"))
    try:
        ours = environment(home, MANAGERS["with flask-session-epoch"])
        run([AIRFLOW, "db", "migrate"], "airflow db migrate", 600, env=ours)
        run([AIRFLOW, "session-epoch", "db", "upgrade"], "airflow session-epoch db upgrade", 600, env=ours)
        counts = {}
        for name, path in MANAGERS.items():
            output = run([sys.executable, str(INPROCESS), "count"], f"counting ({name})", 600,
                         env=environment(home, path))
            counts[name] = json.loads(output.splitlines()[-1])
    finally:
        shutil.rmtree(home, ignore_errors=True)
    names = list(MANAGERS)
    print(f"{'request':42} {names[0]:>24} {names[1]:>26}")
    for key, label in ROWS.items():
        print(f"{label:42} {counts[names[0]][key]:>24} {counts[names[1]][key]:>26}")


if __name__ == "__main__":
    sys.exit(guarded(main))
