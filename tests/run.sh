#!/usr/bin/env bash
# The whole test suite, set-up included: virtual environments, real database servers,
# then pytest on SQLAlchemy 2.x, on SQLAlchemy 1.4 (Superset's pin), on Flask-AppBuilder
# 5.0, and inside a real Superset 6.1.0. Extra arguments go to every pytest run (for
# example -x or -k NAME).
#
#   bash tests/run.sh
#
# SESSION_EPOCH_VENVS   where the environments live (default: .venv-test/ in the repo)
# SESSION_EPOCH_SKIP_SUPERSET=1   leave out the (slow) Superset environment locally
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
venvs=${SESSION_EPOCH_VENVS:-$root/.venv-test}
reports=$(mktemp -d)
servers=$(mktemp -d)
chmod 755 "$servers"

say() { printf '\n== %s\n' "$*" >&2; }

ensure_venv_support() {
    python3 -m venv --help >/dev/null 2>&1 && python3 -c 'import ensurepip' 2>/dev/null && return
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        say "installing python3-venv"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    fi
}

# make_venv NAME PIP-ARGS...: create (or reuse) an environment and install into it.
make_venv() {
    local name=$1; shift
    local dir=$venvs/$name
    [ -x "$dir/bin/python" ] || python3 -m venv "$dir"
    say "installing the $name environment"
    "$dir/bin/python" -m pip install -q --disable-pip-version-check "$@"
}

# run_pytest NAME ARGS...: one pytest run, its results kept for the summary.
status=0
run_pytest() {
    local name=$1; shift
    say "pytest in $name"
    "$venvs/$name/bin/python" -m pytest -p no:cacheprovider --junitxml="$reports/$name.xml" "$@" || status=1
}

cleanup() { bash tests/servers.sh stop "$servers"; rm -rf "$servers" "$reports"; }
trap cleanup EXIT

ensure_venv_support
mkdir -p "$venvs"
make_venv sqlalchemy2 -c tests/constraints/sqlalchemy2.txt -e ".[test]"
make_venv sqlalchemy14 -c tests/constraints/sqlalchemy14.txt -e ".[test]"
make_venv fab50 -c tests/constraints/fab50.txt -e ".[test]"
if [ "${SESSION_EPOCH_SKIP_SUPERSET:-0}" != 1 ]; then
    make_venv superset -c tests/constraints/superset.txt apache-superset==6.1.0 rich cachetools Authlib idpyoidc \
        flask-caching pytest
    "$venvs/superset/bin/python" -m pip install -q --disable-pip-version-check --no-deps -e .
fi

say "installing Chromium for the browser tests"
bash tests/e2e/install-browser.sh

say "starting database servers"
bash tests/servers.sh start "$servers"
# shellcheck disable=SC1091
source "$servers/env"

run_pytest sqlalchemy2 tests --ignore=tests/superset "$@"
# The deployment tests (browser, soak) run once, above: they test processes, not ORM versions.
run_pytest sqlalchemy14 tests --ignore=tests/superset --ignore=tests/e2e --ignore=tests/soak "$@"
# The oldest Flask-AppBuilder we support (5.0), on SQLAlchemy 2.
run_pytest fab50 tests --ignore=tests/superset --ignore=tests/e2e --ignore=tests/soak "$@"
if [ "${SESSION_EPOCH_SKIP_SUPERSET:-0}" != 1 ]; then
    run_pytest superset tests/superset "$@"
fi

# One closing line for all runs together.
python3 - "$reports" <<'PY'
import pathlib, sys, xml.etree.ElementTree as ET
totals = dict(tests=0, failures=0, errors=0, skipped=0)
for report in sorted(pathlib.Path(sys.argv[1]).glob("*.xml")):
    for suite in ET.parse(report).getroot().iter("testsuite"):
        for key in totals:
            totals[key] += int(suite.get(key, 0))
failed = totals["failures"] + totals["errors"]
passed = totals["tests"] - failed - totals["skipped"]
print(f"{passed} passed, {failed} failed, {totals['skipped']} skipped")
PY
exit $status
