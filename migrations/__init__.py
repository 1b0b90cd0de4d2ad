"""flask-session-epoch's Alembic scripts, shipped as ``flask_session_epoch.migrations``.

They keep their own version table, ``alembic_version_session_epoch``, so they never
read or move the host application's ``alembic_version``.
"""

from __future__ import annotations

from pathlib import Path

#: The folder Alembic reads: ``script_location`` in ``alembic.ini``.
SCRIPT_LOCATION = Path(__file__).resolve().parent
#: The configuration for running plain ``alembic`` with these scripts.
ALEMBIC_INI = SCRIPT_LOCATION / "alembic.ini"
#: Alembic's version table for this chain.
VERSION_TABLE = "alembic_version_session_epoch"
