"""TTIN and TTOU change the number of workers one at a time."""

import os
import signal
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for `python3 -m unittest FILE`
from harness import CorralTestCase, free_port


class ScalingWithSignals(CorralTestCase):

    def test_ttin_adds_a_worker_and_ttou_retires_the_oldest(self):
        """TTIN, TTIN, TTOU take 3 workers to 4, 5 and back to 4; the 2 added ones stay."""
        port = free_port()
        master = self.start_corral("-w", 3, "-b", f"127.0.0.1:{port}")
        master.wait_serving(port)
        first_workers = master.wait_workers(3)

        master.send_signal(signal.SIGTTIN)
        master.wait_workers(4)
        master.send_signal(signal.SIGTTIN)
        added_workers = master.wait_workers(5) - first_workers
        master.send_signal(signal.SIGTTOU)
        remaining_workers = master.wait_workers(4)

        self.assertEqual(len(added_workers), 2)
        self.assertLessEqual(added_workers, remaining_workers, "TTOU retired a new worker")


if __name__ == "__main__":
    unittest.main()
