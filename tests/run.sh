#!/usr/bin/env bash
# The whole test suite, set-up included: virtual environments, lint, type and packaging
# checks, real database servers, then pytest on SQLAlchemy 2.x, on SQLAlchemy 1.4
# (Superset's pin), on Flask-AppBuilder 5.0, inside a real Superset 6.1.0 and inside a
# real Airflow 3.3.2 with its FAB provider. Extra arguments go to every pytest run (for
# example -x or -k NAME).
#
#   bash tests/run.sh
#
# It runs in stages; each is announced when it starts and timed when it ends, and a
# table of all of them closes the run, before the "N passed, N failed, N skipped" line:
#
#   venv-sqlalchemy2    the SQLAlchemy 2 environment (it also has ruff, mypy and build)
#   ruff                ruff check . (rules: pyproject.toml); any finding fails it
#   mypy                the package and its migrations, as installed (setup.cfg [mypy])
#   wheel               build the sdist and the wheel; fail on a packaging warning or a
#                       runtime file the wheel lacks (tests/tools/check_wheel.py)
#   docs                the documentation site (docs/) into artifacts/docs, warnings as errors
#   venvs               the other environments (sqlalchemy14, fab50, superset, airflow), installed
#                       side by side; each one's pip output in artifacts/venvs/NAME.log
#   browser             Debian's Chromium for the browser tests
#   servers             PostgreSQL, MariaDB and Redis on 127.0.0.1
#   pytest-sqlalchemy2, pytest-sqlalchemy14, pytest-fab50   the suite in four pytest-xdist
#                       workers (each with its own PostgreSQL and MariaDB database); on
#                       Flask-AppBuilder 5.0 the all_databases tests run on SQLite only
#   pytest-deployment   tests/e2e and tests/soak (browser, gunicorn workers under load), alone
#   pytest-hosts        inside a real Superset and a real Airflow, side by side (output in
#                       artifacts/pytest-superset.log and artifacts/pytest-airflow.log)
#
# A failing ruff, mypy, wheel or pytest stage makes the exit status non-zero and the run
# goes on; a failing set-up stage (venv-*, browser, servers) ends the run, and so does
# Ctrl-C. Quiet stages print a "still running" line every minute.
#
# Kept under artifacts/ (git-ignored): junit/<env>.xml, pytest's report of each
# environment; dist/, the sdist, the wheel and build.log; screenshots/ of the browser tests.
#
# SESSION_EPOCH_VENVS   where the environments live (default: .venv-test/ in the repo)
# SESSION_EPOCH_SKIP_SUPERSET=1   leave out the (slow) Superset environment locally
# SESSION_EPOCH_SKIP_AIRFLOW=1    leave out the (slow) Airflow environment locally
# SESSION_EPOCH_STAGES  run only these stages, by name or glob, e.g. "ruff mypy wheel" or
#                       "venv-sqlalchemy2 servers pytest-sqlalchemy2"; the stages they
#                       need (an environment, the servers) must have run before
# SESSION_EPOCH_HEARTBEAT   seconds between "still running" lines (default 60)
# SESSION_EPOCH_XDIST_WORKERS   pytest-xdist workers of the main suites (default 4; the tests
#                       wait on databases more than they compute)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
venvs=${SESSION_EPOCH_VENVS:-$root/.venv-test}
junit=$root/artifacts/junit
heartbeat_every=${SESSION_EPOCH_HEARTBEAT:-60}
pytest_args=("$@")
# The unit and integration suite, without the environments and processes that have stages of their own.
suite_args=(--ignore=tests/superset --ignore=tests/airflow3 --ignore=tests/e2e --ignore=tests/soak
    -n "${SESSION_EPOCH_XDIST_WORKERS:-4}")
servers=$(mktemp -d)
chmod 755 "$servers"

say() { printf '\n== %s\n' "$*"; }

# --- the stages ------------------------------------------------------------------------

superset=1
[ "${SESSION_EPOCH_SKIP_SUPERSET:-0}" != 1 ] || superset=0
airflow=1
[ "${SESSION_EPOCH_SKIP_AIRFLOW:-0}" != 1 ] || airflow=0
# The environments that the venvs stage installs side by side (pip waits on the network
# as much as it computes).
other_venvs=(sqlalchemy14 fab50)
[ $superset = 0 ] || other_venvs+=(superset)
[ $airflow = 0 ] || other_venvs+=(airflow)
stages=(venv-sqlalchemy2 ruff mypy wheel docs venvs browser servers pytest-sqlalchemy2 pytest-deployment
    pytest-sqlalchemy14 pytest-fab50)
