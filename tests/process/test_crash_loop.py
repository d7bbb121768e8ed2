"""Workers that keep dying: respawns back off; the master leaks neither zombies nor descriptors."""

import contextlib
import glob
import os
import re
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for `python3 -m unittest FILE`
from harness import CorralTestCase, free_port, http_get, is_zombie, wait_until

FD3_SERVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fd3_server.py")


def all_children(pid):
    """Pids of every child of `pid`, zombies included."""
    children = set()
    for task_children in glob.glob(f"/proc/{pid}/task/*/children"):
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            with open(task_children) as listing:
                children.update(int(child) for child in listing.read().split())
    return children


def open_descriptors(pid):
    return sorted(int(fd) for fd in os.listdir(f"/proc/{pid}/fd"))


class CrashLoopBackoff(CorralTestCase):

    def test_a_worker_that_keeps_failing_to_boot_is_retried_with_backoff(self):
        """-w 2, one boots, the other always exits 1: few boots in 5 s; the good one serves on."""
        port = free_port()
        boot = self.write_file("boot-once.sh", f"""#!/bin/sh
if mkdir "{self.tmp}/booted" 2>/dev/null; then exec {sys.executable} {FD3_SERVER}; fi
exit 1
""")
        os.chmod(boot, 0o755)
        master = self.start_corral("-w", 2, "-b", f"127.0.0.1:{port}", "--", boot)
        master.wait_serving(port)
        healthy = wait_until(lambda: master.worker_pids() & {
            int(pid) for pid in re.findall(r"Worker (\d+) ready in", master.log())},
            5.0, "the worker that boots to be ready")

        window_ends = time.monotonic() + 5.0

        def window_over_while_serving():
            status, body, _ = http_get(port, timeout=2.0)
            self.assertEqual((status, body), (200, b"Hello from fd3_server\n"))
            self.assertLessEqual(healthy, master.worker_pids(), "the healthy worker is gone")
            return time.monotonic() >= window_ends

        wait_until(window_over_while_serving, 10.0, "5 s of serving to pass")

        log = master.log()
        boots = log.count("Booting worker with pid")
        self.assertIn("failed to boot: it exited with code 1 before sending READY=1; "
                      "next start in", log)
        self.assertGreaterEqual(boots, 4, "the failing worker was not retried")
        self.assertLess(boots, 15, "the failing worker was respawned without enough backoff")
        self.assertIsNone(master.returncode)


class RepeatedKills(CorralTestCase):

    def test_two_hundred_kills_leave_no_zombie_and_no_leaked_descriptor(self):
        """200 kill -9s, each once the last replacement is ready: same master fds, no zombie."""
        port = free_port()
        master = self.start_corral("-w", 2, "-b", f"127.0.0.1:{port}")
        master.wait_serving(port)
        workers = master.wait_workers(2)
        for pid in workers:  # a kill before READY=1 would be a boot failure, not a crash
            master.wait_log(f"Worker {pid} ready in")
        fds_before = open_descriptors(master.pid)

        for _ in range(200):
            victim = min(workers)
            survivor = workers - {victim}
            os.kill(victim, signal.SIGKILL)
            deadline = time.monotonic() + 5.0
            while True:  # polls every ms: 200 rounds at the harness's 20 ms would take long
                master.assert_running()
                workers = master.worker_pids()
                replacements = workers - survivor
                if (len(workers) == 2 and victim not in workers and
                        all(f"Worker {pid} ready in" in master.log() for pid in replacements)):
                    break
                if time.monotonic() >= deadline:
                    raise AssertionError(f"no ready replacement for worker {victim} within 5 s")
                time.sleep(0.001)

        self.assertEqual(master.log().count("was killed by signal 9 (SIGKILL)"), 200)
        self.assertNotIn("failed to boot", master.log())
        wait_until(lambda: not any(is_zombie(pid) for pid in all_children(master.pid)), 2.0,
                   "no zombie among the master's children")
        with contextlib.suppress(AssertionError):  # the assertion below says what differs
            wait_until(lambda: open_descriptors(master.pid) == fds_before, 2.0, "")
        self.assertEqual(open_descriptors(master.pid), fds_before,
                         "the master's open descriptors changed")
        self.assertEqual(http_get(port)[0], 200)


if __name__ == "__main__":
    unittest.main()
