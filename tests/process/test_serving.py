"""corral serves HTTP through its workers on TCP over IPv4 and IPv6, and on unix sockets."""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for `python3 -m unittest FILE`
from harness import CorralTestCase, free_port, http_get, ipv6_loopback_available


class ServingThroughWorkers(CorralTestCase):

    def test_three_workers_serve_get_root_as_children_of_the_master(self):
        """With -w 3, GET / answers Hello, World! from one of exactly 3 children of the master."""
        port = free_port()
        master = self.start_corral("-w", 3, "-b", f"127.0.0.1:{port}")

        status, body, headers = master.wait_serving(port)
        workers = master.wait_workers(3)

        self.assertEqual((status, body), (200, b"Hello, World!"))
        self.assertTrue(headers["Content-Type"].startswith("text/plain"), headers["Content-Type"])
        status, body, _ = http_get(port, "/info")
        self.assertEqual(status, 200)
        self.assertIn(json.loads(body)["pid"], workers)

    @unittest.skipUnless(ipv6_loopback_available(), "::1 is not available")
    def test_a_bracketed_ipv6_bind_serves_over_ipv6(self):
        """-b [::1]:PORT serves GET / over IPv6."""
        port = free_port("::1")
        master = self.start_corral("-w", 1, "-b", f"[::1]:{port}")

        status, body, _ = master.wait_serving(("::1", port))

        self.assertEqual((status, body), (200, b"Hello, World!"))

    def test_a_unix_bind_serves_over_a_unix_socket(self):
        """-b unix:PATH serves GET / over a unix stream socket at PATH."""
        address = "unix:" + os.path.join(self.tmp, "corral.sock")
        master = self.start_corral("-w", 1, "-b", address)

        status, body, _ = master.wait_serving(address)

        self.assertEqual((status, body), (200, b"Hello, World!"))


if __name__ == "__main__":
    unittest.main()
