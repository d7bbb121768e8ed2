"""HUP reloads: a new generation of workers replaces the old one, or the old one keeps serving."""

import json
import os
import re
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for `python3 -m unittest FILE`
from harness import (CORRAL_WORKER, CorralTestCase, accepts_connections, free_port, http_get,
                     socket_inode, wait_until)


def served_generation(port):
    """The generation of the worker that answers GET /info on `port`."""
    status, body, _ = http_get(port, "/info")
    assert status == 200, f"GET /info answered {status}"
    return json.loads(body)["generation"]


def send_and_wait_handled(master, signum, handled_before):
    """Send `signum` and poll (every ms) until the master logged one more `Handling signal`."""
    name = signal.Signals(signum).name.removeprefix("SIG").lower()
    line = f"Handling signal: {name}\n"
    master.send_signal(signum)
    deadline = time.monotonic() + 5.0
    while master.log().count(line) <= handled_before:
        master.assert_running()
        if time.monotonic() >= deadline:
            raise AssertionError(f"the master did not log {line!r} within 5 s")
        time.sleep(0.001)
    return handled_before + 1


def retirees_reaped(log):
    """Whether every worker the log says was retired has also been reaped (its exit logged).
    The last retirement of a reload happens when the reload completes, so once its worker
    is reaped, anything that completion started is in the log too."""
    retired = set(re.findall(r"Retiring worker (\d+)", log))
    gone = set(re.findall(r"Worker (\d+) (?:\(generation \d+\) )?(?:exited|was killed)", log))
    return retired <= gone


