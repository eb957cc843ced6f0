"""Reads a received message back with Python's own email parser, so the
tests check costguard's MIME output with an independent implementation."""

from email import message_from_bytes
from email.policy import default


def parse(raw: bytes, mail_from=None, rcpt_tos=None):
    msg = message_from_bytes(raw, policy=default)
    text = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    return {
        "mail_from": mail_from,
        "rcpt_tos": list(rcpt_tos or []),
        "headers": [[k, str(v)] for k, v in msg.items()],
        "subject": str(msg["subject"] or ""),
        "content_type": msg.get_content_type(),
        "text": text.get_content() if text is not None else None,
        "html": html.get_content() if html is not None else None,
        # The message as it arrived, to save as a .eml file.
        "raw": raw.decode("utf-8", "replace"),
    }
