#!/usr/bin/env bash
# A real dry-run sweep on a laptop with no AWS account: starts the moto
# emulator, seeds a small demo fleet over the AWS API, runs
# `costguard sweep --dry-run` with the shipped policies, prints the report.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-test-deps.sh
cargo build --quiet
exec .venv/bin/python scripts/demo.py "$@"
