#!/usr/bin/env bash
# Make sure the system Chromium that the browser tests drive is installed.
#
#   bash tests/e2e/install-browser.sh
#
# Playwright uses Debian's /usr/bin/chromium (never `playwright install`, which downloads
# a browser). If it is missing and we are root with apt-get, install the `chromium`
# package; otherwise say so and leave it to the tests, which skip (fail with CI=true).
# Safe to run again: an installed browser is left alone. Exit 1 only if apt-get failed.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
log() { echo "install-browser.sh: $*" >&2; }

if [ -x "$CHROMIUM" ]; then
    log "$CHROMIUM is already installed ($("$CHROMIUM" --version 2>/dev/null || echo 'version unknown')); nothing to do"
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    log "$CHROMIUM is missing and cannot be installed here (needs root and apt-get);" \
        "the browser tests will skip (and fail with CI=true)"
    exit 0
fi

log "$CHROMIUM is missing: running apt-get update"
if ! apt-get update -qq >&2; then
    log "apt-get update failed"
    exit 1
fi
log "installing the Debian package chromium"
if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2; then
    log "apt-get install chromium failed"
    exit 1
fi
if [ ! -x "$CHROMIUM" ]; then
    log "the chromium package is installed but $CHROMIUM is not there"
    exit 1
fi
log "installed $("$CHROMIUM" --version 2>/dev/null || echo chromium)"
