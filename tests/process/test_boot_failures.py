"""A worker command that cannot start stops corral with an exit status that says why."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for `python3 -m unittest FILE`
from harness import CorralTestCase, free_port

FD3_SERVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fd3_server.py")


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

    def test_a_worker_that_never_sends_ready_is_killed_at_the_boot_timeout(self):
        """--boot-timeout 0.5 with a worker that never says READY=1: killed, logged, exit 3."""
        master = self.run_corral("-w", 1, "-b", f"127.0.0.1:{free_port()}", "--boot-timeout", "0.5",
                                 "--", "/bin/sleep", "30", timeout=15.0)
        self.assertEqual(master.returncode, 3)
        self.assertRegex(master.log(), r"did not send READY=1 within \d+ s \(boot_timeout\)")

    def test_one_failing_worker_does_not_stop_the_others(self):
        """Of two workers, one crashes at boot: it is retried with backoff while the other serves."""
        port = free_port()
        crash_once = self.write_file("crash-once.sh", f"""#!/bin/sh
if mkdir "{self.tmp}/crashed" 2>/dev/null; then exit 1; fi
exec {sys.executable} {FD3_SERVER}
""")
        os.chmod(crash_once, 0o755)
        master = self.start_corral("-w", 2, "-b", f"127.0.0.1:{port}", "--", crash_once)
        master.wait_serving(port)
        master.wait_workers(2)
        self.assertIn("failed to boot: it exited with code 1 before sending READY=1; next start in",
                      master.log())
        self.assertIsNone(master.returncode)


if __name__ == "__main__":
    unittest.main()
