"""The moto emulator for the demo and the benchmark: the same launcher the
tests use (tests/support/moto_server.py), on a free port, stopped on exit."""

import json
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"


class Emulator:
    def __init__(self, server, endpoint):
        self.server = server
        self.endpoint = endpoint

    def command(self, **cmd):
        """Sends one launcher command (see moto_server.py) and checks the answer."""
        self.server.stdin.write(json.dumps(cmd) + "\n")
        self.server.stdin.flush()
        answer = self.server.stdout.readline().strip()
        if answer != "ok":
            sys.exit(f"emulator: {cmd['op']} failed: {answer}")

    def command_with_answer(self, **cmd):
        """A launcher command that answers "ok" and then one line of JSON."""
        self.command(**cmd)
        return json.loads(self.server.stdout.readline())

    def env(self, **extra):
        """Environment for a costguard process pointed at this emulator."""
        return dict(os.environ, AWS_ENDPOINT_URL=self.endpoint, AWS_REGION=REGION,
                    AWS_ACCESS_KEY_ID="emulator", AWS_SECRET_ACCESS_KEY="emulator",
                    AWS_EC2_METADATA_DISABLED="true", **extra)


@contextmanager
def running():
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "tests/support/moto_server.py"), "0"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        line = server.stdout.readline().strip()
        if not line.startswith("ready "):
            sys.exit(f"emulator: the moto server did not start ({line!r}); run scripts/setup-test-deps.sh")
        yield Emulator(server, f"http://127.0.0.1:{line.split()[1]}")
    finally:
        server.stdin.close()
        server.wait(timeout=60)
