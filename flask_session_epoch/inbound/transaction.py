"""Carrying out what a provider or transmitter asked, in one transaction, tried again if the database gave up.

A transaction that the database gave up on (a deadlock, a lock timeout, SQLite's
"database is locked") wrote nothing, and the sender may never send the request again:
it is tried again, a few times. Used tokens are forgotten afterwards, apart from it.
"""

from __future__ import annotations

import logging
import time
import typing as t

from sqlalchemy.exc import OperationalError, SQLAlchemyError

from .. import store
from . import replay

if t.TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.orm import Session

log = logging.getLogger("flask_session_epoch")

R = t.TypeVar("R")
ATTEMPTS = 3


def carry_out(session: Session, work: Callable[[], R], what: str) -> R:
    """Run ``work`` (which commits) until it succeeds, or its error is not a transient one.

    :param what: what is carried out, for the log ("back-channel logout from idp").
    :raises: ``work``'s error once it is not transient, or after the last attempt.
    """
    for attempt in range(1, ATTEMPTS + 1):
        try:
            done = work()
        except OperationalError:
            session.rollback()
            if attempt == ATTEMPTS:
                raise
            log.warning("%s hit a transient database error; trying again", what)
            time.sleep(0.05 * attempt)
        except Exception:
            session.rollback()
            raise
        else:
            prune(session)
            return done
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def prune(session: Session) -> None:
    """Forget used tokens that can no longer matter, in a transaction of its own.

    Apart from the request's: on MySQL/MariaDB a range DELETE next to its inserts would
    let two concurrent requests deadlock. A failure here only postpones the clean-up.
    """
    try:
        replay.prune(session.connection(), store.utcnow())
        session.commit()
    except SQLAlchemyError:
        log.warning("Could not prune used inbound tokens; will try again next time", exc_info=True)
        session.rollback()
