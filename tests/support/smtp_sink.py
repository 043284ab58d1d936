#!/usr/bin/env python3
"""A real SMTP server for hookwall's e-mail tests (aiosmtpd), recording what it is sent.

    python3 tests/support/smtp_sink.py PORT LOG [--transient N] [--permanent]

Listens on 127.0.0.1:PORT. Every message that reaches the end of DATA is appended to LOG as
one JSON line: {"mail_from", "rcpt_tos", "content", "answer"}, where "answer" is the reply it
got. --transient N answers `451` to the first N messages; --permanent answers `550` to every
message. The server stops when its standard input closes (the test ended or died) or on
SIGTERM/SIGINT.
"""

import argparse
import json
import signal
import sys
import threading

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, log_path, transient, permanent):
        self.log_path = log_path
        self.transient_left = transient
        self.permanent = permanent
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            if self.permanent:
                answer = "550 5.1.1 mailbox unavailable"
            elif self.transient_left > 0:
                self.transient_left -= 1
                answer = "451 4.3.0 try again later"
            else:
                answer = "250 2.0.0 OK"
            record = {
                "mail_from": envelope.mail_from,
                "rcpt_tos": list(envelope.rcpt_tos),
                "content": envelope.content.decode("utf-8", "replace"),
                "answer": answer[:3],
            }
            with open(self.log_path, "a", encoding="utf-8") as log:
                log.write(json.dumps(record) + "\n")
                log.flush()
        return answer


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", type=int)
    parser.add_argument("log")
    parser.add_argument("--transient", type=int, default=0, metavar="N")
    parser.add_argument("--permanent", action="store_true")
    args = parser.parse_args()

    controller = Controller(
        Sink(args.log, args.transient, args.permanent),
        hostname="127.0.0.1",
        port=args.port,
    )
    controller.start()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    def watch_stdin():
        sys.stdin.read()
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    print("ready", flush=True)
    while not stop.wait(0.5):
        pass
    controller.stop()


if __name__ == "__main__":
    main()
