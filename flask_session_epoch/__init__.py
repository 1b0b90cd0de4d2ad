"""End a Flask-AppBuilder user's sessions and tokens at once, on every worker and host.

Importing the package watches each Flask-AppBuilder app for running without our
security manager (a mistyped ``FAB_SECURITY_MANAGER_CLASS``), and warns once if it does.
It does not import Flask-AppBuilder's SQLAlchemy security models:
Airflow's FAB provider defines its own copies of those tables. The ready-made
:class:`SessionEpochSecurityManager`, built on FAB's own security manager, is loaded
when it is first asked for.
"""

from __future__ import annotations

import typing as t

# Imported for what it does: it looks at each FAB app once, and warns if ours is not its manager.
from . import in_use as _in_use  # noqa: F401
from .configuration_error import ConfigurationError as ConfigurationError
from .manager import SessionEpochMixin as SessionEpochMixin
from .models import GlobalSessionEpoch as GlobalSessionEpoch
from .models import UserSessionEpoch as UserSessionEpoch
from .revoke import invalidate_all_sessions as invalidate_all_sessions
from .revoke import invalidate_sessions as invalidate_sessions
from .session_keys import SESSION_KEY_EPOCH as SESSION_KEY_EPOCH
from .session_keys import SESSION_KEY_LOGIN_AT as SESSION_KEY_LOGIN_AT
from .signals import session_rejected as session_rejected
from .signals import sessions_invalidated as sessions_invalidated

if t.TYPE_CHECKING:
    from .fab import SessionEpochSecurityManager as SessionEpochSecurityManager


def __dir__() -> list[str]:
    return [*globals(), "SessionEpochSecurityManager", "__version__"]


def __getattr__(name: str) -> t.Any:
    if name == "SessionEpochSecurityManager":
        from .fab import SessionEpochSecurityManager

        return SessionEpochSecurityManager
    if name == "__version__":
        from importlib.metadata import version

        return version("flask-session-epoch")
    raise AttributeError(name)
