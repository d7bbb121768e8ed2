"""A worker that dies is reaped and replaced."""

import json
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for `python3 -m unittest FILE`
from harness import CorralTestCase, free_port, http_get, pid_alive, process_state, wait_until


class ReplacingDeadWorkers(CorralTestCase):

    def test_a_killed_worker_is_reaped_and_a_new_one_serves_within_a_second(self):
        """kill -9 of the only worker: another pid answers GET /info within 1 s, no zombie stays."""
        port = free_port()
        master = self.start_corral("-w", 1, "-b", f"127.0.0.1:{port}")
        master.wait_serving(port)
        [victim] = master.wait_workers(1)

        os.kill(victim, signal.SIGKILL)
        killed_at = time.monotonic()

        def pid_of_a_new_worker():
            try:
                status, body, _ = http_get(port, "/info", timeout=1.0)
            except OSError:
                return None
            pid = json.loads(body)["pid"] if status == 200 else victim
            return pid if pid != victim else None

        replacement = wait_until(pid_of_a_new_worker, 1.0, "a new worker to answer GET /info")
        self.assertLess(time.monotonic() - killed_at, 1.0, "the replacement served too late")
        self.assertIn(replacement, master.worker_pids())
        wait_until(lambda: process_state(victim) is None, 1.0, f"worker {victim} to be reaped")
        self.assertIn(f"Worker {victim} (generation 1) was killed by signal 9 (SIGKILL)! "
                      "Perhaps out of memory?", master.log())

    def test_workers_exit_when_the_master_is_killed(self):
        """kill -9 of the master: its workers notice (parent-death signal) and exit."""
        port = free_port()
        master = self.start_corral("-w", 2, "-b", f"127.0.0.1:{port}")
        master.wait_serving(port)
        workers = master.wait_workers(2)
        os.kill(master.pid, signal.SIGKILL)
        wait_until(lambda: not any(pid_alive(pid) for pid in workers), 5.0,
                   "the workers to exit after their master died")


if __name__ == "__main__":
    unittest.main()
