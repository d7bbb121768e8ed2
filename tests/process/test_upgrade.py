"""Binary upgrade: the master starts the binary on disk beside itself and hands over once it
serves, without dropping a request; a new binary that fails at any point after it starts
leaves the old master serving, and `corral upgrade` says why."""

import os
import shutil
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for `python3 -m unittest FILE`
from harness import (BIN_DIR, CORRAL, CorralTestCase, corral_control, corral_status, free_port,
                     http_get, live_children, read_text, wait_for_load, wait_until,
                     worker_generation)
from test_systemd_notify import NotifyReceiver

# A stand-in for a broken build: it passes --check-config, then fails once started for real.
BROKEN_BUILDS = {
    "exits": "echo 'corral: cannot start' >&2\nexit 1",
    "crashes": "kill -SEGV $$",
    "hangs": "exec sleep 600",
}


class BinaryUpgrade(CorralTestCase):

    def install_copy(self):
        """A copy of the binaries in the test's directory, which the test may replace as a
        package upgrade does; returns the path of the copied corral."""
        installed = os.path.join(self.tmp, "bin")
        os.mkdir(installed)
        for name in ("corral", "corral-worker"):
            shutil.copy2(os.path.join(BIN_DIR, name), installed)
        return os.path.join(installed, "corral")

    def start_serving(self, *extra, binary=CORRAL, workers=2, env=None):
        self.port = free_port()
        self.pidfile = os.path.join(self.tmp, "corral.pid")
        master = self.start_corral("-w", workers, "-b", f"127.0.0.1:{self.port}", "-p",
                                   self.pidfile, *extra, binary=binary, env=env)
        master.wait_serving(self.port)
        master.wait_log("Control socket:")
        return master

    def test_usr2_under_load_hands_over_to_a_new_master_without_failing_a_request(self):
        """wrk for 3 s, USR2 during it: a new master with generation 2 serves, the old one
        drains and exits 0, the pidfile names the new one, wrk sees 0 errors."""
        master = self.start_serving()
        first = master.wait_workers(2)
        wrk = self.start_load(self.port, seconds=3)
        master.send_signal(signal.SIGUSR2)
        new = master.wait_new_master()
        self.assertEqual(master.wait_exit(timeout=20.0), 0)
        self.assertIsNone(wrk.process.poll(), "wrk ended before the upgrade did: too slow to test")
        wrk.assert_clean(self)

        self.assertNotEqual(new, master.pid)
        self.assertEqual(read_text(self.pidfile).strip(), str(new))
        workers = live_children(new)
        self.assertEqual(len(workers), 2)
        self.assertEqual({worker_generation(pid) for pid in workers}, {2})
        self.assertFalse(first & workers)
        self.assertEqual(http_get(self.port)[0], 200)
        self.assertEqual(corral_status(self.pidfile)["master_pid"], new)
        self.assertIn("Draining 2 workers; then this master exits", master.log())

    def test_corral_upgrade_waits_and_names_the_new_master(self):
        """`corral upgrade --pid FILE` returns once the new master serves, with its pid."""
        master = self.start_serving(workers=1)
        done = corral_control("upgrade", "--pid", self.pidfile)
        self.assertEqual(done.returncode, 0, done.stderr)
        new = master.wait_new_master()
        self.assertEqual(done.stdout, f"upgrade: the new master, pid {new}, serves generation 2\n")
        status = corral_status(self.pidfile)
        self.assertEqual((status["master_pid"], status["generation"]), (new, 2))

    def check_broken_build(self, how):
        """The binary on disk passes --check-config, then fails as BROKEN_BUILDS[how] says:
        `corral upgrade` fails with the reason, the same master and workers go on serving,
        and the pidfile still names them."""
        corral = self.install_copy()
        master = self.start_serving("--boot-timeout", 1, binary=corral, workers=1)
        workers = master.wait_workers(1)
        self.replace(corral, "#!/bin/sh\ncase \"$*\" in *--check-config*) exit 0;; esac\n"
                     + BROKEN_BUILDS[how] + "\n")
        done = corral_control("upgrade", "--pid", self.pidfile, timeout=60)
        self.assertEqual(done.returncode, 1, done.stdout)
        self.assertRegex(done.stderr, r"^corral upgrade: the new master \(pid \d+\) ")
        master.wait_log("Upgrade failed:")
        self.assertIn("this master keeps serving", master.log())
        self.assertEqual(master.worker_pids(), workers)
        self.assertEqual(read_text(self.pidfile).strip(), str(master.pid))
        self.assertEqual(http_get(self.port)[0], 200)
        self.assertEqual(corral_status(self.pidfile)["master_pid"], master.pid)
        return done.stderr

    def test_a_new_binary_that_exits_after_it_starts_leaves_the_old_master_serving(self):
        self.assertIn("exited with code 1 before it was ready", self.check_broken_build("exits"))

    def test_a_new_binary_that_crashes_after_it_starts_leaves_the_old_master_serving(self):
        self.assertIn("SIGSEGV", self.check_broken_build("crashes"))

    def test_a_new_binary_that_hangs_leaves_the_old_master_serving(self):
        self.assertIn("was not ready within 11 s", self.check_broken_build("hangs"))

    def test_a_new_master_whose_workers_cannot_boot_leaves_the_old_master_serving(self):
        """The new build's worker cannot start: its master stops (exit 3), the old serves."""
        corral = self.install_copy()
        master = self.start_serving(binary=corral, workers=1)
        workers = master.wait_workers(1)
        self.replace(os.path.join(os.path.dirname(corral), "corral-worker"),
                     "#!/bin/sh\necho 'worker: broken' >&2\nexit 1\n")
        done = corral_control("upgrade", "--pid", self.pidfile, timeout=60)
        self.assertEqual(done.returncode, 1)
        self.assertIn("exited with code 3 before it was ready", done.stderr)
        self.assertEqual(master.worker_pids(), workers)
        self.assertEqual(http_get(self.port)[0], 200)

    def test_a_new_binary_that_fails_its_check_is_never_started(self):
        """The binary on disk fails --check-config: USR2 is refused, nothing changes."""
        corral = self.install_copy()
        master = self.start_serving(binary=corral, workers=1)
        workers = master.wait_workers(1)
        self.replace(corral, "#!/bin/sh\necho 'corral: error: broken build' >&2\nexit 2\n")
        master.send_signal(signal.SIGUSR2)
        master.wait_log("Upgrade aborted:")
        self.assertIn("--check-config exited with code 2; this master keeps serving", master.log())
        self.assertEqual(master.worker_pids(), workers)
        self.assertEqual(http_get(self.port)[0], 200)

    def test_a_check_that_hangs_does_not_stop_supervision(self):
        """The new binary's --check-config never ends: the master goes on supervising (a
        heartbeat timeout of 2 s kills no worker, status answers) while it waits; once the
        check is gone, `corral upgrade` fails with the reason and nothing changed."""
        corral = self.install_copy()
        master = self.start_serving("-t", 2, binary=corral, workers=2)
        workers = master.wait_workers(2)
        self.replace(corral, "#!/bin/sh\nexec sleep 600\n")
        upgrade = subprocess.Popen([CORRAL, "upgrade", "--pid", self.pidfile],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: upgrade.poll() is None and upgrade.kill())
        check = wait_until(lambda: live_children(master.pid) - workers, 5.0,
                           "the --check-config process")
        deadline = time.monotonic() + 4  # twice the heartbeat timeout
        while time.monotonic() < deadline:
            self.assertEqual(corral_control("status", "--pid", self.pidfile,
                                            timeout=10).returncode, 0)
            self.assertEqual(master.worker_pids() - check, workers)
        for pid in check:
            os.kill(pid, signal.SIGKILL)
        _, stderr = upgrade.communicate(timeout=10)
        self.assertEqual(upgrade.returncode, 1)
        self.assertIn("--check-config was killed by signal 9", stderr)
        self.assertNotIn("timed out", master.log())
        self.assertEqual(master.worker_pids(), workers)

    def test_under_systemd_mainpid_moves_to_the_new_master_only_once_it_serves(self):
        """MAINPID=<new> comes from the old master, then READY=1 from the new one; a failed
        upgrade sends no MAINPID at all."""
        receiver = NotifyReceiver(self.tmp)
        self.addCleanup(receiver.close)
        corral = self.install_copy()
        master = self.start_serving(binary=corral, workers=1,
                                    env={"NOTIFY_SOCKET": receiver.address})
        receiver.wait_for(lambda f: f.get("READY") == "1", 5.0, "READY=1", master)

        with open(corral, "rb") as binary:
            original = binary.read()
        self.replace(corral, "#!/bin/sh\ncase \"$*\" in *--check-config*) exit 0;; esac\nexit 1\n")
        self.assertEqual(corral_control("upgrade", "--pid", self.pidfile).returncode, 1)
        receiver.drain()
        self.assertFalse([f for _, f in receiver.messages if "MAINPID" in f])

        self.replace(corral, original)
        done = corral_control("upgrade", "--pid", self.pidfile)
        self.assertEqual(done.returncode, 0, done.stderr)
        new = master.wait_new_master()
        main = receiver.wait_for(lambda f: "MAINPID" in f, 5.0, "MAINPID=")
        self.assertEqual((main["MAINPID"], main["_PID"]), (str(new), str(master.pid)))
        ready = receiver.wait_for(lambda f: f.get("READY") == "1", 5.0, "READY=1 from the new")
        self.assertEqual(ready["_PID"], str(new))
        self.assertEqual(master.wait_exit(timeout=20.0), 0)
        receiver.drain()
        self.assertFalse([f for _, f in receiver.messages if "STOPPING" in f],
                         "the old master told systemd it was stopping")

    def test_an_upgrade_from_a_build_that_executed_in_place_adopts_its_workers(self):
        """A previous build executed the new binary in place with a version 1 state and its
        workers as children: they are adopted, then replaced, without a gap."""
        port = free_port()
        old_build = self.write_file("old_build.py", OLD_BUILD_IN_PLACE)
        master = self.start_corral(old_build, CORRAL, os.path.join(BIN_DIR, "corral-worker"),
                                   port, binary=sys.executable)
        master.wait_log("Upgraded in place: generation 2 (1 worker) replaces generation 1 "
                        "(1 adopted)")
        master.wait_log("Reload complete: generation 2 serves with 1 worker")
        master.wait_generation(2, 1)
        self.assertEqual(http_get(port)[0], 200)

    # Helpers.

    def replace(self, path, text):
        """Replace the file at `path` with a new one holding `text` (str or bytes), as a
        package upgrade does (a new inode; the running program keeps the old one)."""
        os.unlink(path)
        with open(path, "wb") as file:
            file.write(text.encode() if isinstance(text, str) else text)
        os.chmod(path, 0o755)


# Stands in for a build from before this design: it binds the listener, starts a worker as
# its own child, then executes corral in place with a version 1 state naming both.
OLD_BUILD_IN_PLACE = r"""
import json, os, socket, subprocess, sys
corral, worker, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", port))
listener.listen(128)
listener.set_inheritable(True)
os.dup2(listener.fileno(), 9)  # the worker's fd 3, moved there by its shell
env = dict(os.environ, LISTEN_FDS="1", LISTEN_FDNAMES=f"127.0.0.1_{port}")
child = subprocess.Popen(
    ["/bin/sh", "-c", 'exec 3<&9 9<&-; export LISTEN_PID=$$; exec "$0"', worker],
    pass_fds=(9,), env=env)
os.close(9)
state = {"version": 1, "last_generation": 1, "target_generation": 1, "count": 1,
         "listeners": {f"127.0.0.1:{port}": listener.fileno()},
         "workers": [{"pid": child.pid, "generation": 1, "ready": True, "age_seconds": 1.0}]}
os.execve(corral, [corral, "-w", "1", "-b", f"127.0.0.1:{port}"],
          dict(os.environ, CORRAL_UPGRADE_STATE=json.dumps(state)))
"""

if __name__ == "__main__":
    unittest.main()
