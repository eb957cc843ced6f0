"""Starts moto, seeds a demo fleet, runs a dry-run sweep, prints where the
report is. Run through scripts/demo.sh, which installs what this needs."""

import os
import subprocess
import sys
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"


def start_moto():
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "tests/support/moto_server.py"), "0"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    line = server.stdout.readline().strip()
    if not line.startswith("ready "):
        sys.exit(f"demo: the moto server did not start ({line!r})")
    return server, f"http://127.0.0.1:{line.split()[1]}"


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
    server, endpoint = start_moto()
    try:
        count = seed(endpoint)
        print(f"demo: moto at {endpoint}, {count} log groups seeded (3 never expire, 1 of those protected)")
        env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, AWS_REGION=REGION,
                   AWS_ACCESS_KEY_ID="demo", AWS_SECRET_ACCESS_KEY="demo",
                   AWS_EC2_METADATA_DISABLED="true")
        code = subprocess.call(
            [str(ROOT / "target/debug/costguard"), "sweep", "--dry-run",
             "--policies", str(ROOT / "policies"), "--report-dir", str(report_dir)],
            env=env,
        )
        print(f"\ndemo: the report is {report_dir / 'report.md'} (and report.json beside it)\n")
        print((report_dir / "report.md").read_text())
        sys.exit(code)
    finally:
        server.stdin.close()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
