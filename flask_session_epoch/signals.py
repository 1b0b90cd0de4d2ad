"""Blinker signals sent by flask-session-epoch.

Connect with ``signal.connect(receiver, app)`` to listen to one app only.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

#: Sent after the transaction that stamped an epoch has committed. Sender: the app
#: (None outside an app context). Keyword arguments: ``user_id`` (None for the
#: global epoch), ``reason``, ``actor`` and ``at`` (naive UTC datetime).
sessions_invalidated = _signals.signal("sessions-invalidated")

#: Sent when a session or token is refused because it predates the epoch. Sender:
#: the app. Keyword arguments: ``user_id``, ``via`` (``"session"``, ``"remember"``,
#: ``"jwt"`` or ``"api-key"``) and ``reason`` (``"stale"`` or ``"check-failed"``).
session_rejected = _signals.signal("session-rejected")

#: Sent after an OpenID provider's back-channel logout was carried out. Sender: the
#: app. Keyword arguments: ``provider`` (its OAUTH_PROVIDERS name), ``subject`` and
#: ``sid`` (as in the logout token, either may be None) and ``user_id`` (None when no
#: user is known for the subject).
backchannel_logout = _signals.signal("backchannel-logout")

#: Sent when a session record is started (a login, an API login's tokens). Sender: the
#: app. Keyword arguments: ``record_id``, ``user_id``, ``kind`` (``browser`` or ``api``)
#: and ``auth_method``.
session_started = _signals.signal("session-started")

#: Sent after one session was ended on its own (a logout, *Sign out* on one row, an
#: admin's *End session*, a provider's logout by ``sid``). Sender: the app. Keyword
#: arguments: ``record_id``, ``user_id``, ``reason``, ``actor`` and ``credentials``: at a
#: logout, the credentials of the logout request that named this record (``session``,
#: ``remember-me``, ``jwt-access``, ``jwt-refresh``, ``airflow-token``), empty otherwise;
#: ending the record ends every other copy of them too. Sessions that an epoch ends
#: (revoke, disable, revoke-all) send ``sessions_invalidated`` instead.
session_ended = _signals.signal("session-ended")

