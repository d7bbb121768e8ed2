"""A worker command that cannot start stops corral with an exit status that says why."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for `python3 -m unittest FILE`
from harness import CorralTestCase, free_port


class WorkersThatCannotBoot(CorralTestCase):

    def test_workers_that_exit_at_start_stop_the_master_with_status_3(self):
        """-w 2 -- /bin/sh -c 'exit 3': the master logs an error about booting and exits 3."""
        master = self.run_corral("-w", 2, "-b", f"127.0.0.1:{free_port()}",
                                 "--", "/bin/sh", "-c", "exit 3", timeout=15.0)

        self.assertEqual(master.returncode, 3)
        self.assertRegex(master.log(), r"(?i)\[(ERROR|CRITICAL)\] .*boot")

    def test_a_worker_command_that_does_not_exist_stops_the_master_with_status_1(self):
        """-- /nonexistent/app: the master exits 1 and names the path."""
        master = self.run_corral("-w", 1, "-b", f"127.0.0.1:{free_port()}",
                                 "--", "/nonexistent/app")

        self.assertEqual(master.returncode, 1)
        self.assertIn("/nonexistent/app", master.log())


if __name__ == "__main__":
    unittest.main()
