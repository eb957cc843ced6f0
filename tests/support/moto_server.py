"""The moto server for costguard's tests, run in-process so tests can reach
into its state where the AWS API has no way (creation times are stamped
"now"; a test of an age filter must move them back).

Prints "ready PORT" once serving on 127.0.0.1 (port 0 picks a free one),
then reads one JSON command per line from stdin and answers one line:
"ok" or "error: ...". Exits when stdin closes, so a test process that dies
never leaves a server behind.

Commands:
  {"op": "backdate", "service": "logs", "region": "us-east-1", "name": "/a", "days": 40}
  {"op": "create_log_groups", "region": "us-east-1", "prefix": "/bench/", "count": 10000,
   "retention_every": 3, "tag_every": 2}
      creates log groups straight in the backend, for benchmarks that need a
      big fleet fast; every nth has 7-day retention, every mth a tag.
"""

import json
import sys
from datetime import timedelta

from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.utils import utcnow
from moto.server import ThreadedMotoServer


def backdate(cmd):
    days = float(cmd["days"])
    account = cmd.get("account", DEFAULT_ACCOUNT_ID)
    service = cmd["service"]
    if service == "logs":
        from moto.logs.models import logs_backends

        group = logs_backends[account][cmd["region"]].groups[cmd["name"]]
        group.creation_time = utcnow() - timedelta(days=days)
    else:
        raise ValueError(f"backdate does not know service {service!r}")


def create_log_groups(cmd):
    from moto.logs.models import logs_backends

    backend = logs_backends[cmd.get("account", DEFAULT_ACCOUNT_ID)][cmd["region"]]
    retention_every = int(cmd.get("retention_every", 0))
    tag_every = int(cmd.get("tag_every", 0))
    for i in range(int(cmd["count"])):
        tags = {"team": f"team-{i % 7}"} if tag_every and i % tag_every == 0 else {}
        group = backend.create_log_group(f"{cmd['prefix']}{i:06d}", tags)
        if retention_every and i % retention_every == 0:
            group.set_retention_policy(7)


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    print(f"ready {server.get_host_and_port()[1]}", flush=True)
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            cmd = json.loads(line)
            if cmd.get("op") == "backdate":
                backdate(cmd)
            elif cmd.get("op") == "create_log_groups":
                create_log_groups(cmd)
            else:
                raise ValueError(f"unknown op {cmd.get('op')!r}")
            print("ok", flush=True)
        except Exception as e:  # the test reads the message
            print(f"error: {type(e).__name__}: {e}", flush=True)
    server.stop()


if __name__ == "__main__":
    main()
