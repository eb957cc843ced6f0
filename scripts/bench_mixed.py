"""The mixed-estate benchmark (issue 18): an AI/ML account of the given
size on the emulator, every AWS call delayed as a real round trip would
delay it, one dry run of every shipped policy, one of the two jobs Cloud
Custodian can also express (log retention, EC2 low CPU), and with
`--peer custodian` Cloud Custodian itself doing those two jobs on the same
emulator. Prints wall time, CPU, peak memory and AWS calls side by side.

    scripts/bench.sh mixed                       # 10,000 log groups, 1,000 endpoints,
                                                 # 1,000 instances, 20 notebooks, 30 ms
    scripts/bench.sh mixed --log-groups 20000 --latency-ms 0
    scripts/bench.sh mixed --peer custodian
    scripts/bench.sh mixed --smaps               # where the whole set's peak memory is
    scripts/bench.sh mixed --only all --wrap "perf record -g -o /tmp/perf.data" \
        --binary target/profiling/costguard      # a profile of the whole set
"""

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import emulator
import measure
from emulator import REGION, ROOT

CUSTODIAN_POLICIES = """\
policies:
  - name: log-groups-never-expire
    resource: log-group
    filters:
      - retentionInDays: absent
    actions:
      - type: retention
        days: 30
  - name: ec2-low-cpu
    resource: ec2
    filters:
      - "State.Name": running
      - type: metrics
        name: CPUUtilization
        statistics: Maximum
        days: 14
        value: 20
        op: less-than
    actions:
      - type: mark-for-op
        op: stop
        days: 7
"""

# The same two jobs in costguard's policy language.
COSTGUARD_TWO_JOBS = """\
policies:
  - name: log-groups-never-expire
    resource: log-group
    filters:
      - type: value
        key: retentionInDays
        value: absent
    actions:
      - type: set-retention
        days: 30
  - name: ec2-low-cpu
    resource: ec2-instance
    filters:
      - type: value
        key: State.Name
        value: running
      # costguard refuses to stop on CPU alone what may be a GPU box
      # (a busy GPU at 3% CPU); the bench's instances are m5.
      - type: value
        key: Accelerated
        value: false
      - type: metrics
        name: CPUUtilization
        statistic: Maximum
        days: 14
        value: 20
        op: lt
    actions:
      - type: mark
        days: 7
      - stop
"""


def smaps(pid):
    """Resident KiB per mapping ([heap], the binary, a library, [anon]) now."""
    resident = {}
    name = None
    try:
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                fields = line.split()
                if fields and "-" in fields[0] and not fields[0].endswith(":"):
                    name = fields[5] if len(fields) > 5 else "[anon]"
                elif fields and fields[0] == "Rss:":
                    resident[name] = resident.get(name, 0) + int(fields[1])
    except OSError:
        pass
    return resident


PEAK_MAPPINGS = {}


def sample_smaps(pid):
    """Keeps in PEAK_MAPPINGS where the process's resident memory is, if
    that is more than at the last peak."""
    now = smaps(pid)
    if sum(now.values()) > sum(PEAK_MAPPINGS.values()):
        PEAK_MAPPINGS.clear()
        PEAK_MAPPINGS.update(now)


def costguard(moto_env, policies, label, opts, sample=False):
    report_dir = tempfile.mkdtemp(prefix="costguard-bench-")
    state_dir = tempfile.mkdtemp(prefix="costguard-bench-state-")
    run = measure.run(
        shlex.split(opts.wrap or "") + [str(opts.binary), "sweep", "--dry-run", "--skip-guardrails", "--prices", "builtin",
         "--policies", str(policies), "--report-dir", report_dir],
        dict(moto_env, COSTGUARD_LOG="warn", COSTGUARD_STATE_DIR=state_dir), sample_smaps if sample else None)
    # 4: a shipped circuit breaker tripped, a normal outcome on this estate.
    if run.code not in (0, 3, 4):
        sys.exit(f"bench: costguard exited {run.code}: {run.stderr[-2000:]}")
    report = json.loads(Path(report_dir, "report.json").read_text())
    return {"label": label, "wall": run.wall, "cpu": run.cpu, "rss": run.maxrss_mib, "calls": report["totals"]["api_calls"],
            "findings": report["totals"]["findings"], "by_op": report["api_calls"]}


