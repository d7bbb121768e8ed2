"""The master's own endpoints (metrics, control socket) bound what a client can hold: idle
connections are closed, and beyond the connection cap clients wait instead of costing the
master descriptors. test_hostile runs the same against a flood from another user."""

import os
import shutil
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for `python3 -m unittest FILE`
from harness import CorralTestCase, corral_control, free_port, http_get, wait_until

SESSION_TIMEOUT = 5  # metrics_session_timeout and control_request_timeout, in seconds
MAX_CONNECTIONS = 32  # max_metrics_connections


def wait_closed_by_peer(client, timeout):
    """Wait until the other end closes `client` (recv gives b"" or a reset)."""
    client.settimeout(timeout)
    try:
        return client.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


class EndpointLimits(CorralTestCase):

    def start_with_endpoints(self):
        self.metrics_port = free_port()
        self.pidfile = os.path.join(self.tmp, "corral.pid")
        master = self.start_corral("-w", 1, "-b", f"127.0.0.1:{free_port()}", "-p", self.pidfile,
                                   "--metrics-bind", f"127.0.0.1:{self.metrics_port}")
        master.wait_log("Control socket:")
        master.wait_log("Metrics at:")
        return master

    @unittest.skipIf(shutil.which("prlimit") is None, "prlimit (util-linux) is not installed")
    def test_the_descriptor_reserve_leaves_the_endpoints_room_with_many_workers(self):
        """20 workers under a hard limit of 128 descriptors: the reserve counts only workers
        that may yet start, so the control socket serves several clients at once, a reload
        of all 20 succeeds, and metrics answer after it."""
        metrics_port = free_port()
        pidfile = os.path.join(self.tmp, "corral.pid")
        master = self.start_under_fd_limit(128, "-w", 20, "-b", f"127.0.0.1:{free_port()}", "-p",
                                           pidfile, "--metrics-bind", f"127.0.0.1:{metrics_port}")
        master.wait_log("Control socket:")
        master.wait_workers(20, timeout=20.0)
        waiting = [socket.socket(socket.AF_UNIX) for _ in range(4)]  # held open meanwhile
        for client in waiting:
            self.addCleanup(client.close)
            client.connect(pidfile + ".sock")
        status = corral_control("status", "--pid", pidfile, timeout=10)
        self.assertEqual(status.returncode, 0, status.stderr)
        reload = corral_control("reload", "--wait", "--pid", pidfile, timeout=60)
        self.assertEqual(reload.returncode, 0, reload.stderr)
        master.wait_generation(2, 20, timeout=20.0)
        self.assertEqual(http_get(metrics_port, "/metrics", timeout=5.0)[0], 200)
        self.assertNotIn("Too many open files", master.log())

    def test_an_idle_metrics_connection_is_closed(self):
        """A client that connects to metrics_bind and sends nothing is disconnected."""
        self.start_with_endpoints()
        with socket.create_connection(("127.0.0.1", self.metrics_port)) as client:
            started = time.monotonic()
            self.assertTrue(wait_closed_by_peer(client, SESSION_TIMEOUT * 3),
                            "an idle metrics connection stayed open")
            self.assertGreaterEqual(time.monotonic() - started, SESSION_TIMEOUT - 1)

    def test_an_idle_control_connection_is_closed(self):
        """A client that connects to the control socket and sends no request is disconnected."""
        self.start_with_endpoints()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.connect(self.pidfile + ".sock")
            self.assertTrue(wait_closed_by_peer(client, SESSION_TIMEOUT * 3),
                            "an idle control connection stayed open")
        self.assertEqual(corral_control("status", "--pid", self.pidfile).returncode, 0)

    def test_beyond_the_cap_a_client_waits_and_is_served_once_a_slot_frees(self):
        """32 idle metrics connections fill the cap: the 33rd waits in the backlog (logged),
        and gets its answer once the idle ones time out."""
        master = self.start_with_endpoints()
        idle = [socket.create_connection(("127.0.0.1", self.metrics_port))
                for _ in range(MAX_CONNECTIONS)]
        self.addCleanup(lambda: [client.close() for client in idle])
        master.wait_log(f"{MAX_CONNECTIONS} connections open, the most allowed; others wait")
        with socket.create_connection(("127.0.0.1", self.metrics_port)) as waiting:
            waiting.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            waiting.settimeout(SESSION_TIMEOUT * 4)
            self.assertTrue(waiting.recv(64).startswith(b"HTTP/1.1 200 OK"))
        # The control socket has its own cap: it answered all along.
        self.assertEqual(corral_control("status", "--pid", self.pidfile).returncode, 0)

    def test_a_control_socket_request_line_too_slow_is_cut(self):
        """Half a request, then silence: the connection is closed and nothing is done."""
        master = self.start_with_endpoints()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.connect(self.pidfile + ".sock")
            client.sendall(b'{"command": "stop"')
            self.assertTrue(wait_closed_by_peer(client, SESSION_TIMEOUT * 3))
        master.assert_running()


if __name__ == "__main__":
    unittest.main()
