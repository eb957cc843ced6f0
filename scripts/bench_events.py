"""Benchmark of creation events: the daemon (`costguard run`, release
binary) reads its events queue while a burst of N CloudTrail-shaped
CreateEndpoint events is put on EventBridge's default bus (moto delivers
them to the queue through the rule, as AWS does); each event's endpoint
exists. Prints, over the burst, the time from an event entering the queue
(its PutEvents answered) to its email reaching the SMTP server, p50 and
p99, the wall time of the whole burst, and the AWS calls per event.

    scripts/bench.sh events 1000
"""

import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import emulator
from emulator import REGION, ROOT


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def record(i, name):
    return {"eventID": f"bench-{i}", "eventSource": "sagemaker.amazonaws.com", "eventName": "CreateEndpoint", "awsRegion": REGION,
            "recipientAccountId": "123456789012",
            "userIdentity": {"type": "AssumedRole", "arn": f"arn:aws:sts::123456789012:assumed-role/Dev/user{i % 50}@example.com"},
            "requestParameters": {"endpointName": name}}


def metrics(address):
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as r:
        return r.read().decode()


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    with emulator.running() as moto, emulator.smtp_sink() as sink:
        t = time.time()
        moto.command(op="create_endpoints", region=REGION, prefix="bench-", count=count, days=0)
        queues = moto.command_with_answer(op="events_queue", region=REGION, name="bench-events", max_receives=5)
        print(f"seeded {count} endpoints and the events queue in {time.time() - t:.1f}s")
        work = Path(tempfile.mkdtemp(prefix="costguard-bench-events-"))
        (work / "none.yaml").write_text("policies: []\n")
        (work / "costguard.yaml").write_text(
            f"policies: [{work / 'none.yaml'}]\nregions: [{REGION}]\nstate-dir: {work / 'state'}\nreport-dir: {work / 'report'}\n"
            "listen: 127.0.0.1:0\nschedule: \"0 0 0 1 1 *\"\nprices: builtin\n"
            f"email:\n  from: costguard@example.com\n  smtp: {{host: 127.0.0.1, port: {sink.port}, security: none}}\n"
            f"events:\n  queue: {queues['queue']}\n  max-in-flight: 10\n")
        daemon = subprocess.Popen([str(ROOT / "target/release/costguard"), "run", "--config", str(work / "costguard.yaml")],
                                  env=moto.env(COSTGUARD_LOG="warn"), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            address = daemon.stdout.readline().strip().removeprefix("listening on http://")
            names = [f"bench-{i:05d}" for i in range(count)]
            entered = {}
            burst = time.time()
            for start in range(0, count, 10):
                chunk = list(range(start, min(count, start + 10)))
                moto.command(op="put_events", region=REGION,
                             events=[{"source": "aws.sagemaker", "detail": record(i, names[i])} for i in chunk])
                now = time.time()
                for i in chunk:
                    entered[names[i]] = now
            put_done = time.time() - burst
            deadline = time.time() + 600
            while True:
                told = sink.command_with_answer(op="messages")
                if len(told) >= count or time.time() > deadline:
                    break
                time.sleep(1)
            latencies = []
            for m in told:
                name = next((n for n in m["subject"].split() if n.startswith("bench-")), None)
                if name in entered:
                    latencies.append(m["received_at"] - entered[name])
            scrape = metrics(address)
        finally:
            daemon.terminate()
            daemon.wait(timeout=60)
    calls = {}
    for line in scrape.splitlines():
        if line.startswith("costguard_api_calls_total{"):
            op = line.split('"')[1]
            calls[op] = float(line.rsplit(" ", 1)[1])
    print(f"events:          {count} (burst put in {put_done:.1f} s, 10 per PutEvents)")
    print(f"told:            {len(latencies)}")
    if latencies:
        print(f"queue to email:  p50 {percentile(latencies, 50):.2f} s, p99 {percentile(latencies, 99):.2f} s, max {max(latencies):.2f} s")
        print(f"burst wall time: {max(m['received_at'] for m in told) - burst:.1f} s from the first put to the last email")
    total = sum(calls.values())
    print(f"AWS calls:       {total:.0f} ({total / max(1, count):.2f} per event)")
    for op, n in sorted(calls.items()):
        print(f"  {op}: {n:.0f}")


if __name__ == "__main__":
    main()