def custodian(moto_env):
    venv = ROOT / ".venv-bench"
    subprocess.run([str(ROOT / "scripts/setup-python.sh"), "--bench-peer"], check=True)
    work = Path(tempfile.mkdtemp(prefix="custodian-bench-"))
    (work / "policies.yaml").write_text(CUSTODIAN_POLICIES)
    run = measure.run(
        # No resource cache: by default Custodian reuses what it listed in the
        # last 15 minutes (from another emulator, or another estate).
        [str(venv / "bin/custodian"), "run", "--dryrun", "--cache-period", "0", "-s", str(work / "out"), "--region", REGION,
         str(work / "policies.yaml")],
        dict(moto_env, AWS_DEFAULT_REGION=REGION))
    if run.code != 0:
        sys.exit(f"bench: custodian exited {run.code}: {run.stderr[-2000:]}")
    found = {}
    for policy in ("log-groups-never-expire", "ec2-low-cpu"):
        found[policy] = len(json.loads((work / "out" / policy / "resources.json").read_text()))
    return {"label": "Cloud Custodian 0.9.53, the two jobs", "wall": run.wall, "cpu": run.cpu, "rss": run.maxrss_mib, "calls": None,
            "findings": sum(found.values()), "by_op": {}}


def main():
    args = argparse.ArgumentParser(prog="scripts/bench.sh mixed")
    args.add_argument("--log-groups", type=int, default=10000)
    args.add_argument("--endpoints", type=int, default=1000)
    args.add_argument("--instances", type=int, default=1000)
    args.add_argument("--notebooks", type=int, default=20)
    args.add_argument("--latency-ms", type=float, default=30.0)
    args.add_argument("--peer", choices=["custodian"])
    args.add_argument("--smaps", action="store_true", help="where the whole set's peak memory is, by mapping")
    args.add_argument("--only", choices=["two", "all"], help="run costguard on the two jobs or on every shipped policy only")
    args.add_argument("--binary", type=Path, default=ROOT / "target/release/costguard",
                      help="the costguard to run (a build with symbols, to profile)")
    args.add_argument("--wrap", help="a command to run costguard under (perf record, heaptrack); "
                      "its figures are then the wrapper's")
    opts = args.parse_args(sys.argv[2:])

    with emulator.running() as moto:
        t = time.time()
        moto.command(op="create_log_groups", region=REGION, prefix="/bench/group-", count=opts.log_groups,
                     retention_every=3, tag_every=2)
        if opts.endpoints:
            moto.command(op="create_endpoints", region=REGION, prefix="bench-", count=opts.endpoints, busy_every=2, days=30)
        if opts.instances:
            moto.command_with_answer(op="create_instances", region=REGION, prefix="bench-", count=opts.instances, busy_every=2, days=30)
        if opts.notebooks:
            moto.command(op="create_notebooks", region=REGION, prefix="bench-nb-", count=opts.notebooks, days=10)
        print(f"seeded {opts.log_groups} log groups, {opts.endpoints} endpoints, {opts.instances} instances, "
              f"{opts.notebooks} notebooks in {time.time() - t:.1f}s")
        env = moto.env()
        if opts.latency_ms > 0:
            delay = emulator.Delay(moto.port, opts.latency_ms)
            env["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{delay.port}"
        two = Path(tempfile.mkdtemp(prefix="costguard-two-")) / "two-jobs.yaml"
        two.write_text(COSTGUARD_TWO_JOBS)
        rows = []
        if opts.peer == "custodian":
            rows.append(custodian(env))
        if opts.only != "all":
            rows.append(costguard(env, two, "costguard, the same two jobs", opts))
        if opts.only != "two":
            rows.append(costguard(env, ROOT / "policies", "costguard, every shipped policy", opts, opts.smaps))

    print(f"\n{os.cpu_count()} cores, {opts.latency_ms:g} ms added to every AWS call, release build, dry run")
    print(f"{'':40} {'wall':>9} {'CPU':>9} {'peak memory':>12} {'AWS calls':>10} {'findings':>9}")
    for r in rows:
        calls = "-" if r["calls"] is None else str(r["calls"])
        print(f"{r['label']:40} {r['wall']:8.1f}s {r['cpu']:8.2f}s {r['rss']:9.1f}MiB {calls:>10} {r['findings']:>9}")
    if PEAK_MAPPINGS:
        print(f"\nevery shipped policy, resident at its peak ({sum(PEAK_MAPPINGS.values()) / 1024:.1f} MiB, smaps every 20 ms):")
        for mapping, kib in sorted(PEAK_MAPPINGS.items(), key=lambda kv: -kv[1])[:6]:
            print(f"  {kib / 1024:6.1f} MiB  {mapping}")
    for r in rows:
        if r["by_op"]:
            print(f"\n{r['label']}: calls by operation")
            for op, n in sorted(r["by_op"].items(), key=lambda kv: -kv[1]):
                print(f"  {op}: {n}")


if __name__ == "__main__":
    main()
