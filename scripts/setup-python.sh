#!/usr/bin/env bash
# Installs the pinned Python packages (the moto AWS emulator, the aiosmtpd
# SMTP sink, and what they need; tests/requirements.txt) into .venv. No root
# needed. Used by the demo, the benchmark and the tests. Safe to run again:
# it reinstalls only when tests/requirements.txt changes.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if ! command -v "$PYTHON" >/dev/null; then
  echo "setup: $PYTHON not found; install Python 3.9+ (Debian: apt-get install python3 python3-venv)" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.requirements.sha256
want=$(sha256sum tests/requirements.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing the pinned emulator and SMTP sink into .venv (once)" >&2
  .venv/bin/python -m pip install --quiet --no-cache-dir --disable-pip-version-check -r tests/requirements.txt
  echo "$want" > "$stamp"
fi

# Cloud Custodian's offhours parser for the differential test of its tags:
# without its own pins (they are not moto's), beside .venv's packages.
stamp=.venv/custodian/.requirements.sha256
want=$(sha256sum tests/custodian-requirements.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing Cloud Custodian's pinned parser into .venv/custodian (once)" >&2
  rm -rf .venv/custodian
  .venv/bin/python -m pip install --quiet --no-cache-dir --disable-pip-version-check --no-deps --target .venv/custodian -r tests/custodian-requirements.txt
  echo "$want" > "$stamp"
fi

# `--bench-peer`: Cloud Custodian, pinned, for `scripts/bench.sh mixed --peer
# custodian`, in its own .venv-bench (its boto3 pins are not moto's).
if [ "${1:-}" = --bench-peer ]; then
  if [ ! -x .venv-bench/bin/python ]; then
    "$PYTHON" -m venv .venv-bench
  fi
  stamp=.venv-bench/.requirements.sha256
  want=$(sha256sum scripts/bench-peer-requirements.txt | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "setup: installing the pinned Cloud Custodian into .venv-bench (once)" >&2
    .venv-bench/bin/python -m pip install --quiet --no-cache-dir --disable-pip-version-check -r scripts/bench-peer-requirements.txt
    echo "$want" > "$stamp"
  fi
fi
