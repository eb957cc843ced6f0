"""The moto emulator (and the SMTP sink) for the demo and the benchmark:
the same launchers the tests use (tests/support/moto_server.py,
smtp_sink.py), on free ports, stopped on exit."""

import asyncio
import json
import os
import subprocess
import sys
import threading
import urllib.request
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"


class Helper:
    """A launcher from tests/support, spoken to over its stdin protocol."""

    def __init__(self, server, port):
        self.server = server
        self.port = port

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


class Emulator(Helper):
    def __init__(self, server, port):
        super().__init__(server, port)
        self.endpoint = f"http://127.0.0.1:{port}"

    def env(self, **extra):
        """Environment for a costguard process pointed at this emulator."""
        return dict(os.environ, AWS_ENDPOINT_URL=self.endpoint, AWS_REGION=REGION,
                    AWS_ACCESS_KEY_ID="emulator", AWS_SECRET_ACCESS_KEY="emulator",
                    AWS_EC2_METADATA_DISABLED="true", **extra)


def utcnow():
    return datetime.now(timezone.utc)


def post(moto, path, body):
    """POSTs JSON to moto's own API (e.g. the answers its Cost Explorer gives)."""
    request = urllib.request.Request(moto.endpoint + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        if answer.status >= 300:
            sys.exit(f"emulator: POST {path} answered {answer.status}")


@contextmanager
def helper(script, kind):
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "tests/support" / script)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        line = server.stdout.readline().strip()
        if not line.startswith("ready "):
            sys.exit(f"{script} did not start ({line!r}); run scripts/setup-python.sh")
        yield kind(server, int(line.split()[1]))
    finally:
        server.stdin.close()
        server.wait(timeout=60)


def running():
    """The moto server, on a free port."""
    return helper("moto_server.py", Emulator)


def smtp_sink():
    """A real SMTP server on loopback that keeps what it receives."""
    return helper("smtp_sink.py", Helper)


class Delay:
    """A TCP proxy in front of the emulator that holds each request
    `ms` before passing it on: the round trip AWS would add."""

    def __init__(self, upstream_port, ms):
        self.upstream_port, self.delay = upstream_port, ms / 1000.0
        self.port = None
        ready = threading.Event()
        threading.Thread(target=self._run, args=(ready,), daemon=True).start()
        ready.wait()

    def _run(self, ready):
        async def pipe(reader, writer, before=None, after=None):
            try:
                while data := await reader.read(65536):
                    if before:
                        await before()
                    if after:
                        after()
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                writer.close()

        async def handle(client_r, client_w):
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.upstream_port)
            state = {"answered": True}

            async def hold():
                # Once per request: the first bytes after an answer.
                if state["answered"]:
                    state["answered"] = False
                    await asyncio.sleep(self.delay)

            def answered():
                state["answered"] = True

            await asyncio.gather(pipe(client_r, up_w, before=hold), pipe(up_r, client_w, after=answered))

        async def main():
            server = await asyncio.start_server(handle, "127.0.0.1", 0)
            self.port = server.sockets[0].getsockname()[1]
            ready.set()
            async with server:
                await server.serve_forever()

        asyncio.run(main())
