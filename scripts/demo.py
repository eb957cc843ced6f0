"""The demo: an AI/ML account on the moto emulator, swept by costguard.

Starts the emulator and a local SMTP server, seeds a small fleet that
shows every headline finding (an idle endpoint and a busy one, an
over-provisioned and an idle EC2 instance, a notebook left running, log
groups that never expire, last month's spend), runs one dry-run sweep of
the shipped policies and guardrails with email on, and prints what
costguard found, priced. Run through scripts/demo.sh, which installs what
this needs (no root, no browser)."""

import json
import os
import shutil
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import boto3

import emulator
from emulator import REGION, ROOT

# tests/demo.rs runs this with its own binary and folder.
OUT = Path(os.environ.get("COSTGUARD_DEMO_OUT", ROOT / "demo-report"))
BINARY = os.environ.get("COSTGUARD_BIN", str(ROOT / "target/debug/costguard"))
TB = 1_000_000_000_000
GB = 1_000_000_000
ANA = "ana@acme.test"


def client(moto, service):
    return boto3.client(service, endpoint_url=moto.endpoint, region_name=REGION,
                        aws_access_key_id="demo", aws_secret_access_key="demo")


def seed_log_groups(moto):
    logs = client(moto, "logs")
    groups = [
        # name, retention, bytes stored, age in days, tags
        ("/aws/sagemaker/TrainingJobs", None, 6.4 * TB, 540, {"team": "ml"}),
        ("/aws/sagemaker/Endpoints/fraud-detector", None, 1.8 * TB, 420, {"team": "risk"}),
        ("/aws/lambda/feature-pipeline", None, 950 * GB, 300, {}),
        ("/aws/lambda/nightly-report", 14, 2 * GB, 200, {}),
        ("/audit/trail", None, 1.2 * TB, 700, {"costguard:protect": "compliance"}),
    ]
    for name, retention, stored, age, tags in groups:
        logs.create_log_group(logGroupName=name, tags=tags)
        if retention:
            logs.put_retention_policy(logGroupName=name, retentionInDays=retention)
        moto.command(op="store_bytes", region=REGION, name=name, bytes=int(stored))
        moto.command(op="backdate", service="logs", region=REGION, name=name, days=age)


