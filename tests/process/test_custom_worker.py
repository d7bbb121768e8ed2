"""Any program that speaks the systemd socket protocol can be a corral worker."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for `python3 -m unittest FILE`
from fd3_server import GREETING
from harness import CorralTestCase, free_port

FD3_SERVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fd3_server.py")


class CustomWorkerCommand(CorralTestCase):

    def test_a_python_worker_serves_http_on_the_inherited_fd_3(self):
        """corral -- python3 fd3_server.py: GET / answers the Python worker's greeting."""
        port = free_port()
        master = self.start_corral("-w", 1, "-b", f"127.0.0.1:{port}",
                                   "--", sys.executable, FD3_SERVER)

        status, body, _ = master.wait_serving(port)

        self.assertEqual((status, body), (200, GREETING))


if __name__ == "__main__":
    unittest.main()
