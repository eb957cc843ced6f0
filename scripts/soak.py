"""Soak benchmark: the daemon's sweeps and spend-velocity checks, many of
them, on a simulated clock (`costguard soak`: a step is 5 simulated
minutes, a sweep every 12 steps, as a daemon with a 5-minute velocity
check and hourly sweeps runs), against the emulator, while its resident
memory, open file descriptors, threads and state database are sampled
from /proc. The state keeps one simulated day (`state-keep-days: 1`), so
pruning runs from the second simulated day on, as it would after 400
days. After warm-up none of the four may grow.

Usage: scripts/bench.sh soak [STEPS [MINUTES_PER_STEP [SWEEP_EVERY [KEEP_DAYS [FLEET]]]]]
(default 2000 5 12 1 full: about a week simulated). FLEET `small` (10 log
groups, 2 endpoints, 2 instances, 1 notebook) makes each sweep quick, for a
simulated year of hourly sweeps with the default retention:
`scripts/bench.sh soak 8760 60 1 400 small`.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import emulator
from emulator import REGION, ROOT

GUARDRAILS = """guardrails:
  email: [finops@example.com]
  budgets: []
  billing-alarms: {enabled: false}
  anomaly-detection: {enabled: false}
  spend: {enabled: false}
  spend-velocity:
    schedule: "0 */5 * * * *"
"""


def sample(pid, db):
    status = Path(f"/proc/{pid}/status").read_text()
    field = lambda name: next(int(l.split()[1]) for l in status.splitlines() if l.startswith(name + ":"))
    db_bytes = sum(p.stat().st_size for p in db.parent.glob(db.name + "*") if p.is_file())
    return {"rss_kib": field("VmRSS"), "threads": field("Threads"), "fds": len(os.listdir(f"/proc/{pid}/fd")), "db_bytes": db_bytes}


def main():
    arg = lambda i, default: int(sys.argv[i]) if len(sys.argv) > i else default
    steps, minutes, sweep_every, keep_days = arg(2, 2000), arg(3, 5), arg(4, 12), arg(5, 1)
    small = len(sys.argv) > 6 and sys.argv[6] == "small"
    groups, endpoints, instances, notebooks = (10, 2, 2, 1) if small else (300, 20, 20, 10)
    work = Path(tempfile.mkdtemp(prefix="costguard-soak-"))
    policies = work / "policies"
    policies.mkdir()
    for f in (ROOT / "policies").glob("*.yaml"):
        if f.name != "guardrails.yaml":
            shutil.copy(f, policies)
    (policies / "guardrails.yaml").write_text(GUARDRAILS)
    config = work / "costguard.yaml"
    config.write_text(f"policies: [{policies}]\nregions: [{REGION}]\nstate-dir: {work / 'state'}\nlisten: 127.0.0.1:0\n"
                      f"prices: builtin\nstate-keep-days: {keep_days}\n")
    db = work / "state" / "journal.sqlite"
    with emulator.running() as moto:
        moto.command(op="create_log_groups", region=REGION, prefix="/soak/group-", count=groups, retention_every=3, tag_every=2)
        moto.command(op="create_endpoints", region=REGION, prefix="soak-", count=endpoints, busy_every=2, days=30)
        moto.command_with_answer(op="create_instances", region=REGION, prefix="soak-", count=instances, busy_every=2)
        moto.command(op="create_notebooks", region=REGION, prefix="nb-", count=notebooks, days=10)
        print(f"fleet: {groups} log groups, {endpoints} endpoints, {instances} instances, {notebooks} notebooks; {steps} steps of {minutes} simulated minutes, "
              f"a sweep every {sweep_every}, state kept {keep_days} days")
        started = time.time()
        daemon = subprocess.Popen([str(ROOT / "target/release/costguard"), "soak", "--config", str(config), "--ticks", str(steps),
                                   "--tick-minutes", str(minutes), "--sweep-every", str(sweep_every)],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=moto.env(COSTGUARD_LOG="error"))
        address = daemon.stdout.readline().strip().removeprefix("listening on ")
        progress = {"step": 0, "simulated": ""}

        def follow():
            for line in daemon.stdout:
                progress.update(json.loads(line))

        threading.Thread(target=follow, daemon=True).start()
        samples = []
        while daemon.poll() is None:
            try:
                s = sample(daemon.pid, db)
                with urllib.request.urlopen(address + "/healthz", timeout=5) as answer:
                    s["healthz"] = answer.status
            except (OSError, StopIteration):
                break
            s.update(step=progress["step"], simulated=progress["simulated"], wall=round(time.time() - started, 1))
            samples.append(s)
            time.sleep(0.5)
        code = daemon.wait()
    if code != 0:
        sys.exit(f"soak: costguard exited {code}")
    (work / "samples.json").write_text(json.dumps(samples, indent=1))
    at = lambda fraction: min(samples, key=lambda s: abs(s["step"] - fraction * steps))
    print(f"{'step':>6} {'simulated':>22} {'RSS MiB':>8} {'fds':>4} {'threads':>7} {'db KiB':>7}")
    for f in (0.0, 0.1, 0.25, 0.5, 0.75, 1.0):
        s = at(f)
        print(f"{s['step']:>6} {s['simulated']:>22} {s['rss_kib'] / 1024:>8.1f} {s['fds']:>4} {s['threads']:>7} {s['db_bytes'] / 1024:>7.0f}")
    warm = [s for s in samples if s["step"] >= 0.25 * steps]
    for key in ("rss_kib", "fds", "threads", "db_bytes"):
        first, peak = warm[0][key], max(s[key] for s in warm)
        print(f"after warm-up (step {warm[0]['step']} on): {key} from {first} to at most {peak} ({(peak - first) / max(first, 1):+.1%})")
    print(f"health checks: {sum(1 for s in samples if s.get('healthz') == 200)} of {len(samples)} answered 200")
    print(f"wall: {time.time() - started:.0f} s; samples in {work / 'samples.json'}")


if __name__ == "__main__":
    main()
