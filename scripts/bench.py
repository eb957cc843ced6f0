"""Benchmark: seeds the emulator with N log groups or N SageMaker endpoints,
runs one dry-run sweep of the shipped policies with the release binary, and
prints wall time, the process's CPU time and peak memory, and AWS calls by
operation.

    scripts/bench.sh 10000              # log groups
    scripts/bench.sh 1000 endpoints     # endpoints, every other one busy
    scripts/bench.sh 1000 instances     # m5.2xlarge instances, every other one busy
    scripts/bench.sh 1000 gpu-instances # p4d.24xlarge (8 GPUs each, agent per-GPU series) at 3% CPU, every other one's GPUs busy
    scripts/bench.sh 1000 volumes       # unattached gp3 volumes, every other one old
    scripts/bench.sh 1000 buckets       # 20 GB buckets, every other one with a lifecycle rule
    scripts/bench.sh 1000 training-jobs # hour-long runs a day ago, every other one on spot
    scripts/bench.sh 1000 hyperpod-clusters # 2 x ml.g5.12xlarge + 1 x ml.c5.xlarge each, a month old
    scripts/bench.sh 1000 ecr-repositories  # three 1 GB images each, every other one with a lifecycle policy
    scripts/bench.sh 1000 aoss-collections  # a month old, every other one searched, every 10th behind a knowledge base
"""

import json
import sys
import tempfile
import time
from pathlib import Path

import emulator
import measure
from emulator import REGION, ROOT


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    kind = sys.argv[2] if len(sys.argv) > 2 else "log-groups"
    with emulator.running() as moto:
        t = time.time()
        if kind == "endpoints":
            moto.command(op="create_endpoints", region=REGION, prefix="bench-", count=count,
                         busy_every=2, days=30)
            print(f"seeded {count} endpoints in {time.time() - t:.1f}s (30 days old, every other one busy)")
        elif kind == "instances":
            moto.command_with_answer(op="create_instances", region=REGION, prefix="bench-", count=count, busy_every=2)
            print(f"seeded {count} m5.2xlarge instances in {time.time() - t:.1f}s (two weeks of CPU data; "
                  "every other one at 70% peak, the rest at 10%)")
        elif kind == "gpu-instances":
            moto.command_with_answer(op="create_instances", region=REGION, prefix="bench-", count=count, busy_every=2,
                                     instance_type="p4d.24xlarge", gpus=8)
            print(f"seeded {count} p4d.24xlarge instances in {time.time() - t:.1f}s (8 GPUs each with the agent's per-GPU "
                  "series, two weeks of data, 3% CPU; every other one's GPUs at 90%, the rest idle)")
        elif kind == "volumes":
            moto.command(op="create_volumes", region=REGION, count=count, old_every=2)
            print(f"seeded {count} unattached gp3 volumes in {time.time() - t:.1f}s (every other one 40 days old)")
        elif kind == "buckets":
            moto.command(op="create_buckets", region=REGION, count=count, lifecycle_every=2)
            print(f"seeded {count} 20 GB buckets in {time.time() - t:.1f}s (every other one with a lifecycle rule)")
        elif kind == "training-jobs":
            moto.command(op="create_training_jobs", region=REGION, count=count, spot_every=2)
            print(f"seeded {count} ml.p3.2xlarge training jobs in {time.time() - t:.1f}s (ended a day ago after an hour; every other one on spot)")
        elif kind == "hyperpod-clusters":
            moto.command(op="create_clusters", region=REGION, prefix="hp-", count=count, days=30)
            print(f"seeded {count} HyperPod clusters in {time.time() - t:.1f}s (2 x ml.g5.12xlarge + 1 x ml.c5.xlarge each, a month old)")
        elif kind == "ecr-repositories":
            moto.command(op="create_repositories", region=REGION, prefix="repo-", count=count, lifecycle_every=2)
            print(f"seeded {count} ECR repositories in {time.time() - t:.1f}s (three 1 GB images each, every other one with a lifecycle policy)")
        elif kind == "aoss-collections":
            moto.command(op="create_collections", region=REGION, prefix="vec-", count=count, busy_every=2, days=30)
            print(f"seeded {count} OpenSearch Serverless collections in {time.time() - t:.1f}s (a month old, every other one searched, "
                  "every 10th behind a knowledge base)")
        elif kind == "log-groups":
            moto.command(op="create_log_groups", region=REGION, prefix="/bench/group-",
                         count=count, retention_every=3, tag_every=2)
            print(f"seeded {count} log groups in {time.time() - t:.1f}s (1/3 with retention, 1/2 tagged)")
        else:
            sys.exit(f"bench: unknown fleet {kind!r} (log-groups, endpoints, instances, gpu-instances, volumes, buckets, training-jobs, hyperpod-clusters, ecr-repositories, aoss-collections)")

        report_dir = tempfile.mkdtemp(prefix="costguard-bench-")
        state_dir = tempfile.mkdtemp(prefix="costguard-bench-state-")
        measured = measure.run([str(ROOT / "target/release/costguard"), "sweep", "--dry-run", "--skip-guardrails", "--prices", "builtin",
                                  "--policies", str(ROOT / "policies"), "--report-dir", report_dir],
                               moto.env(COSTGUARD_LOG="warn", COSTGUARD_STATE_DIR=state_dir))
    code, wall = measured.code, measured.wall
    # 4: the shipped policy's circuit breaker tripped, a normal outcome here.
    if code not in (0, 4):
        sys.exit(f"bench: costguard exited {code}")
    report = json.loads(Path(report_dir, "report.json").read_text())
    print(f"{kind}:{' ' * max(1, 16 - len(kind) - 1)}{count}")
    print(f"findings:        {report['totals']['findings']}")
    print(f"wall time:       {wall:.2f} s (includes the emulator's own time)")
    print(f"costguard CPU:   {measured.cpu:.3f} s (user {measured.user:.3f} + system {measured.system:.3f})")
    print(f"peak memory:     {measured.maxrss_mib:.1f} MiB (max RSS)")
    own = report["process"]
    print(f"  as costguard measured itself at report time: CPU {own['cpu_seconds']} s, peak {own['peak_rss_mib']:.1f} MiB")
    print(f"AWS calls:       {report['totals']['api_calls']}")
    for op, n in report["api_calls"].items():
        print(f"  {op}: {n}")


if __name__ == "__main__":
    main()
