"""Binary upgrade: the master re-executes its binary in place without dropping a request."""

import os
import shutil
import signal
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for `python3 -m unittest FILE`
from harness import BIN_DIR, CorralTestCase, free_port, http_get, wait_for_load


class BinaryUpgrade(CorralTestCase):

    def test_usr2_under_load_keeps_the_pid_renews_every_worker_and_fails_no_request(self):
        """wrk for 3 s, USR2 during it: same master pid, generation 2 of new workers, 0 errors."""
        port = free_port()
        master = self.start_corral("-w", 2, "-b", f"127.0.0.1:{port}")
        master.wait_serving(port)
        first = master.wait_workers(2)

        wrk = self.start_wrk(port, seconds=3)
        wait_for_load(port)
        master.send_signal(signal.SIGUSR2)
        master.wait_log("Reload complete: generation 2 serves with 2 workers")
        self.assertIsNone(wrk.process.poll(), "wrk ended before the upgrade did: too slow to test")

        wrk.assert_clean(self)
        last = master.wait_generation(2, 2)
        self.assertFalse(first & last, "a worker of the old binary survived the upgrade")
        self.assertIn(f"Upgrading: executing {os.path.join(BIN_DIR, 'corral')} in place "
                      f"(pid {master.pid} stays)", master.log())
        self.assertIsNone(master.returncode)

    def test_a_new_binary_that_fails_its_check_leaves_the_old_master_serving(self):
        """The binary on disk is replaced by one that cannot start: USR2 is refused, nothing changes."""
        installed = os.path.join(self.tmp, "bin")
        os.mkdir(installed)
        for name in ("corral", "corral-worker"):
            shutil.copy2(os.path.join(BIN_DIR, name), installed)
        port = free_port()
        master = self.start_corral("-w", 1, "-b", f"127.0.0.1:{port}",
                                   binary=os.path.join(installed, "corral"))
        master.wait_serving(port)
        workers = master.wait_workers(1)

        broken = os.path.join(installed, "corral")
        os.unlink(broken)  # as a package upgrade replaces the file
        with open(broken, "w") as script:
            script.write("#!/bin/sh\necho 'corral: error: broken build' >&2\nexit 2\n")
        os.chmod(broken, 0o755)
        master.send_signal(signal.SIGUSR2)

        master.wait_log("Upgrade aborted:")
        self.assertIn("--check-config exited with code 2; this master keeps serving", master.log())
        self.assertEqual(master.worker_pids(), workers)
        self.assertEqual(http_get(port)[0], 200)

    def test_corral_upgrade_through_the_control_socket(self):
        """`corral upgrade --pid FILE` upgrades; `corral status --json` then shows generation 2."""
        port = free_port()
        pidfile = os.path.join(self.tmp, "corral.pid")
        master = self.start_corral("-w", 1, "-b", f"127.0.0.1:{port}", "-p", pidfile)
        master.wait_serving(port)
        master.wait_log("Control socket:")
        control = [os.path.join(BIN_DIR, "corral")]
        done = subprocess.run([*control, "upgrade", "--pid", pidfile], capture_output=True,
                              text=True, timeout=10)
        self.assertEqual(done.returncode, 0, done.stderr)
        master.wait_log("Reload complete: generation 2 serves with 1 worker")
        master.wait_generation(2, 1)


if __name__ == "__main__":
    unittest.main()
