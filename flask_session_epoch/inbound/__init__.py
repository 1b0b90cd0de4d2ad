"""What the identity provider tells us, server to server: each receiver checks a signed token
and ends the sessions of the subject it names.

* :mod:`.backchannel`: OpenID Connect Back-Channel Logout 1.0 (its token: :mod:`.logout_tokens`);
* :mod:`.ssf_push`: Shared Signals SETs pushed to us (RFC 8935), checked by :mod:`.sets`
  and carried out by :mod:`.ssf_events`;
* :mod:`.gtr`: Global Token Revocation.

What they share is written once: the signing keys (:mod:`.keys`), the ``jti`` replay
cache in the database (:mod:`.replay`), the subject identifiers (:mod:`.subjects`),
the transaction that is tried again (:mod:`.transaction`) and the refusal (:mod:`.errors`).
Their settings are checked at start-up (:mod:`.settings`).
"""

from __future__ import annotations

import typing as t

import jwt

from .. import config
from . import backchannel, gtr, settings, ssf_push, ssf_receiver

if t.TYPE_CHECKING:
    from flask import Blueprint, Flask


def _oauth_names(app: Flask) -> set[str]:
    return {str(entry.get("name")) for entry in app.config.get("OAUTH_PROVIDERS") or () if isinstance(entry, dict)}


def install(app: Flask, blueprint: Blueprint, sm: t.Any) -> None:
    """Add the receivers the settings ask for.

    :raises ConfigurationError: if a setting names something that cannot be used.
    """
    backchannel.install(app, blueprint, sm)
    oauth_names = _oauth_names(app)
    transmitters = settings.transmitters(config.get("SSF_TRANSMITTERS", app), oauth_names)
    revocation = settings.revocation(config.get("GLOBAL_TOKEN_REVOCATION", app), oauth_names)
    if (transmitters or (revocation is not None and revocation.jwt is not None)) and not jwt.algorithms.has_crypto:
        raise config.ConfigurationError('Checking SETs and signed JWTs needs the cryptography package:'
                           ' pip install "flask-session-epoch[oidc]".')
    if transmitters:
        receivers = {name: ssf_receiver.Receiver(found, sm) for name, found in transmitters.items()}
        ssf_push.install(app, blueprint, receivers)
    if revocation is not None:
        gtr.install(app, blueprint, gtr.Revoker(revocation, sm))
