#!/usr/bin/env bash
# Installs what the tests need beyond Rust: the pinned Python packages
# (scripts/setup-python.sh), and Debian's chromium (the HTML report test, in
# a headless browser) and systemd's systemd-analyze (the unit file test).
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-python.sh

# Chromium is not pinned to an exact version: Debian's security archive
# replaces it in place, so an exact pin would stop installing at the next
# security update. The test needs any current release; its version is
# printed for the record.
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
