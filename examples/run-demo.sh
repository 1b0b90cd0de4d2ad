#!/usr/bin/env bash
# Set up and start the flask-session-epoch demo in one command:
#
#   bash examples/run-demo.sh
#
# Creates (or reuses) a virtualenv at .venv-demo, installs this checkout into it,
# then serves examples/demo_app.py on http://127.0.0.1:8080 until Ctrl-C.
#
# Environment: HOST, PORT (where to listen), DEMO_DATA_DIR (SQLite file and secret
# key; default ./demo-data), DEMO_VENV (virtualenv path; default .venv-demo),
# DEMO_IDLE_TIMEOUT (seconds, 60 or more: sessions end after that long without activity,
# and every page warns first; see examples/README.rst).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${DEMO_VENV:-$ROOT/.venv-demo}
export HOST=${HOST:-127.0.0.1} PORT=${PORT:-8080}
PYTHON=${PYTHON:-python3}
export DEMO_DATA_DIR=${DEMO_DATA_DIR:-$PWD/demo-data}

say() { echo "run-demo: $*" >&2; }

if ! command -v "$PYTHON" >/dev/null; then
  say "$PYTHON not found; install Python 3.10 or newer first"
  exit 1
fi

# Debian's python3 ships without venv/ensurepip: they live in python3-venv.
if ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing python3-venv with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  else
    say "$PYTHON cannot create virtualenvs; install python3-venv (apt-get install python3-venv)"
    exit 1
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  say "creating virtualenv $VENV"
  "$PYTHON" -m venv "$VENV"
fi

# Reinstall only when the packaging metadata changed; the install is editable,
# so edits to flask_session_epoch/*.py show up on the next start anyway.
STAMP="$VENV/.demo-installed"
WANT=$(cat "$ROOT/setup.cfg" "$ROOT/pyproject.toml" | cksum)
if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
  say "installing flask-session-epoch (editable) and its dependencies"
  # FAB 5.3's security API crashes under marshmallow 4.
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$ROOT" 'marshmallow>=3.18,<4'
  echo "$WANT" >"$STAMP"
fi

URL="http://$HOST:$PORT/"
cat <<EOF

  flask-session-epoch demo: $URL
  data (SQLite + secret key): $DEMO_DATA_DIR

  Admin:      admin / admin-demo
  Demo user:  demo  / demo-demo

  1. Sign in as demo in one browser (or a private window) and open ${URL}demo/
  2. Sign in as admin in another browser; in Security > List Users tick demo and
     choose Actions > Sign out everywhere.
  3. Reload demo's tab: the login page says "Your session has ended. Please sign in again."
  4. Or disable demo: open demo's edit page from Security > List Users (the pencil
     icon), uncheck "Is Active?" and save; then check it again and save:
     demo's old tab still has to sign in again.
$( [ -n "${DEMO_IDLE_TIMEOUT:-}" ] && printf '  5. Idle timeout: %s s. Leave a tab alone: it warns, then goes to the login page.\n' "$DEMO_IDLE_TIMEOUT")

  Ctrl-C stops the server.

EOF

cd "$ROOT/examples"
exec "$VENV/bin/python" demo_app.py
