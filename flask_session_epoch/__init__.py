"""End a Flask-AppBuilder user's sessions and tokens at once, on every worker and host."""

from __future__ import annotations

from .manager import SessionEpochMixin as SessionEpochMixin
from .manager import SessionEpochSecurityManager as SessionEpochSecurityManager
from .models import GlobalSessionEpoch as GlobalSessionEpoch
from .models import UserSessionEpoch as UserSessionEpoch
from .revoke import invalidate_all_sessions as invalidate_all_sessions
from .revoke import invalidate_sessions as invalidate_sessions
from .session_keys import SESSION_KEY_EPOCH as SESSION_KEY_EPOCH
from .session_keys import SESSION_KEY_LOGIN_AT as SESSION_KEY_LOGIN_AT
from .signals import session_rejected as session_rejected
from .signals import sessions_invalidated as sessions_invalidated


def __getattr__(name: str) -> str:
    if name == "__version__":
        from importlib.metadata import version

        return version("flask-session-epoch")
    raise AttributeError(name)
