"""Airflow 3's FAB auth manager with session epochs.

In ``airflow.cfg``::

    [core]
    auth_manager = flask_session_epoch.airflow.SessionEpochFabAuthManager

Nothing here is imported with the rest of the package: it needs Airflow and its FAB
provider, and the provider's entry point only reads :mod:`.provider`.
"""

from __future__ import annotations

import typing as t

if t.TYPE_CHECKING:
    from .auth_manager import SessionEpochFabAuthManager as SessionEpochFabAuthManager
    from .security_manager import SessionEpochAirflowSecurityManager as SessionEpochAirflowSecurityManager


def __getattr__(name: str) -> t.Any:
    if name == "SessionEpochFabAuthManager":
        from .auth_manager import SessionEpochFabAuthManager

        return SessionEpochFabAuthManager
    if name == "SessionEpochAirflowSecurityManager":
        from .security_manager import SessionEpochAirflowSecurityManager

        return SessionEpochAirflowSecurityManager
    raise AttributeError(name)