# Superset's and Airflow's tests mostly wait on their own processes: they run side by side.
hosts=()
[ $superset = 0 ] || hosts+=(superset)
[ $airflow = 0 ] || hosts+=(airflow)
[ ${#hosts[@]} = 0 ] || stages+=(pytest-hosts)

stage_title() {
    case $1 in
        venvs) echo "install the ${other_venvs[*]} environments, side by side" ;;
        pytest-hosts) echo "pytest inside ${hosts[*]}, side by side" ;;
        venv-*) echo "install the ${1#venv-} environment" ;;
        ruff) echo "ruff (lint)" ;;
        mypy) echo "mypy (types of the package and its migrations)" ;;
        wheel) echo "build and check the wheel" ;;
        docs) echo "build the documentation (warnings as errors)" ;;
        browser) echo "install Chromium for the browser tests" ;;
        servers) echo "start the database servers" ;;
        pytest-deployment) echo "pytest: browser and soak tests (sqlalchemy2 environment)" ;;
        pytest-*) echo "pytest in ${1#pytest-}" ;;
    esac
}

# A failed set-up stage ends the run: what follows needs it.
setup_stage() { case $1 in venv* | browser | servers) return 0 ;; *) return 1 ;; esac; }

# run_hosts: pytest inside each real host (Superset, Airflow) at once; each one's output goes to
# artifacts/pytest-NAME.log, and its summary line (or the end of a failure) is printed here.
run_hosts() {
    local name failed=0
    local -A jobs=()
    for name in "${hosts[@]}"; do
        (set -e; stage_body "pytest-$name") >"$root/artifacts/pytest-$name.log" 2>&1 &
        jobs[$name]=$!
    done
    for name in "${!jobs[@]}"; do
        if wait "${jobs[$name]}"; then
            echo "  $name: $(grep -E '(passed|failed)' "$root/artifacts/pytest-$name.log" | tail -n 1)"
        else
            echo "  $name: FAILED; the end of artifacts/pytest-$name.log:"
            grep -E '^(FAILED|ERROR)' "$root/artifacts/pytest-$name.log" | sed 's/^/    /'
            tail -n 40 "$root/artifacts/pytest-$name.log" | sed 's/^/    /'
            failed=1
        fi
    done
    return $failed
}

# install_venvs: the venv-NAME stages of other_venvs at once, each logging to artifacts/venvs/.
install_venvs() {
    local logs=$root/artifacts/venvs name failed=0
    local -A jobs=()
    mkdir -p "$logs"
    ensure_venv_support  # once, before the installs run side by side
    for name in "${other_venvs[@]}"; do
        (set -e; stage_body "venv-$name") >"$logs/$name.log" 2>&1 &
        jobs[$name]=$!
    done
    for name in "${!jobs[@]}"; do
        if wait "${jobs[$name]}"; then
            echo "  $name: installed"
        else
            echo "  $name: FAILED; the end of artifacts/venvs/$name.log:"
            tail -n 30 "$logs/$name.log" | sed 's/^/    /'
            failed=1
        fi
    done
    return $failed
}

ensure_venv_support() {
    python3 -m venv --help >/dev/null 2>&1 && python3 -c 'import ensurepip' 2>/dev/null && return
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "installing python3-venv" >&2
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    fi
}

# make_venv NAME PIP-ARGS...: create (or reuse) an environment and install into it.
make_venv() {
    local name=$1; shift
    local dir=$venvs/$name
    ensure_venv_support
    mkdir -p "$venvs"
    [ -x "$dir/bin/python" ] || python3 -m venv "$dir"
    "$dir/bin/python" -m pip install -q --disable-pip-version-check "$@"
}

# need ENV PROGRAM: a stage that uses an environment which an earlier stage installs.
need() {
    [ -x "$venvs/$1/bin/$2" ] && return
    echo "$venvs/$1/bin/$2 is missing: run the venv-$1 stage first" >&2
    return 1
}

run_mypy() {
    need sqlalchemy2 mypy
    # mypy checks the package as it is installed, migrations/ as flask_session_epoch.migrations
    # (setup.cfg's package_dir), so the Alembic scripts are checked and the package's imports
    # of them typed. A folder of symlinks gives it that layout; its messages name the files
    # in the source tree again.
    local view=$root/.mypy_cache/layout f
    rm -rf "$view"
    mkdir -p "$view/flask_session_epoch"
    for f in "$root"/flask_session_epoch/*; do
        [ "${f##*/}" = __pycache__ ] || ln -s "$f" "$view/flask_session_epoch/"
    done
    [ -e "$view/flask_session_epoch/migrations" ] || ln -s "$root/migrations" "$view/flask_session_epoch/migrations"
    (cd "$view" && "$venvs/sqlalchemy2/bin/mypy" --config-file "$root/setup.cfg" --cache-dir "$root/.mypy_cache" \
        -p flask_session_epoch) | sed -e 's#^flask_session_epoch/migrations/#migrations/#'
}

