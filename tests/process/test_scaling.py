"""TTIN and TTOU change the number of workers one at a time."""

import os
import signal
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for `python3 -m unittest FILE`
from harness import CorralTestCase, free_port, http_get, wait_until


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

    def test_ttou_never_stops_the_last_worker(self):
        """With one worker, TTOU is refused with a log line and the worker keeps serving."""
        port = free_port()
        master = self.start_corral("-w", 1, "-b", f"127.0.0.1:{port}")
        master.wait_serving(port)
        [worker] = master.wait_workers(1)
        master.send_signal(signal.SIGTTOU)
        wait_until(lambda: "TTOU never stops the last worker" in master.log(), 5.0,
                   "the refusal in the log")
        self.assertEqual(master.worker_pids(), {worker})
        self.assertEqual(http_get(port)[0], 200)


if __name__ == "__main__":
    unittest.main()
