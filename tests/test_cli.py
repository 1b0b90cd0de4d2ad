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


@pytest.mark.parametrize("spec", ["id:9223372036854775808", "id:99999999999999999999999", "id:\u0663", "id:-1"])
def test_ids_beyond_what_a_database_holds_are_one_clear_error(app: Flask, spec: str) -> None:
    result = run(app, "revoke", spec)
    assert result.exit_code == 1
    assert "No user" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("reason", ["", "   ", "x" * 65])
@pytest.mark.parametrize("command", [["revoke", "alice"], ["revoke-all", "--yes"]])
def test_unusable_reason_is_one_clear_error(app: Flask, client: FlaskClient, command: list[str], reason: str) -> None:
    login(client)
    result = run(app, *command, "--reason", reason)
    assert result.exit_code == 2
    assert "--reason" in result.output and "Traceback" not in result.output
    assert is_logged_in(client)


@pytest.mark.all_databases
@pytest.mark.parametrize("spec", ["\u212aate@example.org", "KATE@EXAMPLE.ORG\u0307"])
def test_unicode_case_folding_never_names_another_user(app: Flask, spec: str) -> None:
    with app.app_context():
        sm = app.appbuilder.sm
        sm.add_user("kate", "Kate", "K", "kate@example.org", sm.find_role("Reader"), "kate-pass-1")
    result = run(app, "revoke", spec)
    assert result.exit_code == 1 and "No user" in result.output


def test_disable_says_when_nothing_changed(app: Flask) -> None:
    assert "sessions and tokens have ended" in run(app, "disable", "alice").output
    again = run(app, "disable", "alice")
    assert again.exit_code == 0
    assert "already disabled" in again.output and "have ended" not in again.output
    assert "already enabled" in run(app, "enable", "admin").output
