"""What Airflow learns about this package through its ``apache_airflow_provider`` entry point.

Airflow reads the ``cli`` entry to add ``airflow session-epoch ...``. This module must
stay cheap to import: every Airflow command reads it.
"""

from __future__ import annotations

import typing as t


def get_provider_info() -> dict[str, t.Any]:
    return {
        "package-name": "flask-session-epoch",
        "name": "Session epoch",
        "description": "End Flask-AppBuilder sessions and Airflow's JWTs at once: flask-session-epoch.",
        "cli": ["flask_session_epoch.airflow.cli.get_cli_commands"],
    }