class ReloadingTheWorkers(CorralTestCase):

    def write_config(self, text, name="corral.toml"):
        return self.write_file(name, text)

    def assert_drained_only_after_replacements_were_ready(self, log, old, new):
        """Each `Retiring worker P (generation old)` line follows one more ready line of `new`."""
        ready = retired = 0
        for line in log.splitlines():
            if re.search(rf"Worker \d+ ready in \d+ ms \(generation {new}\)", line):
                ready += 1
            elif re.search(rf"Retiring worker \d+ \(generation {old}\)", line):
                retired += 1
                self.assertLessEqual(retired, ready, f"an old worker was drained before a new "
                                                     f"one was ready: {line}")
        self.assertGreater(retired, 0, f"no worker of generation {old} was retired")

    def test_hup_replaces_every_worker_with_a_new_generation(self):
        """HUP: 2 generation-2 workers replace the old ones, each drained once a new one is ready."""
        port = free_port()
        self.write_config(f'workers = 2\nbind = ["127.0.0.1:{port}"]\n')
        master = self.start_corral()
        master.wait_serving(port)
        first = master.wait_generation(1, 2)
        self.assertEqual(served_generation(port), 1)

        master.send_signal(signal.SIGHUP)
        master.wait_log("Reload complete: generation 2 serves with 2 workers")
        second = master.wait_generation(2, 2)

        self.assertFalse(first & second, "a worker of generation 1 is still serving")
        log = master.log()
        self.assertIn("Reloading: generation 2 (2 workers) replaces generation 1", log)
        for pid in first:
            self.assertIn(f"Retiring worker {pid} (generation 1)", log)
        self.assert_drained_only_after_replacements_were_ready(log, 1, 2)
        self.assertEqual(served_generation(port), 2)

    def test_hup_rereads_the_file_given_with_c(self):
        """-c FILE, workers = 1 then 3 in FILE: HUP brings 3 workers of generation 2."""
        port = free_port()
        os.mkdir(os.path.join(self.tmp, "etc"))
        path = self.write_config(f'workers = 1\nbind = ["127.0.0.1:{port}"]\n', "etc/app.toml")
        master = self.start_corral("-c", path)
        master.wait_serving(port)
        master.wait_generation(1, 1)

        self.write_config(f'workers = 3\nbind = ["127.0.0.1:{port}"]\n', "etc/app.toml")
        master.send_signal(signal.SIGHUP)

        master.wait_log("Reloading: generation 2 (3 workers) replaces generation 1")
        master.wait_log("Reload complete: generation 2 serves with 3 workers")
        master.wait_generation(2, 3)
        self.assertEqual(served_generation(port), 2)

    def test_a_broken_config_leaves_the_workers_alone(self):
        """workers = "lots": an error naming FILE:1:11, same pids serve; fixed, it gives gen 2."""
        port = free_port()
        good = f'workers = 2\nbind = ["127.0.0.1:{port}"]\n'
        path = self.write_config(good)
        master = self.start_corral("-c", path)
        master.wait_serving(port)
        first = master.wait_generation(1, 2)

        self.write_config(f'workers = "lots"\nbind = ["127.0.0.1:{port}"]\n')
        master.send_signal(signal.SIGHUP)
        master.wait_log(re.compile(rf"Reload failed: {re.escape(path)}:1:11: workers: expected "
                                   r".*; generation 1 keeps serving"))

        self.assertNotIn("Reloading:", master.log())
        self.assertEqual(master.worker_pids(), first)
        self.assertEqual(served_generation(port), 1)

        self.write_config(good)
        master.send_signal(signal.SIGHUP)
        master.wait_log("Reload complete: generation 2 serves with 2 workers")
        self.assertFalse(master.wait_generation(2, 2) & first)

    def test_a_new_worker_command_that_crashes_at_boot_is_rolled_back(self):
        """Generation 3 runs `sh -c 'exit 4'`: rolled back to generation 2, whose workers stay."""
        port = free_port()
        good = f'workers = 2\nbind = ["127.0.0.1:{port}"]\n'
        self.write_config(good)
        master = self.start_corral()
        master.wait_serving(port)
        master.send_signal(signal.SIGHUP)
        master.wait_log("Reload complete: generation 2 serves with 2 workers")
        second = master.wait_generation(2, 2)

        self.write_config(good + 'worker_command = ["/bin/sh", "-c", "exit 4"]\n')
        master.send_signal(signal.SIGHUP)
        master.wait_log(re.compile(r"Reload to generation 3 failed: worker \d+ exited with code 4 "
                                   r"before sending READY=1; rolling back to generation 2"))
        self.assertEqual(master.wait_generation(2, 2), second)

        self.assertNotIn("Reload complete: generation 3", master.log())
        self.assertNotIn("failed to boot", master.log(), "a generation 3 exit fed the backoff")
        self.assertEqual(master.worker_pids(), second)
        self.assertEqual(served_generation(port), 2)

        self.write_config(good)
        master.send_signal(signal.SIGHUP)
        master.wait_log("Reload complete: generation 4 serves with 2 workers")
        self.assertFalse(master.wait_generation(4, 2) & second)

    def test_a_hup_during_a_reload_is_coalesced_into_one_more_reload(self):
        """HUPs while generation 2 boots are coalesced: one generation 3 follows, newest file."""
        port = free_port()
        gate = os.path.join(self.tmp, "gate")  # workers boot only while this file exists
        boot = self.write_file("gated-boot.sh", f"""#!/bin/sh
while [ ! -e "{gate}" ]; do sleep 0.01; done
exec {CORRAL_WORKER}
""")
        os.chmod(boot, 0o755)
        config = f'bind = ["127.0.0.1:{port}"]\nworker_command = ["{boot}"]\n'
        self.write_config("workers = 2\n" + config)
        open(gate, "w").close()
        master = self.start_corral()
        master.wait_serving(port)
        first = master.wait_generation(1, 2)

        os.remove(gate)
        master.send_signal(signal.SIGHUP)
        master.wait_log("Reloading: generation 2 (2 workers) replaces generation 1")
        handled = master.log().count("Handling signal: hup\n")
        for _ in range(3):
            handled = send_and_wait_handled(master, signal.SIGHUP, handled)
        self.assertEqual(master.log().count("A reload is under way; one more will follow it "
                                            "with the newest config"), 3)
        self.write_config("workers = 3\n" + config)  # the newest config, read after generation 2
        self.assertNotIn("Reload complete", master.log())
        open(gate, "w").close()

        master.wait_log("Reload complete: generation 2 serves with 2 workers")
        master.wait_log("Reloading: generation 3 (3 workers) replaces generation 2")
        master.wait_log("Reload complete: generation 3 serves with 3 workers")
        master.wait_generation(3, 3)
        wait_until(lambda: retirees_reaped(master.log()), 5.0, "retired workers to be reaped")
        self.assertNotIn("generation 4", master.log())

    def test_fifty_hups_in_a_row_leave_the_last_generation_serving(self):
        """50 HUPs, each once the previous was handled: 2 workers of the last generation serve."""
        port = free_port()
        self.write_config(f'workers = 2\nbind = ["127.0.0.1:{port}"]\n')
        master = self.start_corral()
        master.wait_serving(port)
        first = master.wait_workers(2)

        handled = 0
        for _ in range(50):
            handled = send_and_wait_handled(master, signal.SIGHUP, handled)

        def last_generation_complete():
            log = master.log()
            last = int(re.findall(r"Reloading: generation (\d+) ", log)[-1])
            done = (f"Reload complete: generation {last} serves with 2 workers" in log and
                    retirees_reaped(log))
            return last if done else None

        last = wait_until(last_generation_complete, 10.0, "the last reload to complete")
        self.assertGreaterEqual(last, 2)
        self.assertLessEqual(last, 51)
        workers = master.wait_generation(last, 2)
        self.assertFalse(workers & first)
        for _ in range(4):
            self.assertEqual(served_generation(port), last)

    def test_hup_keeps_the_count_set_by_ttin_and_ttou_unless_the_file_changes_it(self):
        """workers = 2, TTIN TTIN: HUP keeps 4; TTOU: HUP keeps 3; workers = 1 in the file: 1."""
        port = free_port()
        self.write_config(f'workers = 2\nbind = ["127.0.0.1:{port}"]\n')
        master = self.start_corral()
        master.wait_serving(port)
        master.wait_workers(2)
        master.send_signal(signal.SIGTTIN)
        master.wait_workers(3)
        master.send_signal(signal.SIGTTIN)
        master.wait_workers(4)

        master.send_signal(signal.SIGHUP)
        master.wait_log("Reload complete: generation 2 serves with 4 workers")
        master.wait_generation(2, 4)

        master.send_signal(signal.SIGTTOU)
        master.wait_workers(3)
        master.send_signal(signal.SIGHUP)
        master.wait_log("Reload complete: generation 3 serves with 3 workers")
        master.wait_generation(3, 3)

        self.write_config(f'workers = 1\nbind = ["127.0.0.1:{port}"]\n')
        master.send_signal(signal.SIGHUP)
        master.wait_log("Reload complete: generation 4 serves with 1 worker")
        master.wait_generation(4, 1)


