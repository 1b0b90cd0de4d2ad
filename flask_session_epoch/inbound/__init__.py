"""What the identity provider tells us, server to server: each receiver checks a signed token
and ends the sessions of the subject it names.

* :mod:`.backchannel`: OpenID Connect Back-Channel Logout 1.0 (its token: :mod:`.logout_tokens`).

What they share is written once: the signing keys (:mod:`.keys`), the ``jti`` replay
cache in the database (:mod:`.replay`) and the refusal (:mod:`.errors`).
"""

from __future__ import annotations

import typing as t

from . import backchannel

if t.TYPE_CHECKING:
    from flask import Blueprint, Flask


def install(app: Flask, blueprint: Blueprint, sm: t.Any) -> None:
    """Add the receivers the settings ask for.

    :raises RuntimeError: if a setting names something that cannot be used.
    """
    backchannel.install(app, blueprint, sm)
