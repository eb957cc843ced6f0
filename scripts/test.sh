#!/usr/bin/env bash
# The test command: installs the pinned test dependencies, then runs every
# test (unit, property, CLI and emulator integration tests) with cargo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-test-deps.sh
cargo test --all-targets "$@"
