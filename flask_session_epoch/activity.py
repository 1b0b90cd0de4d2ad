"""Writing what the request path only reads: last activity, expired records, pruning.

The check reads a session's record in the user's SELECT and writes nothing. Its last
activity is written at most once per ``SESSION_EPOCH_ACTIVITY_INTERVAL`` per record,
and old records are marked expired and pruned in small batches, at most once per
``SESSION_EPOCH_PRUNE_INTERVAL`` per process. Both run after the response has gone
out, in transactions of their own: a request never waits for them.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import threading
import time
import typing as t

from flask import current_app
from sqlalchemy.exc import SQLAlchemyError

from . import config, registry, request_state, signals, store
from .revoke import db_session

if t.TYPE_CHECKING:
    from flask import Flask
    from sqlalchemy.engine import Engine
    from werkzeug.wrappers import Response

    from .state import EpochState, Limits

log = logging.getLogger("flask_session_epoch")

_PRUNED_AT = "session_epoch_pruned_at"
_lock = threading.Lock()


def note(state: EpochState | None, now: dt.datetime) -> None:
    """Remember to write the activity of the record this request's credential holds, if it is due."""
    record = None if state is None else state.record
    if record is None:
        return
    if now - record.last_active_at < dt.timedelta(seconds=config.get("ACTIVITY_INTERVAL")):
        return
    request_state.current().touched[record.id] = expiry_after_activity(record, now)


def expiry_after_activity(record: registry.RecordState, now: dt.datetime,
                          app: Flask | None = None) -> dt.datetime | None:
    """The new last moment a copy of the record's credential can be presented, after activity now.

    A checked request re-signs a browser's cookie; an API login's tokens keep the expiry
    they were minted with (None: unchanged).

    :param app: the app whose settings apply (default: the current app).
    """
    return browser_expiry(now, app) if record.kind == registry.BROWSER else None


def browser_expiry(now: dt.datetime, app: Flask | None = None) -> dt.datetime:
    """The last moment a browser's cookie, re-signed by a checked request now, can come back."""
    app = app if app is not None else current_app
    return now + app.permanent_session_lifetime + dt.timedelta(seconds=config.get("ACTIVITY_INTERVAL", app))


def end_after_response(record_id: str, user_id: int, reason: str) -> None:
    """Record that this request found the session past a limit: ended, once the response is out."""
    request_state.current().ending[record_id] = reason
    signals.session_ended.send(current_app._get_current_object(), record_id=record_id,  # type: ignore[attr-defined]
                               user_id=user_id, reason=reason, actor="system", credentials=())


def after_request(response: Response, state: request_state.RequestState) -> Response:
    """Hand what this request has to write to the response, to run once it is sent."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    prune_due = _prune_due(app)
    if state.touched or state.ending or prune_due:
        engine = t.cast("Engine", db_session(app.appbuilder.sm).get_bind())
        settings = _PruneSettings.of(app) if prune_due else None
        response.call_on_close(functools.partial(_write, engine, dict(state.touched), dict(state.ending), settings))
    return response


class _PruneSettings(t.NamedTuple):
    history: dt.timedelta
    batch: int
    limits: Limits

    @classmethod
    def of(cls, app: Flask) -> _PruneSettings:
        return cls(dt.timedelta(days=config.get("HISTORY_DAYS", app)), int(config.get("PRUNE_BATCH", app)),
                   config.limits(app))


def _prune_due(app: Flask) -> bool:
    interval = float(config.get("PRUNE_INTERVAL", app))
    with _lock:
        last = app.extensions.get(_PRUNED_AT)
        now = time.monotonic()
        if last is not None and now - last < interval:
            return False
        app.extensions[_PRUNED_AT] = now
        return True


def _write(engine: Engine, touched: dict[str, dt.datetime | None], ending: dict[str, str],
           prune: _PruneSettings | None) -> None:
    """Runs after the response: activity and ends first, then one bounded round of expiring and pruning."""
    now = store.utcnow()
    try:
        if touched or ending:
            with engine.begin() as connection:
                for record_id, expires_at in touched.items():
                    registry.touch(connection, record_id, now, expires_at)
                for record_id, reason in ending.items():
                    registry.end(connection, record_id, reason, "system", now)
        if prune is not None:
            with engine.begin() as connection:
                expired = registry.expire(connection, now, prune.batch, prune.limits)
            with engine.begin() as connection:
                pruned = registry.prune(connection, now - prune.history, prune.batch)
            if expired or pruned:
                log.info("Session records: %d marked expired, %d pruned", expired, pruned)
    except SQLAlchemyError:
        # Only bookkeeping: the next request or round tries again.
        log.warning("Could not write session activity or prune session records", exc_info=True)
