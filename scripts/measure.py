"""Runs a program and measures it: wall time, CPU and peak RSS, for the
benchmarks (bench.py, bench_mixed.py, bench_org.py).

Linux keeps, as a process's peak RSS, the peak of the memory it was started
from: a program spawned straight from a benchmark script (vfork, then exec)
reports the script's own peak when that is higher (40 MB once the script
has loaded a report.json). So a small launcher, a fresh interpreter of
about 10 MB, forks; its child execs the program; and the launcher writes
the child's pid, then the child's usage.
"""

import json
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

LAUNCHER = """
import json, os, sys
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
with open(sys.argv[1] + ".pid", "w") as f:
    f.write(str(pid))
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    json.dump({"code": os.waitstatus_to_exitcode(status), "user": usage.ru_utime, "system": usage.ru_stime,
               "maxrss_kib": usage.ru_maxrss}, f)
"""


@dataclass
class Usage:
    wall: float
    user: float
    system: float
    maxrss_mib: float
    code: int
    stderr: str

    @property
    def cpu(self):
        return self.user + self.system


def run(argv, env, every_20ms=None):
    """Runs `argv` to its end; `every_20ms(pid)` is called while it runs.
    The wall time includes the launcher's start (about 20 ms here)."""
    usage_file = Path(tempfile.mkdtemp(prefix="costguard-bench-usage-")) / "usage.json"
    pid_file = Path(str(usage_file) + ".pid")
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", LAUNCHER, str(usage_file), *map(str, argv)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr = []
    reader = threading.Thread(target=lambda: stderr.append(proc.stderr.read()), daemon=True)
    reader.start()
    while proc.poll() is None:
        if every_20ms and pid_file.exists() and (pid := pid_file.read_text()):
            every_20ms(int(pid))
        time.sleep(0.02)
    wall = time.perf_counter() - start
    reader.join()
    err = b"".join(stderr).decode(errors="replace")
    if proc.returncode != 0 or not usage_file.exists():
        sys.exit(f"bench: the launcher failed ({proc.returncode}): {err[-2000:]}")
    u = json.loads(usage_file.read_text())
    return Usage(wall, u["user"], u["system"], u["maxrss_kib"] / 1024, u["code"], err)
