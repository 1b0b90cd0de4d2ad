"""The admin's *Sessions* list, self-service, and the permissions they declare."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from databases import dispose
from fabapp import create_app

REFUSED = "Refused to delete permission view"


def _flask_cli(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """A CLI call as an operator makes it: a new process that builds the app."""
    tests = Path(__file__).parent
    env = {**os.environ, "FLASK_APP": f'fabapp:create_app("{db_url}")', "PYTHONWARNINGS": "ignore",
           "PYTHONPATH": os.pathsep.join([str(tests), os.environ.get("PYTHONPATH", "")])}
    flask = Path(sys.executable).with_name("flask")
    return subprocess.run([str(flask), *args], env=env, capture_output=True, text=True, timeout=120)


def test_a_fresh_start_and_a_cli_call_log_no_permission_warning(sqlite_url: str,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        app = create_app(sqlite_url)  # a fresh database: FAB creates every table and permission
        dispose(app)
        dispose(create_app(sqlite_url))  # and starts again on it
    assert not [record for record in caplog.records if REFUSED in str(record.msg)]
    done = _flask_cli(sqlite_url, "session-epoch", "db", "current")
    assert done.returncode == 0, done.stderr
    assert REFUSED not in done.stderr


def _refusals(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if REFUSED in str(record.msg)]


def test_security_converge_moves_the_old_action_permission_of_an_existing_install(
        make_app, caplog: pytest.LogCaptureFixture) -> None:
    """0.3.0 named the action's permission ``endsession``; FAB's own converge moves each grant."""
    app = make_app()
    with app.app_context():
        sm = app.appbuilder.sm
        old = sm.add_permission_view_menu("endsession", "SessionRecordView")
        auditor = sm.add_role("Auditor")
        for role in (sm.find_role("Admin"), auditor):
            sm.add_permission_role(role, old)
    with caplog.at_level(logging.WARNING):
        upgraded = make_app()  # the new release, before anyone converges
    assert _refusals(caplog)
    with upgraded.app_context():
        appbuilder = upgraded.appbuilder
        appbuilder.sm.security_converge(appbuilder.baseviews, appbuilder.menu)
        sm = appbuilder.sm
        assert sm.find_permission_view_menu("endsession", "SessionRecordView") is None
        for name in ("Admin", "Auditor"):
            granted = {(pv.permission.name, pv.view_menu.name) for pv in sm.find_role(name).permissions}
            assert ("can_endsession", "SessionRecordView") in granted, name
        sm.session.remove()
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        make_app()
    assert not _refusals(caplog)