# run_pytest NAME ARGS...: one pytest run, its JUnit report kept in artifacts/junit/NAME.xml.
run_pytest() {
    local name=$1; shift
    need "$name" python
    mkdir -p "$junit"
    rm -f "$junit/$name.xml"
    "$venvs/$name/bin/python" -m pytest -p no:cacheprovider --junitxml="$junit/$name.xml" "$@"
}

# What each stage does; it runs in a subshell with `set -e`.
stage_body() {
    case $1 in
        venvs) install_venvs ;;
        # The docs extra too: the docs stage builds the site in this environment.
        venv-sqlalchemy2)
            make_venv sqlalchemy2 -c tests/constraints/sqlalchemy2.txt -e ".[test,docs]" ;;
        venv-sqlalchemy14 | venv-fab50)
            make_venv "${1#venv-}" -c "tests/constraints/${1#venv-}.txt" -e ".[test]" ;;
        venv-superset)
            make_venv superset -c tests/constraints/superset.txt apache-superset==6.1.0 rich cachetools Authlib \
                idpyoidc flask-caching pytest ua-parser
            "$venvs/superset/bin/python" -m pip install -q --disable-pip-version-check --no-deps -e . ;;
        venv-airflow)
            make_venv airflow -c tests/constraints/airflow.txt apache-airflow==3.3.2 apache-airflow-providers-fab \
                pytest requests time-machine ua-parser Authlib idpyoidc
            # Editable, so Airflow finds the package's apache_airflow_provider entry point (its CLI).
            "$venvs/airflow/bin/python" -m pip install -q --disable-pip-version-check --no-deps -e . ;;
        ruff)
            need sqlalchemy2 ruff
            "$venvs/sqlalchemy2/bin/ruff" check --output-format concise . ;;
        mypy) run_mypy ;;
        wheel)
            need sqlalchemy2 python
            "$venvs/sqlalchemy2/bin/python" tests/tools/check_wheel.py --outdir "$root/artifacts/dist" ;;
        # A fresh build each time, so a page that was removed does not linger; the browser
        # test of pytest-deployment takes its screenshots of this build.
        docs)
            need sqlalchemy2 sphinx-build
            rm -rf "$root/artifacts/docs"
            "$venvs/sqlalchemy2/bin/sphinx-build" -W --keep-going -n -b html docs "$root/artifacts/docs" ;;
        browser) bash tests/e2e/install-browser.sh ;;
        servers) bash tests/servers.sh start "$servers" ;;
        pytest-sqlalchemy2 | pytest-sqlalchemy14)
            run_pytest "${1#pytest-}" tests "${suite_args[@]}" "${pytest_args[@]}" ;;
        # The deployment tests (browser, soak) run once, on their own: they test processes, not
        # ORM versions, and share the machine with nothing else.
        pytest-deployment)
            need sqlalchemy2 python
            mkdir -p "$junit"
            rm -f "$junit/deployment.xml"
            "$venvs/sqlalchemy2/bin/python" -m pytest -p no:cacheprovider --junitxml="$junit/deployment.xml" \
                tests/e2e tests/soak "${pytest_args[@]}" ;;
        # The oldest Flask-AppBuilder we support (5.0), on SQLAlchemy 2; what differs from 5.3 is
        # not in the database.
        pytest-fab50)
            SESSION_EPOCH_TEST_DATABASES=sqlite run_pytest fab50 tests "${suite_args[@]}" "${pytest_args[@]}" ;;
        pytest-hosts) mkdir -p "$root/artifacts"; run_hosts ;;
        pytest-superset) run_pytest superset tests/superset "${pytest_args[@]}" ;;
        pytest-airflow) run_pytest airflow tests/airflow3 "${pytest_args[@]}" ;;
        *) echo "no stage $1" >&2; return 2 ;;
    esac
}

# --- timing and the heartbeat ----------------------------------------------------------

