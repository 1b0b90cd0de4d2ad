"""Shared Signals push delivery (RFC 8935): ``POST /session_epoch/ssf/events/<transmitter>``.

The transmitter POSTs one SET (``Content-Type: application/secevent+jwt``) with the
``Authorization`` header it was given when the stream was set up
(``push_authorization_env``). The answers are RFC 8935's:

* ``202`` and no body: the SET was valid and has been carried out (its ``jti`` is
  recorded in the same transaction, so a replay on any worker is refused);
* ``400`` with ``{"err": <code>, "description": ...}``: it was refused, and nothing
  ended; codes ``invalid_request``, ``invalid_key``, ``invalid_issuer``,
  ``invalid_audience``, ``authentication_failed`` and ``access_denied``;
* ``503``: the database failed; nothing was recorded, so the transmitter's retry is taken.

Checking the SET is :mod:`.sets`' business; what its events do is :mod:`.ssf_events`'.
"""

from __future__ import annotations

import hmac
import logging
import typing as t

from flask import current_app, request
from sqlalchemy.exc import SQLAlchemyError

from . import sets, web
from .errors import InboundError
from .ssf_receiver import Receiver, receive

if t.TYPE_CHECKING:
    from flask import Blueprint, Flask
    from werkzeug.wrappers import Response

    from .settings import Transmitter

log = logging.getLogger("flask_session_epoch")

ENDPOINT = "session_epoch.ssf_push"
PATH = "/ssf/events/<transmitter>"
EXTENSION_KEY = "session_epoch_ssf"
_CONTENT_TYPE = "application/secevent+jwt"


def install(app: Flask, blueprint: Blueprint, receivers: dict[str, Receiver]) -> None:
    app.extensions[EXTENSION_KEY] = receivers
    blueprint.add_url_rule(PATH, endpoint="ssf_push", view_func=push, methods=["POST"])
    web.exempt_from_csrf(app, ENDPOINT, push)


def _refused(description: str, code: str = "invalid_request") -> Response:
    response = web.answer(400, err=code, description=description)
    response.headers["Content-Language"] = "en"  # RFC 8935 §2.4: the description's language
    return response


def _authenticated(transmitter: Transmitter) -> InboundError | None:
    expected = transmitter.push_authorization
    if expected is None:
        return InboundError("this transmitter does not push here", "access_denied")
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode()):
        return InboundError("the request's Authorization is not the configured one", "authentication_failed")
    return None


def push(transmitter: str) -> Response:
    receivers: dict[str, Receiver] = current_app.extensions.get(EXTENSION_KEY, {})
    receiver = receivers.get(transmitter)
    if receiver is None:
        return _refused("unknown transmitter")
    refusal = _authenticated(receiver.transmitter)
    if refusal is not None:
        log.warning("Refused a SET pushed as %s: %s", transmitter, refusal)
        return _refused(str(refusal), refusal.code)
    if request.mimetype != _CONTENT_TYPE:
        return _refused(f"the body must be {_CONTENT_TYPE}")
    body = request.stream.read(sets.MAX_SET_BYTES + 1)
    try:
        event = sets.validate(body, receiver.transmitter, receiver.keys)
        outcomes = receive(receiver, event)
    except InboundError as exc:
        log.warning("Refused a SET from %s: %s", transmitter, exc)
        return _refused(str(exc), exc.code)
    except (SQLAlchemyError, ConnectionError):
        log.exception("A SET from %s could not be carried out; the transmitter may send it again", transmitter)
        return web.answer(503)
    except Exception:  # the transmitter must hear "refused", never a 500
        log.exception("A SET from %s could not be carried out", transmitter)
        return _refused("the SET could not be carried out")
    for outcome in outcomes:
        log.info("SET %s from %s: %s -> %s", event.jti[:64], transmitter, outcome.event.rsplit("/", 1)[-1],
                 outcome.action if outcome.user_id is None else f"{outcome.action} (user {outcome.user_id})")
    return web.answer(202)
