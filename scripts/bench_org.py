"""Benchmark of an organization's sweep: N member accounts (default 100),
each with, in 2 regions, 50 log groups, 5 SageMaker endpoints and 5 EC2
instances, seeded on the emulator through each account's own credentials;
one dry-run `sweep --organization` of the shipped policies with the release
binary (16 accounts at a time), every AWS call held 30 ms by a proxy (the
round trip AWS adds; `--latency-ms 0` for none). Prints wall time, the
process's CPU time and peak memory, and AWS calls.

    scripts/bench.sh org 100
    scripts/bench.sh org 1000 --latency-ms 30 --max-accounts 16

The emulator gets one AMI (MOTO_AMIS_PATH) instead of moto's few hundred
per region: moto builds them for every account and region the first time
it is asked, 0.8 s of the 0.9 s an account's instances took to seed
(measured), and costguard lists no AMIs.
"""

import argparse
import gzip
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import boto3

import emulator
import measure
from emulator import ROOT

REGIONS = ["us-east-1", "us-west-2"]


def one_ami():
    """A file of one of moto's own AMIs (a Linux one), for MOTO_AMIS_PATH."""
    import moto
    amis = json.loads(gzip.open(Path(moto.__file__).parent / "ec2/resources/amis.json.gz").read())
    path = Path(tempfile.mkdtemp(prefix="costguard-bench-ami-")) / "amis.json"
    path.write_text(json.dumps([next(a for a in amis if a.get("platform") != "windows")]))
    return str(path)


def main():
    args = argparse.ArgumentParser(prog="scripts/bench.sh org")
    args.add_argument("accounts", nargs="?", type=int, default=100)
    args.add_argument("--latency-ms", type=float, default=30.0)
    args.add_argument("--max-accounts", type=int, default=16)
    args.add_argument("--binary", type=Path, default=ROOT / "target/release/costguard",
                      help="the costguard to run (a debug build, a build with symbols)")
    opts = args.parse_args(sys.argv[2:])
    accounts = opts.accounts
    # Read by the emulator (a child process) when it starts.
    os.environ["MOTO_AMIS_PATH"] = one_ami()
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
        env = moto.env(COSTGUARD_LOG="warn", COSTGUARD_STATE_DIR=state_dir)
        if opts.latency_ms > 0:
            delay = emulator.Delay(moto.port, opts.latency_ms)
            env["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{delay.port}"
        measured = measure.run([str(opts.binary), "sweep", "--dry-run", "--organization", "--skip-guardrails",
                                  "--prices", "builtin", "--policies", str(ROOT / "policies"), "--report-dir", report_dir,
                                  "--region", REGIONS[0], "--region", REGIONS[1], "--max-accounts", str(opts.max_accounts)],
                               env)
    code, wall = measured.code, measured.wall
    report = json.loads(Path(report_dir, "report.json").read_text())
    t = report["totals"]
    print(f"{os.cpu_count()} cores, {opts.latency_ms:g} ms added to every AWS call, {opts.max_accounts} accounts at a time")
    print(f"accounts:        {t['accounts']} ({t['accounts_failed']} failed), exit {code}")
    print(f"findings:        {t['findings']}")
    print(f"wall time:       {wall:.2f} s (includes the emulator's own time)")
    print(f"costguard CPU:   {measured.cpu:.3f} s (user {measured.user:.3f} + system {measured.system:.3f})")
    print(f"peak memory:     {measured.maxrss_mib:.1f} MiB (max RSS)")
    print(f"AWS calls:       {t['api_calls']} ({t['api_calls'] / max(t['accounts'], 1):.1f} per account)")
    print(f"wall per account: {wall / max(t['accounts'], 1) * 1000:.0f} ms at {opts.max_accounts} at a time")
    for op, n in sorted(report["api_calls"].items()):
        print(f"  {op}: {n}")


if __name__ == "__main__":
    main()
