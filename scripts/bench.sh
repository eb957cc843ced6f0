#!/usr/bin/env bash
# Benchmark of a sweep over N log groups (default 10000) or, with a second
# argument `endpoints`, `instances`, `gpu-instances`, `volumes`, `buckets`,
# `training-jobs`, `hyperpod-clusters`, `ecr-repositories` or `aoss-collections`, N of those;
# see scripts/bench.py. `scripts/bench.sh mixed
# [--peer custodian]` is the mixed AI/ML estate with 30 ms per call, side by
# side with Cloud Custodian; see scripts/bench_mixed.py. `scripts/bench.sh org
# [N]` is an organization of N accounts (default 100); see scripts/bench_org.py.
# `scripts/bench.sh events [N]` is a burst of N creation events through
# EventBridge and the queue to the daemon's emails; see scripts/bench_events.py.
# `scripts/bench.sh soak [STEPS]` is the daemon's long life on a simulated
# clock, its memory, descriptors, threads and database sampled; see scripts/soak.py.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-python.sh
cargo build --release
if [ "${1:-}" = mixed ]; then
  exec .venv/bin/python scripts/bench_mixed.py "$@"
fi
if [ "${1:-}" = soak ]; then
  exec .venv/bin/python scripts/soak.py "$@"
fi
if [ "${1:-}" = events ]; then
  exec .venv/bin/python scripts/bench_events.py "${2:-1000}"
fi
if [ "${1:-}" = org ]; then
  exec .venv/bin/python scripts/bench_org.py "$@"
fi
exec .venv/bin/python scripts/bench.py "${1:-10000}" "${2:-log-groups}"
