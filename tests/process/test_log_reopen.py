"""USR1 reopens the error log, as logrotate's create mode needs after it renamed the file."""

import os
import signal
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for `python3 -m unittest FILE`
from harness import CORRAL_WORKER, CorralTestCase, free_port, read_text, wait_until



class ReopeningTheErrorLog(CorralTestCase):

    def test_usr1_after_a_rename_sends_new_lines_to_a_new_file(self):
        """--error-logfile FILE renamed to FILE.1, then USR1: later lines go to a new FILE."""
        path = os.path.join(self.tmp, "corral.log")
        rotated = path + ".1"
        try:
            self.rotate_and_check(path, rotated)
        except AssertionError as failure:
            raise AssertionError(f"{failure}\n--- {rotated}:\n{read_text(rotated)}"
                                 f"--- {path}:\n{read_text(path)}") from None

    def rotate_and_check(self, path, rotated):
        port = free_port()
        master = self.start_corral("-w", 1, "-b", f"127.0.0.1:{port}", "--error-logfile", path)
        master.wait_serving(port)
        master.wait_workers(1)
        wait_until(lambda: "ready in" in read_text(path), 5.0, f"the worker's READY in {path}")

        os.rename(path, rotated)
        master.send_signal(signal.SIGUSR1)
        wait_until(lambda: "Handling signal: usr1" in read_text(rotated), 5.0,
                   f"USR1 to be logged in {rotated}")
        wait_until(lambda: os.path.exists(path), 5.0, f"the master to create {path} again")
        wait_until(lambda: "Worker reopened its log files" in read_text(path), 5.0,
                   f"the worker to write to the new {path} too")
        master.send_signal(signal.SIGTTIN)
        wait_until(lambda: "Booting worker with pid" in read_text(path), 5.0,
                   f"the new worker's boot in the new {path}")

        new_lines, old_lines = read_text(path), read_text(rotated)
        self.assertIn("Handling signal: ttin", new_lines)
        self.assertIn("Number of workers: 2", new_lines)
        self.assertNotIn("Handling signal: ttin", old_lines)
        self.assertIn("Starting corral", old_lines)
        self.assertNotIn("Starting corral", new_lines)
        self.assertEqual(master.log(), "", "the master wrote to stderr despite --error-logfile")

    def test_usr1_while_workers_boot_does_not_kill_them(self):
        """USR1 while 2 workers boot (before READY=1): both boot and serve, no boot failure."""
        port = free_port()
        gate = os.path.join(self.tmp, "gate")  # the workers boot once this file exists
        boot = self.write_file("gated-boot.sh", f"""#!/bin/sh
while [ ! -e "{gate}" ]; do sleep 0.01; done
exec {CORRAL_WORKER}
""")
        os.chmod(boot, 0o755)
        master = self.start_corral("-w", 2, "-b", f"127.0.0.1:{port}", "--", boot)
        master.wait_log("Booting worker with pid", timeout=5.0)
        booting = master.wait_workers(2)

        master.send_signal(signal.SIGUSR1)
        master.wait_log("Handling signal: usr1")
        open(gate, "w").close()

        for pid in booting:
            master.wait_log(f"Worker {pid} ready in")
        master.wait_serving(port)
        self.assertEqual(master.worker_pids(), booting)
        self.assertNotIn("failed to boot", master.log())


if __name__ == "__main__":
    unittest.main()
