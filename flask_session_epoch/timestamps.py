"""Times as the pages show them: "5 minutes ago", with the exact UTC time on hover.

Both texts are made on the server, in the request's locale (Flask-Babel), so a page is
right without JavaScript; the ``<time>`` element carries the ISO 8601 value for scripts.
"""

from __future__ import annotations

import datetime as dt
import typing as t

from babel.core import UnknownLocaleError
from flask_babel import format_datetime, format_timedelta, gettext
from markupsafe import Markup

from . import store

# A locale Babel cannot format in (a host's own locale selector may return anything)
# falls back to these, rather than failing the page.
_FALLBACK = "%Y-%m-%d %H:%M:%S UTC"
_FORMAT_ERRORS = (UnknownLocaleError, ValueError, LookupError, TypeError)
_JUST_NOW = dt.timedelta(seconds=1)


def _naive_utc(value: dt.datetime) -> dt.datetime:
    """Our tables hold naive UTC; an aware value is brought to that, to the second."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value.replace(microsecond=0)


def iso(value: dt.datetime) -> str:
    """``2026-12-07T10:15:30Z``: for the ``datetime`` attribute."""
    return _naive_utc(value).isoformat() + "Z"


def exact_utc(value: dt.datetime) -> str:
    """The time in UTC, to the second, as the request's locale writes it ("07.12.2026, 10:15:30 UTC")."""
    value = _naive_utc(value)
    try:
        # rebase=False: the value is UTC and is shown as UTC, whatever BABEL_DEFAULT_TIMEZONE says.
        return f"{format_datetime(value, 'medium', rebase=False)} UTC"
    except _FORMAT_ERRORS:
        return value.strftime(_FALLBACK)


def relative(value: dt.datetime, now: dt.datetime | None = None) -> str:
    """How long ago (or from now) the time is, in the request's language: "5 minutes ago", "in 3 days"."""
    delta = _naive_utc(value) - (now or store.utcnow()).replace(microsecond=0)
    if abs(delta) < _JUST_NOW:
        return gettext("just now")  # Babel would say "in 0 seconds"
    try:
        return str(format_timedelta(delta, granularity="second", add_direction=True))
    except _FORMAT_ERRORS:
        return exact_utc(value)


def time_html(value: t.Any, never: str = "") -> Markup:
    """``<time datetime="…Z" title="exact UTC time">5 minutes ago</time>``, or ``never`` for no time."""
    if not isinstance(value, dt.datetime):
        return Markup("{}").format(never)
    return Markup('<time datetime="{}" title="{}">{}</time>').format(iso(value), exact_utc(value), relative(value))
