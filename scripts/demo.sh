#!/usr/bin/env bash
# The demo, on a laptop with no AWS account: starts the moto emulator and a
# local SMTP server, seeds a small AI/ML account, runs one dry-run sweep of
# the shipped policies and guardrails with email, and shows what costguard
# found, priced. Needs no root and no browser: Rust, and Python 3 with venv.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-python.sh
if [ ! -x target/debug/costguard ]; then
  echo "demo: building costguard (the first build compiles the AWS SDK: about 6.5 minutes on 2 cores, as the README says)" >&2
fi
cargo build
exec .venv/bin/python scripts/demo.py "$@"
