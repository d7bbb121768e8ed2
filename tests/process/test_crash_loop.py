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

KILLS = 60
CRASH_LOOP_WINDOW = 1.05  # seconds: crash_loop_window in master/supervision_policy.hpp, and a bit
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
    """{fd: what it is} (the readlink of /proc/PID/fd/N: "socket:[inode]", a path...),
    without the master's reads of a worker's /proc/N/smaps_rollup: its memory sample
    (master/process_memory.cpp) opens, reads and closes one in a single step, and a
    snapshot taken in that step saw it as one more descriptor."""
    described = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(FileNotFoundError):  # closed while we looked
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if not re.fullmatch(r"/proc/\d+/smaps_rollup", target):
                described[int(fd)] = target
    return described


def same_descriptors(before, after):
    """The same fd numbers open as `before` (a socket or pipe may have been replaced by a
    new one of the same kind: each worker's notify socket and pidfd are)."""
    return sorted(before) == sorted(after)


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

    def test_a_worker_that_dies_right_after_ready_is_retried_with_backoff(self):
        """READY=1, then exit 1 at once, every time: in 5 s a few respawns, not one every
        100 ms; each failure says how soon after READY=1 it died."""
        ready_then_exit = ("import os, socket\n"
                           "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
                           "s.connect(os.environ['NOTIFY_SOCKET'])\n"
                           "s.send(b'READY=1')\n"
                           "raise SystemExit(1)\n")
        master = self.start_corral("-w", 1, "-b", f"127.0.0.1:{free_port()}", "--",
                                   sys.executable, "-c", ready_then_exit)
        master.wait_log("ms after READY=1; next start in")
        window_ends = time.monotonic() + 5.0
        wait_until(lambda: master.assert_running() or time.monotonic() >= window_ends, 10.0,
                   "5 s of respawning")
        starts = master.log().count("Booting worker with pid")
        self.assertGreaterEqual(starts, 3, "the worker was not restarted")
        self.assertLess(starts, 15, "respawned without backoff after READY=1")


class RepeatedKills(CorralTestCase):

    def test_many_kills_leave_no_zombie_and_no_leaked_descriptor(self):
        """60 kill -9s over 4 workers, each of a worker ready for over a second (a death
        sooner after READY=1 counts as a failed start, and respawns back off): same master
        fds, no zombie."""
        port = free_port()
        master = self.start_corral("-w", 4, "-b", f"127.0.0.1:{port}")
        master.wait_serving(port)
        ready_since = {}  # pid -> when this test first saw its READY=1 in the log

        def note_ready():
            now = time.monotonic()
            for pid in master.worker_pids():
                if pid not in ready_since and f"Worker {pid} ready in" in master.log():
                    ready_since[pid] = now
            return len([pid for pid in master.worker_pids() if pid in ready_since]) == 4

        wait_until(note_ready, 5.0, "4 ready workers")
        fds_before = open_descriptors(master.pid)

        for _ in range(KILLS):
            victim = min(master.worker_pids(), key=lambda pid: ready_since[pid])
            wait_until(lambda: time.monotonic() - ready_since[victim] > CRASH_LOOP_WINDOW, 5.0,
                       f"worker {victim} to have served for a second")
            os.kill(victim, signal.SIGKILL)
            wait_until(lambda: victim not in master.worker_pids() and note_ready(), 5.0,
                       f"a ready replacement for worker {victim}")

        self.assertEqual(master.log().count("was killed by signal 9 (SIGKILL)"), KILLS)
        self.assertNotIn("after READY=1; next start in", master.log())
        self.assertNotIn("failed to boot", master.log())
        wait_until(lambda: not any(is_zombie(pid) for pid in all_children(master.pid)), 2.0,
                   "no zombie among the master's children")
        with contextlib.suppress(AssertionError):  # the assertion below says what differs
            wait_until(lambda: same_descriptors(fds_before, open_descriptors(master.pid)), 2.0,
                       "")
        fds_after = open_descriptors(master.pid)
        self.assertTrue(same_descriptors(fds_before, fds_after),
                        f"the master's open descriptors changed: before {fds_before}, "
                        f"after {fds_after}")
        self.assertEqual(http_get(port)[0], 200)


if __name__ == "__main__":
    unittest.main()
