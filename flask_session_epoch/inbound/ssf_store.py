"""Our record of each Shared Signals stream (``ab_session_epoch_ssf_stream``): read and written, never decided on."""

from __future__ import annotations

import hmac
import json
import typing as t

from sqlalchemy import delete, select, update

from .. import store
from ..models import SsfStream

if t.TYPE_CHECKING:
    from sqlalchemy.engine import Connection

_T = SsfStream.__table__
_COLUMNS = ("stream_id", "delivery", "endpoint_url", "configuration", "verification_state", "verified_at",
            "last_poll_at", "last_poll_error", "created_at", "updated_at")


def get(connection: Connection, transmitter: str) -> dict[str, t.Any] | None:
    """The stream's row, with ``configuration`` parsed, or None if none was set up."""
    row = connection.execute(select(*(_T.c[name] for name in _COLUMNS)).where(_T.c.transmitter == transmitter)).first()
    if row is None:
        return None
    found = dict(zip(_COLUMNS, row, strict=True))
    try:
        found["configuration"] = json.loads(found["configuration"]) if found["configuration"] else None
    except ValueError:
        found["configuration"] = None
    return found


def save(connection: Connection, transmitter: str, stream_id: str, delivery: str, endpoint_url: str | None,
         configuration: t.Mapping[str, t.Any]) -> None:
    """Insert or replace the stream the transmitter answered for us."""
    now = store.utcnow()
    row = {"transmitter": transmitter, "stream_id": stream_id[:256], "delivery": delivery,
           "endpoint_url": None if endpoint_url is None else endpoint_url[:2048],
           "configuration": json.dumps(configuration, sort_keys=True), "created_at": now, "updated_at": now}
    store.upsert(connection, _T, "transmitter", row, lambda new: {
        "stream_id": new.stream_id, "delivery": new.delivery, "endpoint_url": new.endpoint_url,
        "configuration": new.configuration, "updated_at": new.updated_at})


def remove(connection: Connection, transmitter: str) -> None:
    connection.execute(delete(_T).where(_T.c.transmitter == transmitter))


def set_values(connection: Connection, transmitter: str, **values: t.Any) -> None:
    connection.execute(update(_T).where(_T.c.transmitter == transmitter).values(updated_at=store.utcnow(), **values))


def heard_verification(connection: Connection, transmitter: str, state: t.Any) -> bool:
    """A verification event arrived: mark the stream verified if it carries the state we asked for."""
    found = get(connection, transmitter)
    expected = None if found is None else found["verification_state"]
    if not expected or not isinstance(state, str) or not hmac.compare_digest(state.encode(), expected.encode()):
        return False
    set_values(connection, transmitter, verified_at=store.utcnow())
    return True
