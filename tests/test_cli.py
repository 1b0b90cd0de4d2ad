"""``flask session-epoch ...`` as an operator types it."""

from __future__ import annotations

import json

import pytest
from fabapp import ALICE
from flask import Flask
from flask.testing import FlaskClient
from helpers import is_logged_in, login, user_id

from flask_session_epoch.cli import cli


def run(app: Flask, *args: str, input: str | None = None):
    return app.test_cli_runner().invoke(cli, list(args), input=input)


def status(app: Flask, user: str = ALICE[0]) -> dict:
    result = run(app, "status", user, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.mark.parametrize("spec", ["alice", "ALICE@Example.ORG", "id:{id}"])
def test_revoke_ends_sessions_and_keeps_account(app: Flask, client: FlaskClient, spec: str) -> None:
    login(client)
    result = run(app, "revoke", spec.format(id=user_id(app)))
    assert result.exit_code == 0, result.output
    assert "Ended every session" in result.output
    assert not is_logged_in(client)
    info = status(app)
    assert info["active"] is True
    assert (info["last_reason"], info["last_actor"]) == ("admin-revoke", "cli")
    assert info["sessions_invalidated_at"].endswith("+00:00")


@pytest.mark.parametrize("spec", ["nobody", "%@%.%", "_lice@example.org", "alice%", "id:999999", "id:x", ""])
def test_unknown_user_is_one_clear_error(app: Flask, spec: str) -> None:
    result = run(app, "revoke", spec)
    assert result.exit_code == 1
    assert "No user" in result.output and "Traceback" not in result.output


def test_ambiguous_user_is_one_clear_error(app: Flask) -> None:
    with app.app_context():
        sm = app.appbuilder.sm
        sm.add_user("alice@example.org", "Mallory", "M", "mallory@example.org", sm.find_role("Reader"), "x-pass-1")
    result = run(app, "revoke", "alice@example.org")
    assert result.exit_code == 1
    assert "matches several users" in result.output and "id:" in result.output


def test_revoke_all_asks_first(app: Flask, client: FlaskClient) -> None:
    login(client)
    result = run(app, "revoke-all", input="n\n")
    assert result.exit_code == 1 and "Aborted" in result.output
    assert is_logged_in(client)
    result = run(app, "revoke-all", input="y\n")
    assert result.exit_code == 0
    assert not is_logged_in(client)


def test_revoke_all_yes_skips_the_question(app: Flask, client: FlaskClient) -> None:
    login(client)
    assert run(app, "revoke-all", "--yes").exit_code == 0
    assert not is_logged_in(client)
    assert status(app)["global_reason"] == "revoke-all"


def test_disable_and_enable(app: Flask, client: FlaskClient) -> None:
    login(client)
    assert run(app, "disable", "alice").exit_code == 0
    info = status(app)
    assert info["active"] is False and info["last_reason"] == "disable" and info["last_actor"] == "cli"
    assert not is_logged_in(client)
    assert run(app, "enable", "alice").exit_code == 0
    assert status(app)["active"] is True
    assert not is_logged_in(client)  # re-enabling revives nothing
    login(client)
    assert is_logged_in(client)


def test_status_in_words(app: Flask, client: FlaskClient) -> None:
    login(client)
    result = run(app, "status", "alice")
    assert result.exit_code == 0
    assert "active:" in result.output and "last_login:" in result.output and "last_reason:" in result.output