class ReloadingTheListeners(CorralTestCase):

    def listener_fd(self, master, port):
        """The master's descriptor for its listener on `port`, as its log says."""
        found = re.findall(rf"Listening at: http://127\.0\.0\.1:{port} \(fd (\d+)\)", master.log())
        self.assertEqual(len(found), 1, f"{port} was not announced exactly once: {found}")
        return int(found[0])

    def test_a_listener_added_by_a_reload_serves_beside_the_unchanged_one(self):
        """bind [A] becomes [A, B]: both serve after HUP; A is still the sockets bound at start."""
        port_a, port_b = free_port(), free_port()
        self.write_file("corral.toml", f'workers = 2\nbind = ["127.0.0.1:{port_a}"]\n')
        master = self.start_corral()
        master.wait_serving(port_a)
        fd_a = self.listener_fd(master, port_a)
        socket_a = socket_inode(master.pid, fd_a)
        self.assertIsNotNone(socket_a)
        # A's accept shards, one per worker slot: the first is the listener's own socket.
        first = master.wait_generation(1, 2)
        for pid in first:  # a worker just forked may not have its listeners in place yet
            master.wait_log(f"Worker {pid} ready in")
        shards_a = {socket_inode(pid, 3) for pid in first}
        self.assertIn(socket_a, shards_a)
        self.assertEqual(len(shards_a), 2, "the two workers share one socket of A")

        self.write_file("corral.toml",
                        f'workers = 2\nbind = ["127.0.0.1:{port_a}", "127.0.0.1:{port_b}"]\n')
        master.send_signal(signal.SIGHUP)
        master.wait_log(re.compile(rf"Listening at: http://127\.0\.0\.1:{port_b} \(fd \d+\), "
                                   r"from generation 2 on"))
        master.wait_log("Reload complete: generation 2 serves with 2 workers")
        workers = master.wait_generation(2, 2)

        master.wait_serving(port_b)
        self.assertEqual(http_get(port_a)[0], 200)
        self.assertEqual(self.listener_fd(master, port_a), fd_a)
        self.assertEqual(socket_inode(master.pid, fd_a), socket_a, "listener A was replaced")
        for pid in workers:  # A comes first in bind: fd 3 of every worker (LISTEN_FDS)
            self.assertIn(socket_inode(pid, 3), shards_a, f"worker {pid} has another A")

    def test_a_listener_removed_by_a_reload_is_closed_once_its_workers_are_gone(self):
        """bind [A, B] becomes [A]: after HUP, A serves and B refuses connections."""
        port_a, port_b = free_port(), free_port()
        self.write_file("corral.toml",
                        f'workers = 2\nbind = ["127.0.0.1:{port_a}", "127.0.0.1:{port_b}"]\n')
        master = self.start_corral()
        master.wait_serving(port_a)
        master.wait_serving(port_b)

        self.write_file("corral.toml", f'workers = 2\nbind = ["127.0.0.1:{port_a}"]\n')
        master.send_signal(signal.SIGHUP)
        master.wait_log("Reload complete: generation 2 serves with 2 workers")
        master.wait_generation(2, 2)

        wait_until(lambda: not accepts_connections(port_b), 5.0, f"port {port_b} to be closed")
        self.assertEqual(http_get(port_a)[0], 200)


if __name__ == "__main__":
    unittest.main()
