"""A real SMTP server on loopback for costguard's email tests (aiosmtpd).

    python smtp_sink.py [--auth USER:PASSWORD]

Prints "ready PORT" once listening on 127.0.0.1 (a free port), then reads
one JSON command per line from stdin and answers one line:
  {"op": "messages"}                 -> "ok", then a JSON list of the received messages, parsed
                                        (mail_from, rcpt_tos, headers, subject,
                                        text, html; see mime.py)
  {"op": "clear"}                    -> "ok": forget them
  {"op": "fail", "count": 2, "code": 451}
                                     -> "ok": answer the next 2 DATA with that
                                        code (4xx: try later; 5xx: refused)
With --auth, AUTH (PLAIN or LOGIN) is required before MAIL and must match.
Exits when stdin closes, so a test process that dies leaves no server behind.
"""

import asyncio
import sys
import threading
import time

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

import mime
from commands import serve


class Sink:
    def __init__(self):
        self.lock = threading.Lock()
        self.messages = []
        self.failures = []
        # `hang_after`: messages still accepted before every next one hangs
        # (no answer until `release`: a relay that stalls, so a test can
        # kill its client mid-send, or hold it there); `hanging`: how many
        # were held so.
        self.hang_after = None
        self.hanging = 0

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            hang = self.hang_after == 0
            if hang:
                self.hanging += 1
            elif self.hang_after is not None:
                self.hang_after -= 1
        if hang:
            # Held until `release`; then stored and answered if its client
            # is still there (a killed client's message is never stored).
            for _ in range(72000):
                if self.hang_after != 0:
                    break
                await asyncio.sleep(0.05)
            if server.transport is None or server.transport.is_closing():
                return "451 4.3.0 the client is gone"
        with self.lock:
            if self.failures:
                code = self.failures.pop(0)
                return f"{code} {'4.3.0 try again later' if code < 500 else '5.7.1 refused'}"
            message = mime.parse(envelope.original_content or envelope.content, envelope.mail_from, envelope.rcpt_tos)
            # When it arrived (Unix time): the events benchmark's latency.
            message["received_at"] = time.time()
            self.messages.append(message)
        return "250 OK"


def authenticator_for(user, password):
    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword)
              and auth_data.login == user.encode() and auth_data.password == password.encode())
        # handled=False: aiosmtpd then answers a failure with 535 itself.
        return AuthResult(success=ok, handled=False)
    return authenticate


def commands(sink):
    def handle(cmd):
        with sink.lock:
            if cmd["op"] == "messages":
                return list(sink.messages)
            if cmd["op"] == "clear":
                sink.messages.clear()
            elif cmd["op"] == "hang_after":
                sink.hang_after = int(cmd["count"])
            elif cmd["op"] == "hanging":
                return sink.hanging
            elif cmd["op"] == "release":
                sink.hang_after = None
            elif cmd["op"] == "fail":
                sink.failures.extend([int(cmd.get("code", 451))] * int(cmd.get("count", 1)))
            else:
                raise ValueError(f"unknown op {cmd['op']!r}")
        return None

    serve(handle)


async def main():
    sink = Sink()
    options = {}
    if len(sys.argv) > 2 and sys.argv[1] == "--auth":
        user, password = sys.argv[2].split(":", 1)
        options = dict(authenticator=authenticator_for(user, password), auth_required=True,
                       auth_require_tls=False)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(sink, hostname="sink.test", **options), "127.0.0.1", 0)
    print(f"ready {server.sockets[0].getsockname()[1]}", flush=True)
    await loop.run_in_executor(None, commands, sink)
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
