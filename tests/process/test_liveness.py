"""Heartbeats: a worker whose event loop is stuck past --timeout is aborted and replaced."""

import json
import os
import re
import socket
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for `python3 -m unittest FILE`
from harness import CorralTestCase, free_port, http_get, process_state, wait_until


def send_without_waiting(port, path):
    """Send GET `path` on a new connection and return the socket without reading the answer."""
    client = socket.create_connection(("127.0.0.1", port), timeout=5.0)
    client.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
    return client


def serving_pid(port):
    """The pid of the worker that answers GET /info on `port`, or None if none answers."""
    try:
        status, body, _ = http_get(port, "/info", timeout=1.0)
    except OSError:
        return None
    return json.loads(body)["pid"] if status == 200 else None


class HeartbeatTimeout(CorralTestCase):

    def test_a_worker_whose_loop_stalls_past_the_timeout_is_aborted_and_replaced(self):
        """-t 1, GET /stall?ms=4000: the timeout is logged, SIGABRT sent, and a new pid serves."""
        port = free_port()
        master = self.start_corral("-w", 1, "-b", f"127.0.0.1:{port}", "-t", 1,
                                   "--debug-endpoints")
        master.wait_serving(port)
        [stuck] = master.wait_workers(1)

        stalled = send_without_waiting(port, "/stall?ms=4000")
        self.addCleanup(stalled.close)
        master.wait_log(re.compile(rf"\[CRITICAL\] Worker {stuck} timed out "
                                   r"\(no heartbeat for \d+ s\), sending SIGABRT"), timeout=3.0)
        master.wait_log(f"Worker {stuck} (generation 1) was killed by signal 6 (SIGABRT)",
                        timeout=3.0)
        replacement = wait_until(lambda: serving_pid(port) not in (None, stuck), 3.0,
                                 "a new worker to answer GET /info")
        self.assertEqual(master.wait_workers(1), {serving_pid(port)})
        self.assertIsNone(process_state(stuck), f"worker {stuck} was not reaped")
        self.assertIn("(no heartbeat for 1 s)", master.log())
        self.assertTrue(replacement)

    def test_a_slow_request_that_does_not_block_the_loop_is_not_a_timeout(self):
        """-t 1, GET /sleep?ms=1500 (an async wait): the same worker answers, no timeout logged."""
        port = free_port()
        master = self.start_corral("-w", 1, "-b", f"127.0.0.1:{port}", "-t", 1)
        master.wait_serving(port)
        [worker] = master.wait_workers(1)

        status, body, _ = http_get(port, "/sleep?ms=1500", timeout=5.0)

        self.assertEqual((status, body), (200, b"slept 1500 ms\n"))
        self.assertNotIn("timed out", master.log())
        self.assertEqual(master.worker_pids(), {worker})
        self.assertEqual(serving_pid(port), worker)

    def test_stall_is_not_found_without_debug_endpoints(self):
        """Without --debug-endpoints, GET /stall?ms=10 answers 404 and the worker stays."""
        port = free_port()
        master = self.start_corral("-w", 1, "-b", f"127.0.0.1:{port}")
        master.wait_serving(port)
        [worker] = master.wait_workers(1)

        self.assertEqual(http_get(port, "/stall?ms=10")[0], 404)
        self.assertEqual(serving_pid(port), worker)


if __name__ == "__main__":
    unittest.main()