def seed_endpoints(moto):
    sm, cw = client(moto, "sagemaker"), client(moto, "cloudwatch")
    endpoints = [
        # name, instance type, count, age in days, owner, busy, peak CPU (all cores of one instance)
        ("fraud-detector-v1", "ml.m5.xlarge", 1, 45, ANA, False, None),
        ("recommender-prod", "ml.c5.xlarge", 2, 120, "ml-platform@acme.test", True, 330.0),
        ("search-embeddings", "ml.m5.4xlarge", 2, 90, ANA, True, 120.0),
    ]
    now = emulator.utcnow()
    for name, itype, count, age, owner, busy, cpu in endpoints:
        sm.create_model(ModelName=f"{name}-model", ExecutionRoleArn="arn:aws:iam::123456789012:role/sagemaker",
                        PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/model:1"})
        sm.create_endpoint_config(EndpointConfigName=f"{name}-config", ProductionVariants=[{
            "VariantName": "AllTraffic", "ModelName": f"{name}-model", "InstanceType": itype, "InitialInstanceCount": count}])
        sm.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-config", Tags=[{"Key": "owner", "Value": owner}])
        moto.command(op="backdate", service="sagemaker", kind="endpoint", region=REGION, name=name, days=age)
        dims = [{"Name": "EndpointName", "Value": name}, {"Name": "VariantName", "Value": "AllTraffic"}]
        if busy:
            cw.put_metric_data(Namespace="AWS/SageMaker", MetricData=[
                {"MetricName": "Invocations", "Dimensions": dims, "Timestamp": now - timedelta(hours=h), "Value": 1800.0}
                for h in (2, 26, 50)])
        if cpu is not None:
            # Two weeks of one-minute samples per instance, as one pre-aggregated datum.
            samples = 14 * 1440.0 * count
            load = [("CPUUtilization", cpu), ("MemoryUtilization", 22.0)]
            cw.put_metric_data(Namespace="/aws/sagemaker/Endpoints", MetricData=[
                {"MetricName": metric, "Dimensions": dims, "Timestamp": now - timedelta(days=1), "Unit": "Percent",
                 "StatisticValues": {"SampleCount": samples, "Sum": samples * peak / 2, "Minimum": 0.0, "Maximum": peak}}
                for metric, peak in load])


def seed_instances(moto):
    return moto.command_with_answer(op="create_instances", region=REGION, instances=[
        # Two weeks of five-minute CPU samples (4032); memory from the CloudWatch agent.
        {"name": "etl-worker", "type": "m5.2xlarge", "cpu_max": 14.0, "memory": 21.0, "samples": 4032, "tags": {"owner": ANA}},
        {"name": "legacy-api", "type": "c5.xlarge", "cpu_max": 2.5, "samples": 4032, "tags": {"owner": "ops@acme.test"}},
        # No GPU metrics: never judged by its CPU.
        {"name": "render-gpu", "type": "g4dn.xlarge", "cpu_max": 35.0, "samples": 4032, "tags": {"owner": ANA}},
        # The CloudWatch agent's nvidia_gpu plugin: two weeks of one-minute
        # samples per GPU. A training box at 3% CPU whose four GPUs are busy,
        # and a one-GPU box nobody has used.
        {"name": "train-box", "type": "g5.12xlarge", "cpu_max": 3.0, "samples": 4032, "tags": {"owner": ANA},
         "gpus": [{"util": u, "memory_mib": 21000.0} for u in (93.0, 91.0, 95.0, 92.0)], "gpu_dims": {"name": "NVIDIA A10G"}},
        {"name": "idle-gpu", "type": "g5.2xlarge", "cpu_max": 1.5, "samples": 4032, "tags": {"owner": "ops@acme.test"},
         "gpus": [{"util": 0.0, "memory_mib": 250.0}]},
    ])


def seed_notebook(moto):
    sm = client(moto, "sagemaker")
    sm.create_notebook_instance(NotebookInstanceName="ana-sandbox", InstanceType="ml.t3.xlarge",
                                RoleArn="arn:aws:iam::123456789012:role/sagemaker", Tags=[{"Key": "owner", "Value": ANA}])
    moto.command(op="backdate", service="sagemaker", kind="notebook", region=REGION, name="ana-sandbox", days=12)


def seed_spend(moto):
    """What Cost Explorer answers for each day of this month and last, by
    service (moto serves what is posted); weekdays cost more than weekends."""
    today = date.today()
    this = today.replace(day=1)
    last = (this - timedelta(days=1)).replace(day=1)
    services = {"Amazon SageMaker": 2950, "AmazonCloudWatch": 610, "Amazon Elastic Compute Cloud - Compute": 1420,
                "Amazon Simple Storage Service": 380, "AWS Data Transfer": 95}

    def group(service, usd):
        return {"Keys": [service], "Metrics": {"UnblendedCost": {"Amount": f"{usd:.4f}", "Unit": "USD"}}}

    def days(start, end, estimated, scale):
        """A month's spend (scale x the services' figures) spread over its days."""
        dates = [start + timedelta(days=i) for i in range((end - start).days)]
        weights = [1.15 if d.weekday() < 5 else 0.6 for d in dates]
        out = []
        for d, w in zip(dates, weights):
            share = w / sum(weights)
            out.append({"TimePeriod": {"Start": d.isoformat(), "End": (d + timedelta(days=1)).isoformat()}, "Total": {},
                        "Estimated": estimated, "Groups": [group(s, usd * scale * share) for s, usd in services.items()]})
        return out

    elapsed = (today - this).days + 1
    body = {"results": [{"ResultsByTime": days(last, this, False, 1.0) + days(this, today + timedelta(days=1), True, elapsed / 30 * 1.18)}]}
    emulator.post(moto, "/moto-api/static/ce/cost-and-usage-results", body)


def setup(sink_port):
    """The shipped policies and guardrails, and a config that emails through the local sink."""
    folder = OUT / "setup"
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "policies").mkdir(parents=True)
    for policy in (ROOT / "policies").glob("*.yaml"):
        text = policy.read_text()
        if policy.name == "guardrails.yaml":
            # moto has no Cost Anomaly Detection; alerts go to the demo's own domain.
            text = text.replace("finops@example.com", "finops@acme.test")
            text = text.replace("anomaly-detection:\n    enabled: true", "anomaly-detection:\n    enabled: false")
        (folder / "policies" / policy.name).write_text(text)
    (folder / "costguard.yaml").write_text(
        "email:\n"
        "  from: costguard@acme.test\n"
        "  to: [finops@acme.test]\n"
        "  transport: smtp\n"
        f"  smtp: {{host: 127.0.0.1, port: {sink_port}, security: none}}\n")
    return folder


