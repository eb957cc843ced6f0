#!/usr/bin/env bash
# Benchmark of a sweep over N log groups (default 10000) or, with a second
# argument `endpoints`, `instances`, `volumes`, `buckets` or
# `training-jobs`, N of those; see scripts/bench.py.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-python.sh
cargo build --release
exec .venv/bin/python scripts/bench.py "${1:-10000}" "${2:-log-groups}"
