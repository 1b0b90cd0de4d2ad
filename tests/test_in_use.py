"""An app that runs without our security manager (a mistyped setting) says so, once; our CLI refuses."""

from __future__ import annotations

import logging

import pytest
from fabapp import create_app

from flask_session_epoch.cli import cli

TYPO = "flask_session_epoch.SessionEpochSecurityManagr"


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "flask_session_epoch" and r.levelno == logging.WARNING and "not in use" in r.getMessage()]


def test_a_mistyped_manager_class_is_warned_about_once(sqlite_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "flask_session_epoch")
    app = create_app(sqlite_url, extension=False, FAB_SECURITY_MANAGER_CLASS=TYPO)
    client = app.test_client()
    client.get("/health")
    client.get("/login/")
    [message] = _warnings(caplog)
    assert "\n" not in message
    assert f"FAB_SECURITY_MANAGER_CLASS = {TYPO!r} cannot be imported" in message
    assert "did you mean 'flask_session_epoch.SessionEpochSecurityManager'?" in message
    assert "flask_appbuilder.security.sqla.manager.SecurityManager" in message


def test_a_misspelt_module_is_named_too(sqlite_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "flask_session_epoch")
    misspelt = "flask_sesion_epoch.SessionEpochSecurityManager"
    app = create_app(sqlite_url, extension=False, FAB_SECURITY_MANAGER_CLASS=misspelt)
    app.test_client().get("/health")
    [message] = _warnings(caplog)
    assert "cannot be imported (ModuleNotFoundError" in message
    assert "did you mean 'flask_session_epoch.SessionEpochSecurityManager'?" in message


def test_an_app_with_our_manager_is_not_warned_about(sqlite_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "flask_session_epoch")
    app = create_app(sqlite_url)
    app.test_client().get("/health")
    assert _warnings(caplog) == []
    result = app.test_cli_runner().invoke(cli, ["db", "current"])
    assert result.exit_code == 0, result.output


def test_the_cli_refuses_to_run_in_an_app_without_our_manager(sqlite_url: str,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "flask_session_epoch")
    app = create_app(sqlite_url, extension=False, FAB_SECURITY_MANAGER_CLASS=TYPO)
    result = app.test_cli_runner().invoke(cli, ["revoke", "alice"])
    assert result.exit_code == 1
    assert "Error: flask-session-epoch is not in use in this app: FAB_SECURITY_MANAGER_CLASS" in result.output
    assert "Traceback" not in result.output
    client = app.test_client()
    client.get("/health")
    [warned] = _warnings(caplog)
    assert " ".join(warned.split()) in " ".join(result.output.split())


def test_an_app_with_no_manager_setting_is_told_what_to_set(sqlite_url: str) -> None:
    app = create_app(sqlite_url, extension=False)
    result = app.test_cli_runner().invoke(cli, ["db", "current"])
    assert result.exit_code == 1
    assert "FAB_SECURITY_MANAGER_CLASS is not set" in result.output
    assert 'Set FAB_SECURITY_MANAGER_CLASS = "flask_session_epoch.SessionEpochSecurityManager"' in result.output


def test_the_cli_runs_inside_an_app_context_already_pushed(sqlite_url: str) -> None:
    """As Airflow's CLI runs it: inside its FAB app's context, with no `flask --app` to load."""
    app = create_app(sqlite_url)
    with app.app_context():
        assert cli.main(args=["db", "current"], prog_name="airflow session-epoch", standalone_mode=False) is None
