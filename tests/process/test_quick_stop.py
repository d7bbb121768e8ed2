"""INT and QUIT stop corral and its workers at once."""

import os
import signal
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for `python3 -m unittest FILE`
from harness import CorralTestCase, free_port, pid_alive, wait_until


class QuickStop(CorralTestCase):

    def assert_gone_within_a_second_after(self, signum):
        port = free_port()
        master = self.start_corral("-w", 2, "-b", f"127.0.0.1:{port}")
        master.wait_serving(port)
        workers = master.wait_workers(2)

        master.send_signal(signum)

        wait_until(lambda: master.returncode is not None and not any(map(pid_alive, workers)),
                   1.0, "the master and its workers to exit")
        self.assertEqual(master.returncode, 0)

    def test_int_stops_the_master_and_its_workers_within_a_second(self):
        """INT: the master and its workers are gone within 1 s."""
        self.assert_gone_within_a_second_after(signal.SIGINT)

    def test_quit_stops_the_master_and_its_workers_within_a_second(self):
        """QUIT: the master and its workers are gone within 1 s."""
        self.assert_gone_within_a_second_after(signal.SIGQUIT)


if __name__ == "__main__":
    unittest.main()
