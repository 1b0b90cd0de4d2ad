"""Setting up a Shared Signals stream at the transmitter (SSF 1.0 §7 and §8), for ``session-epoch ssf``.

The transmitter's ``configuration_url`` (``/.well-known/ssf-configuration``) names its
endpoints; each call carries the operator's bearer token (``management_token_env``).
``add`` creates the stream, or updates the one we already have; ``status`` reads it
back; ``verify`` asks for a verification event with a fresh ``state``, which
:mod:`.ssf_events` matches when the SET arrives; ``remove`` deletes it. What the
transmitter answered is kept in our table (:mod:`.ssf_store`).
"""

from __future__ import annotations

import secrets
import typing as t

from .. import store
from ..revoke import db_session, security_manager
from . import ssf_events as ev
from . import ssf_store

if t.TYPE_CHECKING:
    from .settings import Transmitter

#: The delivery methods' URNs (SSF 1.0 §6).
PUSH, POLL = "urn:ietf:rfc:8935", "urn:ietf:rfc:8936"
#: The events we ask for: those :mod:`.ssf_events` acts on.
EVENTS_REQUESTED = (ev.SESSION_REVOKED, ev.CREDENTIAL_CHANGE, ev.TOKEN_CLAIMS_CHANGE, ev.ASSURANCE_LEVEL_CHANGE,
                    ev.ACCOUNT_DISABLED, ev.ACCOUNT_ENABLED, ev.ACCOUNT_PURGED,
                    ev.ACCOUNT_CREDENTIAL_CHANGE_REQUIRED, ev.SESSIONS_REVOKED)
TIMEOUT_SECONDS = 10


class StreamError(Exception):
    """The transmitter could not be reached, or refused; the message says which."""


def _request(transmitter: Transmitter, method: str, url: str, **kwargs: t.Any) -> t.Any:
    import requests  # the oidc extra's HTTP client, as Authlib's

    if transmitter.management_token is None:
        raise StreamError(f"{transmitter.name} has no management_token_env: the stream cannot be managed")
    headers = {"Authorization": f"Bearer {transmitter.management_token}", "Accept": "application/json"}
    try:
        response = requests.request(method, url, headers=headers, timeout=TIMEOUT_SECONDS, **kwargs)
    except requests.RequestException as exc:
        raise StreamError(f"{transmitter.name} could not be reached ({type(exc).__name__})") from None
    if response.status_code >= 400:
        raise StreamError(f"{transmitter.name} answered {response.status_code} to {method} {url}")
    if response.status_code == 204 or not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        raise StreamError(f"{transmitter.name} answered {method} {url} with something that is not JSON") from None


def metadata(transmitter: Transmitter) -> dict[str, t.Any]:
    """The transmitter's configuration metadata, whose ``issuer`` must be the configured one."""
    if transmitter.configuration_url is None:
        raise StreamError(f"{transmitter.name} has no configuration_url")
    found = _request(transmitter, "GET", transmitter.configuration_url)
    if not isinstance(found, dict) or found.get("issuer") != transmitter.issuer:
        raise StreamError(f"{transmitter.name}'s configuration metadata names another issuer")
    return found


def _endpoint(found: t.Mapping[str, t.Any], name: str, transmitter: Transmitter) -> str:
    url = found.get(name)
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise StreamError(f"{transmitter.name}'s configuration metadata has no {name}")
    return url


def _delivery(transmitter: Transmitter) -> dict[str, t.Any]:
    if transmitter.delivery == "poll":
        return {"method": POLL}
    if transmitter.push_url is None or transmitter.push_authorization is None:
        raise StreamError(f"pushes from {transmitter.name} need push_url and push_authorization_env")
    return {"method": PUSH, "endpoint_url": transmitter.push_url,
            "authorization_header": transmitter.push_authorization}


def add(transmitter: Transmitter) -> dict[str, t.Any]:
    """Create the stream at the transmitter, or update the one we have; keep what it answered."""
    db = db_session(security_manager())
    existing = ssf_store.get(db.connection(), transmitter.name)
    configuration = _endpoint(metadata(transmitter), "configuration_endpoint", transmitter)
    wanted = {"delivery": _delivery(transmitter), "events_requested": list(EVENTS_REQUESTED),
              "description": "flask-session-epoch"}
    if existing is None:
        answered = _request(transmitter, "POST", configuration, json=wanted)
    else:
        answered = _request(transmitter, "PATCH", configuration, json={"stream_id": existing["stream_id"], **wanted})
    if not isinstance(answered, dict) or not isinstance(answered.get("stream_id"), str):
        raise StreamError(f"{transmitter.name} answered no stream_id")
    delivery: dict[str, t.Any] = answered["delivery"] if isinstance(answered.get("delivery"), dict) else {}
    endpoint = delivery.get("endpoint_url") if isinstance(delivery.get("endpoint_url"), str) else None
    if transmitter.delivery == "poll" and endpoint is None:
        raise StreamError(f"{transmitter.name} gave no poll endpoint_url")
    ssf_store.save(db.connection(), transmitter.name, answered["stream_id"], transmitter.delivery, endpoint, answered)
    db.commit()
    return t.cast("dict[str, t.Any]", answered)


def stream(transmitter: Transmitter) -> dict[str, t.Any]:
    found = ssf_store.get(db_session(security_manager()).connection(), transmitter.name)
    if found is None:
        raise StreamError(f"no stream of {transmitter.name} is set up: run `session-epoch ssf add {transmitter.name}`")
    return found


def status(transmitter: Transmitter) -> dict[str, t.Any]:
    """Our row, the stream's configuration and its status, as the transmitter answers them now."""
    row = stream(transmitter)
    found = metadata(transmitter)
    query = {"stream_id": row["stream_id"]}
    configuration = _request(transmitter, "GET", _endpoint(found, "configuration_endpoint", transmitter),
                             params=query)
    state = None
    if isinstance(found.get("status_endpoint"), str):
        state = _request(transmitter, "GET", _endpoint(found, "status_endpoint", transmitter), params=query)
    return {"stream": row, "configuration": configuration, "status": state}


def verify(transmitter: Transmitter) -> str:
    """Ask for a verification event; its ``state`` is kept until the event arrives."""
    row = stream(transmitter)
    state = secrets.token_urlsafe(24)
    db = db_session(security_manager())
    ssf_store.set_values(db.connection(), transmitter.name, verification_state=state, verified_at=None)
    db.commit()
    _request(transmitter, "POST", _endpoint(metadata(transmitter), "verification_endpoint", transmitter),
             json={"stream_id": row["stream_id"], "state": state})
    return state


def remove(transmitter: Transmitter) -> None:
    """Delete the stream at the transmitter, then our row."""
    row = stream(transmitter)
    _request(transmitter, "DELETE", _endpoint(metadata(transmitter), "configuration_endpoint", transmitter),
             params={"stream_id": row["stream_id"]})
    db = db_session(security_manager())
    ssf_store.remove(db.connection(), transmitter.name)
    db.commit()


def note_poll(transmitter: Transmitter, error: str | None) -> None:
    db = db_session(security_manager())
    ssf_store.set_values(db.connection(), transmitter.name, last_poll_at=store.utcnow(),
                         last_poll_error=None if error is None else error[:512])
    db.commit()
