#!/usr/bin/env bash
# The test command: installs the pinned test dependencies, then runs every
# test (unit, property, CLI and emulator integration tests) with cargo.
# Every test binary runs even when one fails; the last line sums them up.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-test-deps.sh

log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --all-targets --no-fail-fast "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e

# libtest prints one "test result:" line per test binary.
read -r passed failed ignored binaries < <(awk '/^test result:/ {p += $4; f += $6; i += $8; b += 1} END {print p+0, f+0, i+0, b+0}' "$log")
failing=$(awk '/^error: [0-9]+ targets? failed:/ {on = 1; next} on && /^ +`/ {gsub(/`/, ""); sub(/^ +/, ""); printf "%s%s", sep, $0; sep = ", "; next} {on = 0}' "$log")
if [ "$status" -ne 0 ] && [ "$binaries" -eq 0 ]; then
  echo "scripts/test.sh: FAILED: the tests did not build (see the errors above)" >&2
elif [ "$status" -eq 0 ]; then
  echo "scripts/test.sh: PASSED: $passed tests passed, $ignored ignored, in $binaries test binaries"
else
  echo "scripts/test.sh: FAILED: $passed passed, $failed failed, $ignored ignored, in $binaries test binaries${failing:+; failing: $failing}" >&2
fi
exit "$status"