def shown(path):
    """A path as the person sees it: relative to the repository when inside it."""
    try:
        return str(Path(path).relative_to(ROOT))
    except ValueError:
        return str(path)


def usd(v):
    return "unknown" if v is None else f"${v:,.2f}"


def advice(finding):
    """`m5.2xlarge -> m5.xlarge (peak CPU 14%, memory 21%)` from a rightsizing recommendation."""
    part = finding["recommendation"]["parts"][0]
    to = "stop" if part.get("recommended_count") == 0 else part.get("recommended_type") or "?"
    counts = lambda n: f"{n} x " if n and n > 1 else ""
    memory = part.get("memory_peak_pct")
    peaks = f"peak CPU {part['cpu_peak_pct']:.0f}%" + (f", memory {memory:.0f}%" if memory is not None else "")
    return f"{counts(part['current_count'])}{part['current_type']} -> {counts(part.get('recommended_count'))}{to} ({peaks})"


def show(report, messages, names):
    findings = report["findings"]
    by_policy = {}
    for f in findings:
        by_policy.setdefault(f["policy"], []).append(f)
    print("\ncostguard found (a dry run: nothing was changed, on the emulator or anywhere)\n")

    def line(what, name, money, note=""):
        print(f"  {what:<28} {name:<40} {money:>14}  {note}")

    for f in by_policy.get("sagemaker-idle-endpoints", []):
        line("Idle SageMaker endpoint", f["resource_id"], usd(f["monthly_cost_usd"]) + "/mo", f.get("detail") or "")
    print(f"  {'Busy SageMaker endpoint':<28} {'recommender-prod':<40} {'left alone':>14}  served requests in the last 14 days")
    named = lambda f: f"{names[f['resource_id']]} ({f['resource_id']})" if f["resource_id"] in names else f["resource_id"]
    for policy in ("sagemaker-endpoints-over-provisioned", "ec2-over-provisioned"):
        for f in by_policy.get(policy, []):
            what = "Over-provisioned endpoint" if policy.startswith("sagemaker") else "Over-provisioned EC2"
            line(what, named(f), "saves " + usd(f["monthly_saving_usd"]) + "/mo", advice(f))
    for f in by_policy.get("ec2-idle", []):
        line("Idle EC2 instance", named(f), usd(f["monthly_cost_usd"]) + "/mo", advice(f))
    for f in by_policy.get("ec2-gpu-idle", []):
        line("Idle GPU instance", named(f), usd(f["monthly_cost_usd"]) + "/mo", f["recommendation"]["summary"])
    ids = {name: iid for iid, name in names.items()}
    flagged = {f["resource_id"] for f in findings} | {n["resource_id"] for n in report["not_judged"]}
    if "train-box" in ids and ids["train-box"] not in flagged:
        line("Busy GPU box at 3% CPU", named({"resource_id": ids["train-box"]}), "left alone", "judged by its GPUs, not its CPU")
    for n in report["not_judged"]:
        line("Not judged", named(n), usd(n["monthly_cost_usd"]) + "/mo", n["reason"])
    for f in by_policy.get("sagemaker-notebooks-left-running", []):
        line("Notebook left running", f["resource_id"], usd(f["monthly_cost_usd"]) + "/mo", f["cost_basis"] or "")
    logs = by_policy.get("log-groups-never-expire", [])
    planned = [f for f in logs if f["status"] == "planned"]
    saving = sum(f["monthly_saving_usd"] or 0 for f in planned)
    skipped = [f["resource_id"] for f in logs if f["status"] == "skipped"]
    line("Log groups never expire", f"{len(planned)} would get 30 days' retention", "saves " + usd(saving) + "/mo",
         f"skipped (protected): {', '.join(skipped)}" if skipped else "")
    budgets = [g for g in report["guardrails"] if g["kind"] == "budget"]
    alarms = [g for g in report["guardrails"] if g["kind"] == "billing-alarm"]
    line("Budgets (would create)", ", ".join(g["name"].rsplit("-", 1)[-1] for g in budgets if g["change"] == "create"), "USD/month",
         "email alerts at 100% actual and forecast")
    line("Billing alarms (would create)", f"{sum(a['change'] == 'create' for a in alarms)} on EstimatedCharges", "", "")
    spend = report.get("spend")
    if spend:
        change = spend.get("month_over_month_change_pct")
        line("Spend this month", "to date / forecast", f"{usd(spend['month_to_date_usd'])}",
             f"forecast {usd(spend.get('forecast_month_usd'))}" + (f", {change:+.0f}% on last month" if change is not None else ""))
    t = report["totals"]
    split = t["saving_usd"]
    print(f"\n  In all: {t['findings']} findings; a month: {usd(split['will_change'])} will change, {usd(split['needs_decision'])} needs a"
          f" decision, {usd(split['left_alone'])} left alone; {t['api_calls']} AWS calls; {t['not_judged']} not judged"
          f" ({usd(t['not_judged_monthly_cost_usd'])}/month).")
    first = report.get("act_first") or []
    if first:
        print("  Act first: " + "; ".join(f"{a['resource_id']} {usd(a['monthly_saving_usd'])}" for a in first[:3]))
    for m in messages:
        print(f"  Email to {', '.join(m['rcpt_tos'])}: \"{m['subject']}\" -> {shown(m['file'])}")


