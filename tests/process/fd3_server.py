"""A corral worker that is not corral-worker: HTTP on the inherited fd 3, in plain Python.

It speaks systemd's protocol the way any worker would: the listener arrives as fd 3
(LISTEN_FDS, LISTEN_PID), READY=1 and WATCHDOG=1 go to NOTIFY_SOCKET, TERM stops it.
Run it as `corral -- python3 tests/process/fd3_server.py`.
"""

import http.server
import os
import signal
import socket
import sys

GREETING = b"Hello from fd3_server\n"
FIRST_LISTEN_FD = 3


def notify(message):
    """Send `message` to the manager's NOTIFY_SOCKET, if there is one."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):  # an abstract socket: its name starts with a NUL byte
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as channel:
        channel.sendto(message, address)


class Greeter(http.server.BaseHTTPRequestHandler):
    """Answers every GET with GREETING."""

    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(GREETING)))
        self.end_headers()
        self.wfile.write(GREETING)

    def log_message(self, format, *args):
        pass  # the master's log is the one that matters


class Worker(http.server.ThreadingHTTPServer):
    """An HTTP server on an inherited listener that tells the master it is alive."""

    def __init__(self, listener):
        super().__init__(listener.getsockname(), Greeter, bind_and_activate=False)
        self.socket.close()  # the socket the base class made; the inherited one replaces it
        self.socket = listener

    def service_actions(self):
        notify(b"WATCHDOG=1")  # runs once per poll interval of serve_forever


def main():
    if os.environ.get("LISTEN_PID") != str(os.getpid()) or os.environ.get("LISTEN_FDS", "0") == "0":
        sys.exit("fd3_server: no listening socket was passed (LISTEN_PID, LISTEN_FDS)")
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)  # "reopen your logs": it keeps none
    server = Worker(socket.socket(fileno=FIRST_LISTEN_FD))
    notify(b"READY=1")
    watchdog_seconds = int(os.environ.get("WATCHDOG_USEC", "0")) / 1e6
    server.serve_forever(poll_interval=min(0.5, watchdog_seconds / 2 or 0.5))


if __name__ == "__main__":
    main()
