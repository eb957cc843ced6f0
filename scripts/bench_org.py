"""Benchmark of an organization's sweep: N member accounts (default 100),
each with, in 2 regions, 50 log groups, 5 SageMaker endpoints and 5 EC2
instances, seeded on the emulator through each account's own credentials;
one dry-run `sweep --organization` of the shipped policies with the release
binary (16 accounts at a time). Prints wall time, the process's CPU time and
peak memory, and AWS calls.

    scripts/bench.sh org 100
    scripts/bench.sh org 10
"""

import json
import sys
import tempfile
import time
from pathlib import Path

import boto3

import emulator
import measure
from emulator import ROOT

REGIONS = ["us-east-1", "us-west-2"]


def main():
    accounts = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    with emulator.running() as moto:
        t = time.time()
        kw = dict(region_name="us-east-1", endpoint_url=moto.endpoint, aws_access_key_id="testing", aws_secret_access_key="testing")
        org = boto3.client("organizations", **kw)
        org.create_organization(FeatureSet="ALL")
        ids = [org.create_account(AccountName=f"team-{i:03d}", Email=f"team-{i:03d}@example.com")["CreateAccountStatus"]["AccountId"]
               for i in range(accounts)]
        for account in ids:
            for region in REGIONS:
                moto.command(op="create_log_groups", account=account, region=region, prefix="/bench/group-",
                             count=50, retention_every=3, tag_every=2)
                moto.command(op="create_endpoints", account=account, region=region, prefix="bench-", count=5,
                             busy_every=2, days=30)
                moto.command_with_answer(op="create_instances", account=account, region=region, prefix="bench-",
                                         count=5, busy_every=2)
        print(f"seeded {accounts} accounts x {len(REGIONS)} regions x (50 log groups, 5 endpoints, 5 instances) "
              f"in {time.time() - t:.1f}s")

        report_dir = tempfile.mkdtemp(prefix="costguard-bench-org-")
        state_dir = tempfile.mkdtemp(prefix="costguard-bench-org-state-")
        measured = measure.run([str(ROOT / "target/release/costguard"), "sweep", "--dry-run", "--organization", "--skip-guardrails",
                                  "--prices", "builtin", "--policies", str(ROOT / "policies"), "--report-dir", report_dir,
                                  "--region", REGIONS[0], "--region", REGIONS[1]],
                               moto.env(COSTGUARD_LOG="warn", COSTGUARD_STATE_DIR=state_dir))
    code, wall = measured.code, measured.wall
    report = json.loads(Path(report_dir, "report.json").read_text())
    t = report["totals"]
    print(f"accounts:        {t['accounts']} ({t['accounts_failed']} failed), exit {code}")
    print(f"findings:        {t['findings']}")
    print(f"wall time:       {wall:.2f} s (includes the emulator's own time)")
    print(f"costguard CPU:   {measured.cpu:.3f} s (user {measured.user:.3f} + system {measured.system:.3f})")
    print(f"peak memory:     {measured.maxrss_mib:.1f} MiB (max RSS)")
    print(f"AWS calls:       {t['api_calls']}")
    for op, n in sorted(report["api_calls"].items()):
        print(f"  {op}: {n}")


if __name__ == "__main__":
    main()