now_ms() { local t=${EPOCHREALTIME//[!0-9]/}; echo $((10#$t / 1000)); }
seconds() { printf '%d.%d' $(($1 / 1000)) $(($1 % 1000 / 100)); }

# A line every $heartbeat_every seconds while a stage that prints little runs. Its sleep
# holds no output of ours, so a sleep cut short by heartbeat_stop keeps no log open.
heartbeat=
heartbeat_start() {
    local label=$1 started=$2 parent=$$
    (
        while kill -0 "$parent" 2>/dev/null; do
            sleep "$heartbeat_every" </dev/null >/dev/null 2>&1 || exit 0
            printf '   ... %s: still running after %d s\n' "$label" $((($(now_ms) - started) / 1000))
        done
    ) &
    heartbeat=$!
}
heartbeat_stop() {
    [ -n "$heartbeat" ] || return 0
    kill "$heartbeat" 2>/dev/null || true
    wait "$heartbeat" 2>/dev/null || true
    heartbeat=
}

cleanup() {
    heartbeat_stop
    bash tests/servers.sh stop "$servers"
    rm -rf "$servers"
}
trap cleanup EXIT

# --- which stages ----------------------------------------------------------------------

plan=()
if [ -n "${SESSION_EPOCH_STAGES:-}" ]; then
    read -r -a wanted <<<"${SESSION_EPOCH_STAGES//,/ }"
    for pattern in "${wanted[@]}"; do
        found=0
        # shellcheck disable=SC2053  # the pattern is a glob on purpose
        for id in "${stages[@]}"; do [[ $id == $pattern ]] && found=1; done
        if [ $found = 0 ]; then
            echo "run.sh: SESSION_EPOCH_STAGES: no stage '$pattern'; the stages: ${stages[*]}" >&2
            exit 2
        fi
    done
    for id in "${stages[@]}"; do
        # shellcheck disable=SC2053
        for pattern in "${wanted[@]}"; do [[ $id == $pattern ]] && { plan+=("$id"); break; }; done
    done
else
    plan=("${stages[@]}")
fi

# --- the run ---------------------------------------------------------------------------

say "the stages: ${plan[*]}"
status=0
stopped=0
interrupted=0
trap 'interrupted=1' INT
results=()
took=()
reports=()
run_started=$(now_ms)
for i in "${!plan[@]}"; do
    id=${plan[$i]}
    if [ $stopped = 1 ]; then
        results[i]="not run"; took[i]=0
        continue
    fi
    label="[stage $((i + 1))/${#plan[@]}] $(stage_title "$id")"
    say "$label ..."
    started=$(now_ms)
    [[ $id == pytest-* ]] || heartbeat_start "$label" "$started"
    set +e
    (set -e; stage_body "$id")
    rc=$?
    set -e
    heartbeat_stop
    took[i]=$(($(now_ms) - started))
    if [ "$id" = pytest-hosts ]; then
        for host in "${hosts[@]}"; do [ ! -f "$junit/$host.xml" ] || reports+=("$junit/$host.xml"); done
    else
        [[ $id != pytest-* ]] || [ ! -f "$junit/${id#pytest-}.xml" ] || reports+=("$junit/${id#pytest-}.xml")
    fi
    # Ctrl-C reached the stage's programs too, whatever status they ended with.
    if [ $interrupted = 1 ]; then
        results[i]=interrupted
        status=1
        stopped=1
        say "$label ... interrupted after $(seconds "${took[i]}") s: the stages after it do not run"
    elif [ $rc = 0 ]; then
        results[i]=ok
        say "$label ... done in $(seconds "${took[i]}") s"
        # shellcheck disable=SC1091
        [ "$id" != servers ] || source "$servers/env"
    else
        results[i]="FAILED ($rc)"
        status=1
        say "$label ... FAILED (exit $rc) after $(seconds "${took[i]}") s"
        if setup_stage "$id"; then
            say "a set-up stage failed: the stages after it do not run"
            stopped=1
        fi
    fi
done
total=$(($(now_ms) - run_started))

say "stage durations"
for i in "${!plan[@]}"; do
    if [ "${results[$i]}" = "not run" ]; then shown=-; else shown="$(seconds "${took[$i]}") s"; fi
    printf '%3d  %-24s %-14s %11s\n' $((i + 1)) "${plan[$i]}" "${results[$i]}" "$shown"
done
printf '     %-24s %-14s %9s s (%d min %02d s)\n' total "$([ $status = 0 ] && echo ok || echo FAILED)" \
    "$(seconds "$total")" $((total / 60000)) $((total / 1000 % 60))
[ ${#reports[@]} = 0 ] || echo "JUnit reports: ${reports[*]#"$root/"}"

# One closing line for all pytest runs together.
if [ ${#reports[@]} -gt 0 ]; then
    python3 - "${reports[@]}" <<'PY'
import sys, xml.etree.ElementTree as ET
totals = dict(tests=0, failures=0, errors=0, skipped=0)
for report in sys.argv[1:]:
    for suite in ET.parse(report).getroot().iter("testsuite"):
        for key in totals:
            totals[key] += int(suite.get(key, 0))
failed = totals["failures"] + totals["errors"]
passed = totals["tests"] - failed - totals["skipped"]
print(f"{passed} passed, {failed} failed, {totals['skipped']} skipped")
PY
fi
exit $status
