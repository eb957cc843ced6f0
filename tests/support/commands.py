"""The test helpers' stdin protocol (moto_server.py, smtp_sink.py): one JSON
command per line; each is answered "ok" (then, when the handler returns a
value, that value as one line of JSON) or "error: ...". Returns when stdin
closes, so a test process that dies leaves no helper behind."""

import json
import sys


def serve(handle):
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            answer = handle(json.loads(line))
            print("ok", flush=True)
            if answer is not None:
                print(json.dumps(answer), flush=True)
        except Exception as e:  # the test reads the message
            print(f"error: {type(e).__name__}: {e}", flush=True)
