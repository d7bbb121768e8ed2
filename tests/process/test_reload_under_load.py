"""Reloads and scaling while wrk keeps 64 connections busy: not one request fails."""

import os
import signal
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for `python3 -m unittest FILE`
from harness import CorralTestCase, free_port, wait_for_load


class ChangesUnderLoad(CorralTestCase):

    def test_two_reloads_under_load_fail_no_request_and_renew_every_worker(self):
        """wrk for 3 s, HUP twice meanwhile: no socket error, no non-2xx, no worker pid survives."""
        port = free_port()
        self.write_file("corral.toml", f'workers = 2\nbind = ["127.0.0.1:{port}"]\n')
        master = self.start_corral()
        master.wait_serving(port)
        first = master.wait_workers(2)
        wrk = self.start_load(port, seconds=3)
        master.send_signal(signal.SIGHUP)
        master.wait_log("Reload complete: generation 2 serves with 2 workers")
        wait_for_load(port)  # generation 2 takes the load
        master.send_signal(signal.SIGHUP)
        master.wait_log("Reload complete: generation 3 serves with 2 workers")
        self.assertIsNone(wrk.process.poll(), "wrk ended before the reloads did: too slow to test")

        wrk.assert_clean(self)
        last = master.wait_generation(3, 2)
        self.assertFalse(first & last, "a worker of generation 1 survived two reloads")

    def test_scaling_up_and_down_under_load_fails_no_request(self):
        """wrk for 3 s, TTIN then TTOU twice during it: no socket error, no non-2xx."""
        master, port, first = self.start_workers(2)
        wrk = self.start_load(port, seconds=3)
        master.send_signal(signal.SIGTTIN)
        added = master.wait_workers(3) - first
        master.wait_log(f"Worker {min(added)} ready in")
        wait_for_load(port)
        master.send_signal(signal.SIGTTOU)
        master.wait_workers(2)
        master.send_signal(signal.SIGTTOU)
        [remaining] = master.wait_workers(1)
        self.assertIsNone(wrk.process.poll(), "wrk ended before the scaling did: too slow to test")

        wrk.assert_clean(self)
        self.assertEqual({remaining}, added, "TTOU did not retire the oldest workers first")


if __name__ == "__main__":
    unittest.main()
