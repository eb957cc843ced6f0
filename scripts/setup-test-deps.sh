#!/usr/bin/env bash
# Installs the test dependencies: the pinned Python packages (the moto AWS
# emulator, the aiosmtpd SMTP sink, and what they need) into .venv, and
# Debian's chromium for the HTML report test. Safe to run again: it
# reinstalls only when tests/requirements.txt changes, and installs chromium
# only when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if ! command -v "$PYTHON" >/dev/null; then
  echo "setup-test-deps: $PYTHON not found; install Python 3.9+ (Debian: apt-get install python3 python3-venv)" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.requirements.sha256
want=$(sha256sum tests/requirements.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
  echo "$want" > "$stamp"
fi

# Debian's chromium (headless, for tests/report_html.rs) and systemd's
# systemd-analyze (tests/deploy.rs). Chromium is not pinned to an
# exact version: Debian's security archive replaces it in place, so an exact
# pin would stop installing at the next security update. The test needs any
# current release; its version is printed for the record.
need_apt=""
if [ ! -x /usr/bin/chromium ] && [ -z "${COSTGUARD_TEST_CHROMIUM:-}" ]; then need_apt="chromium"; fi
if ! command -v systemd-analyze >/dev/null; then need_apt="$need_apt systemd"; fi
if [ -n "$need_apt" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup-test-deps: missing Debian packages:$need_apt; install them (sudo apt-get install$need_apt)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $need_apt >/dev/null
fi
/usr/bin/chromium --version 2>/dev/null | head -1 || true
