"""corral as PID 1 of a PID namespace (a container's init): it reaps the orphans that get
reparented to it, still replaces its workers, and stops on SIGTERM.

The worker is `sh -c '(sleep ... &); exec python3 fd3_server.py'`: the subshell exits at once,
so its sleeps become orphans, which the kernel gives to the namespace's init, corral.
"""

import glob
import os
import signal
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for `python3 -m unittest FILE`
from fd3_server import GREETING
from harness import CORRAL, CorralTestCase, free_port, http_get, wait_until

FD3_SERVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fd3_server.py")
UNSHARE = shutil.which("unshare")


def pid_namespaces_available():
    if os.geteuid() != 0 or UNSHARE is None:
        return False
    try:
        return subprocess.run([UNSHARE, "--pid", "--fork", "--mount-proc", "true"],
                              capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def children_with_states(parent):
    """{pid: state letter} of every process whose parent is `parent`, zombies included."""
    found = {}
    for path in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(path) as stat:
                fields = stat.read().rpartition(")")[2].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[1]) == parent:
            found[int(path.split("/")[2])] = fields[0]
    return found


def command_of(pid):
    """The program name of `pid` (from /proc/PID/comm), or None once it is gone."""
    try:
        with open(f"/proc/{pid}/comm") as comm:
            return comm.read().strip()
    except (FileNotFoundError, ProcessLookupError):
        return None


def pid_namespace(pid):
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except (FileNotFoundError, ProcessLookupError):
        return None


def processes_in_namespace(namespace):
    """Host pids of the processes in PID namespace `namespace` (as /proc/PID/ns/pid reads)."""
    found = set()
    for path in glob.glob("/proc/[0-9]*/ns/pid"):
        try:
            if os.readlink(path) == namespace:
                found.add(int(path.split("/")[2]))
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue  # gone, or not ours to look at (the host's init, in a container)
    return found


@unittest.skipUnless(pid_namespaces_available(),
                     "needs root and `unshare --pid --fork --mount-proc` (a new PID namespace)")
class CorralAsPidOne(CorralTestCase):

    def start_as_pid_one(self):
        """unshare running corral as PID 1 with one fd3_server worker that leaves two
        orphans: `sleep 0.3` and `sleep 60`. Returns (unshare, corral's host pid)."""
        self.port = free_port()
        worker = (f"(sleep 0.3 &); (sleep 60 &); exec {sys.executable} {FD3_SERVER}")
        unshare = self.start_corral("--pid", "--fork", "--mount-proc", CORRAL, "-w", 1,
                                    "-b", f"127.0.0.1:{self.port}", "--", "sh", "-c", worker,
                                    binary=UNSHARE)
        corral = wait_until(lambda: unshare.assert_running() or
                            next(iter(unshare.worker_pids()), None),
                            5.0, "unshare to start corral")
        status, body, _ = unshare.wait_serving(self.port)
        self.assertEqual((status, body), (200, GREETING))
        unshare.wait_log("[1] [INFO] Starting corral")
        return unshare, corral

    def worker_of(self, corral, exclude=()):
        """The live worker (fd3_server's python) among corral's children."""
        def worker():
            for pid, state in children_with_states(corral).items():
                if state != "Z" and pid not in exclude and command_of(pid) not in ("sleep", "sh"):
                    return pid
            return None

        return wait_until(worker, 5.0, "corral's worker")

    def test_two_masters_that_are_both_pid_1_run_side_by_side(self):
        """Two corrals, each PID 1 of its own PID namespace on the same network namespace
        (two containers of one pod): both start and serve. Their notify sockets would
        clash if the name held only the pid (abstract names are per network namespace)."""
        first, _ = self.start_as_pid_one()
        first_port = self.port
        second, _ = self.start_as_pid_one()
        for master, port in ((first, first_port), (second, self.port)):
            master.assert_running()
            status, body, _ = master.wait_serving(port)
            self.assertEqual((status, body), (200, GREETING))

    def test_orphans_reparented_to_corral_are_reaped(self):
        """The orphan sleeps become corral's children; the one that exits and the one
        killed with -9 disappear: no zombie is left whose parent is corral."""
        unshare, corral = self.start_as_pid_one()
        worker = self.worker_of(corral)
        long_sleep = wait_until(
            lambda: next((pid for pid, state in children_with_states(corral).items()
                          if state != "Z" and pid != worker and command_of(pid) == "sleep"
                          and _cmdline(pid) == ["sleep", "60"]), None),
            5.0, "the orphan `sleep 60` as corral's child")

        def only_the_worker_and_the_long_sleep_left():
            unshare.assert_running()
            return set(children_with_states(corral)) == {worker, long_sleep}

        wait_until(only_the_worker_and_the_long_sleep_left, 5.0,
                   f"the orphan `sleep 0.3` to exit and be reaped; corral's children: "
                   f"{children_with_states(corral)}")

        os.kill(long_sleep, signal.SIGKILL)
        wait_until(lambda: set(children_with_states(corral)) == {worker}, 5.0,
                   "the killed orphan to be reaped, not left a zombie: "
                   f"corral's children are {children_with_states(corral)}")
        self.assertEqual(http_get(self.port)[1], GREETING)
        self.assertNotIn("exited with", unshare.log(), "an orphan was taken for a worker")

    def test_a_killed_worker_is_replaced_inside_the_namespace(self):
        """kill -9 of the worker: corral (PID 1) reaps it and boots a new one that serves."""
        unshare, corral = self.start_as_pid_one()
        worker = self.worker_of(corral)

        os.kill(worker, signal.SIGKILL)

        unshare.wait_log("was killed by signal 9", timeout=5.0)
        replacement = self.worker_of(corral, exclude={worker})
        self.assertEqual(pid_namespace(replacement), pid_namespace(corral))
        unshare.wait_serving(self.port)
        wait_until(lambda: worker not in children_with_states(corral), 5.0,
                   f"the killed worker {worker} to be reaped")

    def test_sigterm_stops_corral_and_empties_the_namespace(self):
        """SIGTERM to corral's host pid: it exits 0 (so does unshare); with it goes every
        process of the namespace, orphans included."""
        unshare, corral = self.start_as_pid_one()
        namespace = pid_namespace(corral)
        self.assertIsNotNone(namespace)
        self.assertNotEqual(namespace, pid_namespace(os.getpid()))
        self.assertGreaterEqual(len(processes_in_namespace(namespace)), 3,
                                "corral, its worker and the orphan sleep 60")

        os.kill(corral, signal.SIGTERM)

        self.assertEqual(unshare.wait_exit(10.0), 0)
        self.assertIn("Shutting down: Master", unshare.log())
        wait_until(lambda: not processes_in_namespace(namespace), 5.0,
                   f"every process of the namespace to be gone: "
                   f"{processes_in_namespace(namespace)} remain")


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return [part.decode() for part in cmdline.read().split(b"\0") if part]
    except (FileNotFoundError, ProcessLookupError):
        return []


if __name__ == "__main__":
    unittest.main()
