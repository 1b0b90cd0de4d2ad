"""Whether an app runs with our security manager, and the warning when it does not.

Flask-AppBuilder imports ``FAB_SECURITY_MANAGER_CLASS`` by name; when that fails (a typo),
it logs the import error among its start-up messages and goes on with its own manager,
so the app runs without us and nothing ends a disabled user's sessions. Once this
package is imported in a process (the ``flask session-epoch`` commands are, by every
``flask`` command), each Flask-AppBuilder app is looked at on its first app context after
its set-up: one that does not run our manager gets one warning, and our commands refuse
to run in it with the same message.
"""

from __future__ import annotations

import difflib
import importlib
import logging
import typing as t
import weakref

from flask import appcontext_pushed

if t.TYPE_CHECKING:
    from flask import Flask

log = logging.getLogger("flask_session_epoch")

#: Where the extension keeps its security manager once it runs (manager.EXTENSION_KEY).
EXTENSION_KEY = "session_epoch"
_OURS = "flask_session_epoch.SessionEpochSecurityManager"
_AIRFLOW = "flask_session_epoch.airflow.SessionEpochFabAuthManager"
# Apps already looked at: each is warned about once.
_seen: weakref.WeakSet[Flask] = weakref.WeakSet()


def problem(app: Flask) -> str | None:
    """Why ``app`` runs without flask-session-epoch, in one line; None when it runs with it
    (or is not a Flask-AppBuilder app set up yet)."""
    appbuilder = getattr(app, "appbuilder", None)
    if EXTENSION_KEY in app.extensions or appbuilder is None:
        return None
    manager = type(getattr(appbuilder, "sm", None))
    running = f"{manager.__module__}.{manager.__qualname__}"
    cause, fix = _host_setting(app, running)
    return (f"flask-session-epoch is not in use in this app: {cause}. Flask-AppBuilder runs {running} instead,"
            f" so disabling a user or signing them out ends none of their sessions. {fix}")


def _host_setting(app: Flask, running: str) -> tuple[str, str]:
    """What the host's setting says, and how to set it, for Superset, Airflow and plain FAB."""
    if "CUSTOM_SECURITY_MANAGER" in app.config:  # Superset's config always has the key
        named = app.config["CUSTOM_SECURITY_MANAGER"]
        cause = "CUSTOM_SECURITY_MANAGER is not set" if named is None else (
            f"CUSTOM_SECURITY_MANAGER = {getattr(named, '__qualname__', named)!r} has no SessionEpochMixin")
        return cause, ("Set CUSTOM_SECURITY_MANAGER to a class of (SessionEpochMixin, SupersetSecurityManager)"
                       " in superset_config.py.")
    if running.startswith("airflow."):
        return ("[core] auth_manager is not flask-session-epoch's",
                f"Set [core] auth_manager = {_AIRFLOW}.")
    named = app.config.get("FAB_SECURITY_MANAGER_CLASS")
    cause = "FAB_SECURITY_MANAGER_CLASS is not set" if not named else (
        f"FAB_SECURITY_MANAGER_CLASS = {named!r} {_why_not(str(named))}")
    return cause, (f'Set FAB_SECURITY_MANAGER_CLASS = "{_OURS}", or put SessionEpochMixin in front of your own'
                   " security manager.")


def _why_not(named: str) -> str:
    """Why Flask-AppBuilder could not use the class ``named``, with the nearest real name."""
    module_name, _, attribute = named.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - any import failure is what we report
        near = difflib.get_close_matches(module_name, ["flask_session_epoch"], n=1, cutoff=0.8)
        hint = f"; did you mean {_OURS!r}?" if near else ""
        return f"cannot be imported ({type(exc).__name__}: {exc}{hint})"
    if not hasattr(module, attribute):
        near = difflib.get_close_matches(attribute, [n for n in dir(module) if not n.startswith("_")], n=1)
        hint = f"; did you mean {module_name + '.' + near[0]!r}?" if near else ""
        return f"cannot be imported ({module_name} has no {attribute!r}{hint})"
    return "is not a flask-session-epoch security manager (it has no SessionEpochMixin)"


def _look_at(app: Flask, **extra: t.Any) -> None:
    if app in _seen:
        return
    if getattr(app, "appbuilder", None) is None and EXTENSION_KEY not in app.extensions:
        return  # not set up yet (Flask-AppBuilder pushes contexts while it sets up), or not FAB
    _seen.add(app)
    message = problem(app)
    if message is not None:
        log.warning("%s", message)


appcontext_pushed.connect(_look_at, weak=False)
