"""The pidfile keeps a second master off a running one."""

import os
import stat
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for `python3 -m unittest FILE`
from harness import CorralTestCase, free_port, http_get, wait_until


def read_pid(path):
    try:
        with open(path) as file:
            return file.read().strip()
    except FileNotFoundError:
        return None


class OneMasterPerPidfile(CorralTestCase):

    def test_a_second_master_on_the_same_pidfile_refuses_and_the_first_keeps_serving(self):
        """The second master exits 1 naming the pidfile and the first's pid; the first serves on."""
        pidfile = os.path.join(self.tmp, "corral.pid")
        first_port, second_port = free_port(), free_port()
        first = self.start_corral("-w", 1, "-b", f"127.0.0.1:{first_port}", "-p", pidfile)
        first.wait_serving(first_port)
        wait_until(lambda: read_pid(pidfile) == str(first.pid), 1.0, "the first master's pidfile")

        second = self.run_corral("-w", 1, "-b", f"127.0.0.1:{second_port}", "-p", pidfile)

        self.assertEqual(second.returncode, 1)
        self.assertIn(pidfile, second.log())
        self.assertIn(str(first.pid), second.log())
        self.assertIsNone(first.returncode, "the first master stopped")
        self.assertEqual(read_pid(pidfile), str(first.pid))
        self.assertEqual(http_get(first_port)[0], 200)

    def test_a_stale_pidfile_is_replaced(self):
        """A pidfile naming a process that no longer exists does not stop corral starting."""
        pidfile = self.write_file("corral.pid", "4194304\n")  # above any pid_max: never running
        port = free_port()
        master = self.start_corral("-w", 1, "-b", f"127.0.0.1:{port}", "-p", pidfile)
        master.wait_serving(port)
        wait_until(lambda: read_pid(pidfile) == str(master.pid), 1.0, "our pid in the pidfile")

    def test_the_pidfile_is_never_written_through_a_symlink(self):
        """A symlink where the pidfile goes (a hostile user's, in a shared directory) is
        replaced by the pidfile; the file it pointed to is untouched, and no temporary file
        is left behind."""
        victim = self.write_file("victim", "precious\n")
        pidfile = os.path.join(self.tmp, "corral.pid")
        os.symlink(victim, pidfile)
        port = free_port()
        master = self.start_corral("-w", 1, "-b", f"127.0.0.1:{port}", "-p", pidfile)
        master.wait_serving(port)
        wait_until(lambda: read_pid(pidfile) == str(master.pid), 1.0, "our pid in the pidfile")
        self.assertFalse(os.path.islink(pidfile))
        self.assertEqual(read_pid(victim), "precious")
        self.assertEqual(stat.S_IMODE(os.stat(pidfile).st_mode), 0o644)
        self.assertEqual(sorted(name for name in os.listdir(self.tmp) if "corral.pid" in name),
                         ["corral.pid", "corral.pid.sock"])


if __name__ == "__main__":
    unittest.main()
