"""Starts moto, seeds a demo fleet, runs a dry-run sweep, prints where the
report is. Run through scripts/demo.sh, which installs what this needs."""

import subprocess
import sys

import boto3

import emulator
from emulator import REGION, ROOT


def seed(endpoint):
    logs = boto3.client("logs", endpoint_url=endpoint, region_name=REGION,
                        aws_access_key_id="demo", aws_secret_access_key="demo")
    fleet = [
        ("/aws/sagemaker/Endpoints/fraud-detector", None, {"team": "risk"}),
        ("/aws/sagemaker/NotebookInstances/sandbox", None, {"owner": "ana@example.com"}),
        ("/aws/lambda/feature-pipeline", None, {}),
        ("/aws/lambda/nightly-report", 14, {}),
        ("/ecs/training-jobs", 90, {"team": "ml"}),
        ("/audit/trail", None, {"costguard:protect": "compliance"}),
    ]
    for name, retention, tags in fleet:
        logs.create_log_group(logGroupName=name, tags=tags)
        if retention:
            logs.put_retention_policy(logGroupName=name, retentionInDays=retention)
    return len(fleet)


def main():
    report_dir = ROOT / "demo-report"
    with emulator.running() as moto:
        count = seed(moto.endpoint)
        print(f"demo: moto at {moto.endpoint}, {count} log groups seeded (3 never expire, 1 of those protected)")
        code = subprocess.call(
            [str(ROOT / "target/debug/costguard"), "sweep", "--dry-run", "--skip-guardrails",
             "--policies", str(ROOT / "policies"), "--report-dir", str(report_dir)],
            env=moto.env(),
        )
    print(f"\ndemo: the report is {report_dir / 'report.md'} (and report.json beside it)\n")
    print((report_dir / "report.md").read_text())
    sys.exit(code)


if __name__ == "__main__":
    main()
