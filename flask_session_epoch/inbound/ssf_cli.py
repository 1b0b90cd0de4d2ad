"""``session-epoch ssf add|status|verify|poll|remove NAME``: the streams of Shared Signals transmitters.

NAME is a transmitter of ``SESSION_EPOCH_SSF_TRANSMITTERS``. The same commands run as
``flask session-epoch ssf ...``, ``superset session-epoch ssf ...`` and
``airflow session-epoch ssf ...``.
"""

from __future__ import annotations

import json
import typing as t

import click
from flask import current_app
from flask.cli import AppGroup

from .. import schema
from . import ssf_poll, ssf_streams
from .ssf_push import EXTENSION_KEY

if t.TYPE_CHECKING:
    from .ssf_receiver import Receiver


# An AppGroup: each command runs inside the app.
ssf = AppGroup("ssf", help="Set up, check and poll Shared Signals streams (SESSION_EPOCH_SSF_TRANSMITTERS).")


def _receiver(name: str) -> Receiver:
    schema.require()
    receivers: dict[str, Receiver] = current_app.extensions.get(EXTENSION_KEY, {})
    if name not in receivers:
        known = ", ".join(sorted(receivers)) or "none"
        raise click.ClickException(f"no transmitter {name!r} in SESSION_EPOCH_SSF_TRANSMITTERS (known: {known})")
    return receivers[name]


def _run(action: t.Callable[[], t.Any]) -> t.Any:
    try:
        return action()
    except ssf_streams.StreamError as exc:
        raise click.ClickException(str(exc)) from None


name_argument = click.argument("name")


@ssf.command()
@name_argument
def add(name: str) -> None:
    """Create NAME's stream at the transmitter (or update the one set up before)."""
    answered = _run(lambda: ssf_streams.add(_receiver(name).transmitter))
    delivered = answered.get("events_delivered") or []
    click.echo(f"stream {answered['stream_id']} of {name}: {len(delivered)} event type(s) delivered")


@ssf.command()
@name_argument
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def status(name: str, as_json: bool) -> None:
    """Show NAME's stream: our record, and what the transmitter says of it now."""
    found = _run(lambda: ssf_streams.status(_receiver(name).transmitter))
    if as_json:
        click.echo(json.dumps(found, default=str, sort_keys=True))
        return
    row = found["stream"]
    state = (found.get("status") or {}).get("status", "unknown")
    click.echo(f"stream:       {row['stream_id']} ({row['delivery']})")
    click.echo(f"status:       {state}")
    click.echo(f"verified at:  {row['verified_at'] or 'never'}")
    click.echo(f"last poll:    {row['last_poll_at'] or 'never'}"
               + (f" (failed: {row['last_poll_error']})" if row["last_poll_error"] else ""))


@ssf.command()
@name_argument
def verify(name: str) -> None:
    """Ask NAME for a verification event; `status` shows when it arrived."""
    _run(lambda: ssf_streams.verify(_receiver(name).transmitter))
    click.echo(f"asked {name} for a verification event")


@ssf.command()
@name_argument
@click.option("--max-events", default=100, show_default=True, type=click.IntRange(1, ssf_poll.MAX_EVENTS),
              help="SETs asked for per request.")
@click.option("--duration", default=60.0, show_default=True, type=click.FloatRange(0, 24 * 3600),
              help="Seconds to keep polling at most.")
@click.option("--wait", is_flag=True, help="Keep polling for the whole duration (long polls) instead of stopping"
                                           " once nothing is queued.")
def poll(name: str, max_events: int, duration: float, wait: bool) -> None:
    """Fetch NAME's queued SETs, carry them out and acknowledge them."""
    receiver = _receiver(name)
    report = _run(lambda: ssf_poll.poll(receiver, max_events=max_events, duration=duration,
                                        return_immediately=not wait))
    ssf_streams.note_poll(receiver.transmitter, report.last_error)
    click.echo(f"applied {report.applied}, refused {report.refused}, acknowledged {len(report.acked)},"
               f" {report.requests} request(s), {report.failures} failed")
    if report.last_error:
        raise click.ClickException(f"the last poll failed: {report.last_error}; unacknowledged SETs will come again")


@ssf.command()
@name_argument
def remove(name: str) -> None:
    """Delete NAME's stream at the transmitter, and our record of it."""
    _run(lambda: ssf_streams.remove(_receiver(name).transmitter))
    click.echo(f"removed the stream of {name}")
