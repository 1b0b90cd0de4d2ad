"""Print the path of the shipped ``alembic.ini``: ``alembic -c "$(python -m flask_session_epoch.migrations)"``."""

from . import ALEMBIC_INI

print(ALEMBIC_INI)
