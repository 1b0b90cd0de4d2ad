"""Our message catalogs, loaded by Flask-Babel next to Flask-AppBuilder's and the host's own.

Flask-Babel merges the ``messages`` catalogs of every directory in
``BABEL_TRANSLATION_DIRECTORIES`` (``;``-separated), a later directory winning for a
message two of them translate. Flask-AppBuilder's ``BabelManager`` starts Flask-Babel
after the security manager (in plain FAB, Superset and Airflow's FAB provider alike),
from that setting with FAB's own directory put in front. So our directory goes in
front of the host's value (or of Flask-Babel's default, ``translations``): the host's
catalogs still win over ours, and ours leaves every message of FAB's untranslated (a
test checks it), so FAB's translations are never replaced either.
"""

from __future__ import annotations

import typing as t
from pathlib import Path

if t.TYPE_CHECKING:
    from flask import Flask

#: Where our catalogs are: ``<locale>/LC_MESSAGES/messages.po`` and ``.mo``.
DIRECTORY = str(Path(__file__).resolve().with_name("translations"))
_SETTING = "BABEL_TRANSLATION_DIRECTORIES"
# Flask-Babel's value when the setting is missing (relative to the app's root path).
_DEFAULT = "translations"


def register(app: Flask) -> None:
    """Make Flask-Babel find our catalogs for ``app``; calling it again changes nothing.

    Call it before Flask-Babel starts (the security manager's init is); if it has
    started already, our directory is added to the running configuration too.
    """
    configured = app.config.get(_SETTING, _DEFAULT)
    if isinstance(configured, str):
        directories = [path for path in configured.split(";") if path]
        if DIRECTORY not in directories:
            app.config[_SETTING] = ";".join([DIRECTORY, *directories])
    running = app.extensions.get("babel")
    if running is not None and DIRECTORY not in running.translation_directories:
        # First: the directories already there keep winning over ours.
        running.translation_directories.insert(0, DIRECTORY)
        domain = vars(running.instance).get("domain_instance")
        if domain is not None:
            domain.cache.clear()  # catalogs merged before ours was there
