"""``airflow session-epoch ...``: the verbs of ``flask session-epoch``, in Airflow's CLI.

Airflow builds its CLI from the ``cli`` entry of each provider's info (see
:mod:`.provider`). Each command here only translates Airflow's parsed arguments for
the click commands of :mod:`flask_session_epoch.cli` and runs them inside the FAB
provider's app, on the metadata database (``[database] sql_alchemy_conn``).
"""

from __future__ import annotations

import typing as t

from airflow.cli.cli_config import ActionCommand, Arg, GroupCommand

if t.TYPE_CHECKING:
    import argparse

_USER = Arg(("user",), metavar="USER", help="A username, an e-mail address (exact, any case) or id:N")
_REASON = Arg(("--reason",), help="Recorded in the audit trail (at most 64 characters)")
_YES = Arg(("-y", "--yes"), help="Do not ask for confirmation", action="store_true")
_JSON = Arg(("--json",), help="Print JSON for scripts", action="store_true")
_ENDED = Arg(("--ended",), help="List ended sessions instead of active ones", action="store_true")
_RECORD = Arg(("record_id",), metavar="ID", help="A session's id, as `airflow session-epoch sessions` lists it")
_REVISION_UP = Arg(("revision",), nargs="?", default="head", help="The revision to upgrade to (default: head)")
_REVISION_DOWN = Arg(("revision",), nargs="?", default="-1", help="The revision to go back to (default: -1)")
_TRANSMITTER = Arg(("name",), metavar="NAME", help="A transmitter of SESSION_EPOCH_SSF_TRANSMITTERS")
_MAX_EVENTS = Arg(("--max-events",), type=int, default=100, help="SETs asked for per request (default: 100)")
_DURATION = Arg(("--duration",), type=float, default=60.0, help="Seconds to keep polling at most (default: 60)")
_WAIT = Arg(("--wait",), action="store_true", help="Keep polling for the whole duration (long polls)")


def _run(argv: list[str]) -> None:
    """Run ``flask session-epoch <argv>`` inside the FAB provider's app; exits with its status."""
    from airflow.api_fastapi.app import get_auth_manager_cls
    from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder

    from ..cli import cli
    from .auth_manager import SessionEpochFabAuthManager

    if not issubclass(get_auth_manager_cls(), SessionEpochFabAuthManager):
        raise SystemExit(
            "airflow session-epoch: set [core] auth_manager ="
            " flask_session_epoch.airflow.SessionEpochFabAuthManager first."
        )
    with get_application_builder():
        cli.main(args=argv, prog_name="airflow session-epoch")


def _with_reason(argv: list[str], args: argparse.Namespace) -> list[str]:
    return [*argv, "--reason", args.reason] if args.reason is not None else argv


def db_upgrade(args: argparse.Namespace) -> None:
    _run(["db", "upgrade", args.revision])


def db_downgrade(args: argparse.Namespace) -> None:
    _run(["db", "downgrade", args.revision])


def db_current(args: argparse.Namespace) -> None:
    _run(["db", "current"])


def revoke(args: argparse.Namespace) -> None:
    _run(_with_reason(["revoke", args.user], args))


def revoke_all(args: argparse.Namespace) -> None:
    _run(_with_reason(["revoke-all", *(["--yes"] if args.yes else [])], args))


def disable(args: argparse.Namespace) -> None:
    _run(["disable", args.user])


def enable(args: argparse.Namespace) -> None:
    _run(["enable", args.user])


def status(args: argparse.Namespace) -> None:
    _run(["status", args.user, *(["--json"] if args.json else [])])


def sessions(args: argparse.Namespace) -> None:
    _run(["sessions", args.user, *(["--ended"] if args.ended else []), *(["--json"] if args.json else [])])


def end_session(args: argparse.Namespace) -> None:
    _run(_with_reason(["end-session", args.record_id], args))


def ssf(verb: str) -> t.Callable[[argparse.Namespace], None]:
    """``airflow session-epoch ssf VERB NAME``."""
    def run(args: argparse.Namespace) -> None:
        extra = []
        if verb == "status" and args.json:
            extra = ["--json"]
        if verb == "poll":
            extra = ["--max-events", str(args.max_events), "--duration", str(args.duration),
                     *(["--wait"] if args.wait else [])]
        _run(["ssf", verb, args.name, *extra])

    return run


def _command(name: str, help_text: str, func: t.Callable[[argparse.Namespace], None],
             *args: Arg) -> ActionCommand:
    return ActionCommand(name=name, help=help_text, func=func, args=args)


def get_cli_commands() -> list[GroupCommand]:
    """``airflow session-epoch``: the group Airflow adds to its CLI."""
    database = GroupCommand(
        name="db",
        help="Create and upgrade flask-session-epoch's tables (its own Alembic chain)",
        subcommands=(
            _command("upgrade", "Upgrade the epoch tables (default: to head)", db_upgrade, _REVISION_UP),
            _command("downgrade", "Undo revisions ('base' removes the tables)", db_downgrade, _REVISION_DOWN),
            _command("current", "Show the revision the database is at", db_current),
        ),
    )
    streams = GroupCommand(
        name="ssf",
        help="Set up, check and poll Shared Signals streams (SESSION_EPOCH_SSF_TRANSMITTERS)",
        subcommands=(
            _command("add", "Create NAME's stream at the transmitter (or update it)", ssf("add"), _TRANSMITTER),
            _command("status", "Show NAME's stream", ssf("status"), _TRANSMITTER, _JSON),
            _command("verify", "Ask NAME for a verification event", ssf("verify"), _TRANSMITTER),
            _command("poll", "Fetch NAME's queued SETs, carry them out, acknowledge them", ssf("poll"),
                     _TRANSMITTER, _MAX_EVENTS, _DURATION, _WAIT),
            _command("remove", "Delete NAME's stream at the transmitter", ssf("remove"), _TRANSMITTER),
        ),
    )
    return [
        GroupCommand(
            name="session-epoch",
            help="End users' sessions and tokens: flask-session-epoch",
            subcommands=(
                database,
                streams,
                _command("revoke", "End every session and token of USER; the account stays active", revoke,
                         _USER, _REASON),
                _command("revoke-all", "End everyone's sessions and tokens", revoke_all, _YES, _REASON),
                _command("disable", "Disable USER and end their sessions", disable, _USER),
                _command("enable", "Enable USER again; older sessions stay ended", enable, _USER),
                _command("status", "Show USER's active flag, epochs, last login and last revocation", status,
                         _USER, _JSON),
                _command("sessions", "List USER's active (or ended) sessions", sessions, _USER, _ENDED, _JSON),
                _command("end-session", "End one session by its ID; the user's other sessions live on",
                         end_session, _RECORD, _REASON),
            ),
        )
    ]
