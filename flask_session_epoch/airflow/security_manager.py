"""The security manager of Airflow's FAB provider, with session epochs."""

from __future__ import annotations

import typing as t

from airflow.providers.fab.auth_manager.security_manager.override import FabAirflowSecurityManagerOverride

from .. import session_keys
from ..manager import SessionEpochMixin


class SessionEpochAirflowSecurityManager(SessionEpochMixin, FabAirflowSecurityManagerOverride):
    """``SessionEpochMixin`` on the FAB provider's security manager.

    :class:`~flask_session_epoch.airflow.SessionEpochFabAuthManager` uses it unless
    ``webserver_config.py`` sets ``SECURITY_MANAGER_CLASS``, which must then derive
    from this class.
    """

    #: ``[fab] session_max_lifetime_minutes`` stamps the login time at ``user_logged_in`` too.
    session_epoch_kept_at_login = (*session_keys.KEPT_AT_LOGIN, "_login_at")

    def is_item_public(self, permission_name: str, view_name: str) -> bool:
        """Whether the public role may do this; FAB's REST decorator asks, the provider lacks it."""
        role = self.get_public_role()
        if role is None:
            return False
        return any(
            permission.action.name == permission_name and permission.resource.name == view_name
            for permission in t.cast("t.Iterable[t.Any]", role.permissions)
        )