def main():
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir()
    with emulator.running() as moto, emulator.smtp_sink() as sink:
        print(f"demo: moto at {moto.endpoint}, an SMTP server at 127.0.0.1:{sink.port}; seeding an AI/ML account...")
        seed_log_groups(moto)
        seed_endpoints(moto)
        instances = seed_instances(moto)
        seed_notebook(moto)
        seed_spend(moto)
        folder = setup(sink.port)
        command = [BINARY, "sweep", "--dry-run",
                   "--policies", str(folder / "policies"), "--config", str(folder / "costguard.yaml"),
                   "--report-dir", str(OUT), "--state-dir", str(OUT / "state"), "--region", REGION, "--prices", "builtin"]
        print("demo: " + " ".join(shown(c) for c in command) + "\n")
        code = subprocess.call(command, env=moto.env(COSTGUARD_LOG="warn"))
        messages = sink.command_with_answer(op="messages")
    for i, m in enumerate(messages):
        m["file"] = OUT / f"digest-{i + 1}-{m['rcpt_tos'][0]}.eml"
        m["file"].write_text(m["raw"])
    report = json.loads((OUT / "report.json").read_text())
    show(report, messages, {iid: name for name, iid in instances.items()})
    print(f"\nThe reports: {shown(OUT / 'report.md')} and {shown(OUT / 'report.html')} "
          f"(open it in a browser); the email as .eml files beside them.")
    sys.exit(code)


if __name__ == "__main__":
    main()
