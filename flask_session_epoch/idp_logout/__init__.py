"""Logouts exchanged with the identity provider, the front-channel and RP-initiated kinds.

* :mod:`.rp_initiated`: logging out of the app signs out of the provider too.
* :mod:`.frontchannel`: the provider's logout page ends the sessions of one provider
  session, through the browser.

Back-channel logout (the provider POSTs to us) is :mod:`flask_session_epoch.inbound.backchannel`.
"""

from __future__ import annotations

import typing as t

from . import frontchannel, rp_initiated

if t.TYPE_CHECKING:
    from flask import Blueprint, Flask


def install(app: Flask, blueprint: Blueprint, sm: t.Any) -> None:
    """Set up what the settings ask for (``SESSION_EPOCH_RP_LOGOUT``, ``SESSION_EPOCH_FRONTCHANNEL_PROVIDERS``).

    :raises ConfigurationError: if a provider they name cannot be used.
    """
    rp_initiated.install(app, sm)
    frontchannel.install(app, blueprint, sm)
