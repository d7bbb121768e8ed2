"""Socket activation: corral takes the listening sockets systemd passes (LISTEN_FDS,
LISTEN_PID, LISTEN_FDNAMES) instead of binding `bind`, and hands them on to its workers.

systemd-socket-activate stands in for systemd: it listens, and on the first connection
execs corral in its own process with the sockets as fd 3, 4...
"""

import os
import shutil
import signal
import socket
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for `python3 -m unittest FILE`
from harness import CORRAL, CorralTestCase, free_port, http_get, socket_inode

SOCKET_ACTIVATE = shutil.which("systemd-socket-activate")


def environ_of(pid):
    """The environment `pid` was started with, as a dict."""
    with open(f"/proc/{pid}/environ", "rb") as environ:
        entries = environ.read().split(b"\0")
    return dict(entry.decode(errors="replace").partition("=")[::2] for entry in entries if entry)


@unittest.skipIf(SOCKET_ACTIVATE is None, "systemd-socket-activate is not installed")
class SocketActivation(CorralTestCase):

    def activate(self, ports, names, *command):
        """Start systemd-socket-activate listening on `ports` (named `names`) to run
        `command` (corral by default); return it once it listens. Its pid becomes corral's."""
        listen = [argument for port in ports for argument in ("-l", f"127.0.0.1:{port}")]
        master = self.start_corral(*listen, f"--fdname={':'.join(names)}", "-E", "PATH",
                                   *(command or (CORRAL, "-w", 2)), binary=SOCKET_ACTIVATE)
        for port in ports:
            master.wait_log(f"Listening on 127.0.0.1:{port} as ")
        return master

    def test_corral_serves_on_the_socket_it_was_given(self):
        """The connection that activates corral is answered; the log names the socket "http";
        workers see LISTEN_FDNAMES=http and share the master's socket as their fd 3."""
        port = free_port()
        master = self.activate([port], ["http"])

        status, body, _ = http_get(port, timeout=5.0)  # the connection that starts corral

        self.assertEqual(status, 200)
        master.wait_log("Using 1 socket(s) from the service manager (LISTEN_FDS); "
                        "`bind` is ignored")
        master.wait_log(f'Listening at: http://127.0.0.1:{port} (fd 3, named "http" by the '
                        'service manager)')
        self.assertNotIn("127.0.0.1:8000", master.log(), "corral bound its default address")
        workers = master.wait_generation(1, 2)
        for worker in workers:
            environment = environ_of(worker)
            self.assertEqual(environment["LISTEN_FDNAMES"], "http")
            self.assertEqual(environment["LISTEN_FDS"], "1")
            self.assertEqual(environment["LISTEN_PID"], str(worker))
            self.assertEqual(socket_inode(worker, 3), socket_inode(master.pid, 3))

    def test_a_reload_keeps_serving_on_the_same_socket(self):
        """HUP: generation 2 serves on the very socket systemd passed; nothing new is bound."""
        port = free_port()
        master = self.activate([port], ["http"])
        self.assertEqual(http_get(port, timeout=5.0)[0], 200)
        master.wait_generation(1, 2)
        activated_socket = socket_inode(master.pid, 3)
        self.assertIsNotNone(activated_socket)

        master.send_signal(signal.SIGHUP)
        master.wait_log("Reload complete: generation 2 serves with 2 workers")
        new_workers = master.wait_generation(2, 2)

        for worker in new_workers:
            self.assertEqual(socket_inode(worker, 3), activated_socket)
            self.assertEqual(environ_of(worker)["LISTEN_FDNAMES"], "http")
        self.assertEqual(http_get(port)[0], 200)
        self.assertNotIn("from generation 2 on", master.log())
        self.assertEqual(master.log().count("Listening at:"), 1)

    def test_a_reload_that_changes_bind_says_the_passed_sockets_stay(self):
        """bind is ignored under socket activation: a reload that changes it says so."""
        port = free_port()
        self.write_file("corral.toml", f'bind = ["127.0.0.1:{free_port()}"]\n')
        master = self.activate([port], ["http"])
        self.assertEqual(http_get(port, timeout=5.0)[0], 200)
        self.write_file("corral.toml", f'bind = ["127.0.0.1:{free_port()}"]\n')
        master.send_signal(signal.SIGHUP)
        master.wait_log("Reload: bind changed, but the listeners are the sockets the service "
                        "manager passed (LISTEN_FDS)")
        master.wait_log("Reload complete: generation 2 serves")
        self.assertEqual(http_get(port)[0], 200)

    def test_two_named_sockets_both_serve(self):
        """-l P1 -l P2 --fdname=a:b: both ports answer; the log and the workers name them."""
        first, second = free_port(), free_port()
        while second == first:
            second = free_port()
        master = self.activate([first, second], ["a", "b"])

        self.assertEqual(http_get(first, timeout=5.0)[0], 200)
        self.assertEqual(http_get(second, timeout=5.0)[0], 200)

        master.wait_log("Using 2 socket(s) from the service manager (LISTEN_FDS)")
        master.wait_log(f'Listening at: http://127.0.0.1:{first} (fd 3, named "a" by the '
                        'service manager)')
        master.wait_log(f'Listening at: http://127.0.0.1:{second} (fd 4, named "b" by the '
                        'service manager)')
        for worker in master.wait_generation(1, 2):
            environment = environ_of(worker)
            self.assertEqual(environment["LISTEN_FDS"], "2")
            self.assertEqual(environment["LISTEN_FDNAMES"], "a:b")

    def test_sockets_meant_for_another_pid_are_ignored(self):
        """LISTEN_PID names another process: corral ignores the sockets and binds -b itself."""
        activated, bound = free_port(), free_port()
        while bound == activated:
            bound = free_port()
        # sh replaces LISTEN_PID and execs corral in its own process.
        master = self.activate([activated], ["http"], "/bin/sh", "-c",
                               'LISTEN_PID=1 exec "$0" "$@"',
                               CORRAL, "-w", 1, "-b", f"127.0.0.1:{bound}")
        # A connection that nobody answers: it only makes the activator exec.
        with socket.create_connection(("127.0.0.1", activated), timeout=5.0):
            master.wait_log("Execing /bin/sh")
            master.wait_serving(bound)

        self.assertNotIn("LISTEN_FDS", master.log())
        self.assertNotIn("by the service manager", master.log())
        self.assertIn(f"Listening at: http://127.0.0.1:{bound} (fd ", master.log())
        (worker,) = master.wait_generation(1, 1)
        environment = environ_of(worker)
        self.assertEqual(environment["LISTEN_FDS"], "1")
        self.assertEqual(environment["LISTEN_FDNAMES"], f"127.0.0.1_{bound}")
        self.assertNotEqual(socket_inode(worker, 3), socket_inode(master.pid, 3),
                            "the worker got the socket meant for another process")


if __name__ == "__main__":
    unittest.main()
