"""`corral status`, `reload --wait`, `scale`, `stop`, `reopen-logs` over the control socket,
and the Prometheus metrics endpoint."""

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for `python3 -m unittest FILE`
from harness import CORRAL, CorralTestCase, free_port, http_get, wait_until


def fallback_runtime_directory():
    """Where a master looks after $XDG_RUNTIME_DIR: /run/user/<uid>, else /run for root,
    either only if it is this user's and nobody else may write there; else None."""
    def private(directory):
        info = os.stat(directory) if os.path.isdir(directory) else None
        return info and info.st_uid == os.geteuid() and not info.st_mode & 0o022
    per_user = f"/run/user/{os.geteuid()}"
    if private(per_user):
        return per_user
    return "/run" if os.geteuid() == 0 and private("/run") else None


class ControlCommands(CorralTestCase):

    def start_with_pidfile(self, *extra, workers=2):
        self.port = free_port()
        self.pidfile = os.path.join(self.tmp, "corral.pid")
        self.write_file("corral.toml", f'workers = {workers}\nbind = ["127.0.0.1:{self.port}"]\n'
                                       f'pidfile = "{self.pidfile}"\n')
        master = self.start_corral(*extra)
        master.wait_serving(self.port)
        if "off" not in extra:
            master.wait_log("Control socket:")
        return master

    def control(self, *args):
        """Run `corral ARGS` in the test directory; return the finished process."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
        env["XDG_RUNTIME_DIR"] = self.runtime_dir  # where start_corral's masters look
        return subprocess.run([CORRAL, *args], capture_output=True, text=True, timeout=20,
                              cwd=self.tmp, env=env)

    def test_status_shows_the_master_and_every_worker(self):
        master = self.start_with_pidfile()
        workers = master.wait_workers(2)
        http_get(self.port)
        def status_once_every_worker_beat():
            status = json.loads(self.control("status", "--json").stdout)
            beats = [w["heartbeat_age_seconds"] for w in status["workers"]]
            return status if None not in beats else None

        status = wait_until(status_once_every_worker_beat, 5.0, "every worker's first heartbeat")
        self.assertEqual(status["master_pid"], master.pid)
        self.assertEqual(status["generation"], 1)
        self.assertEqual({w["pid"] for w in status["workers"]}, workers)
        for worker in status["workers"]:
            self.assertEqual(worker["state"], "ready")
            self.assertGreaterEqual(worker["age_seconds"], 0)
            self.assertIn("requests", worker)
            self.assertIn("connections", worker)
            self.assertIn("memory_bytes", worker)
            self.assertEqual(worker["status"], "serving")  # corral-worker's STATUS=
        self.assertEqual(status["listeners"][0]["address"], f"http://127.0.0.1:{self.port}")
        text = self.control("status")
        self.assertEqual(text.returncode, 0, text.stderr)
        self.assertIn(f"master pid {master.pid}", text.stdout)
        self.assertIn("total: 2 workers, 2 ready", text.stdout)

    def test_the_control_socket_is_private_to_its_owner(self):
        self.start_with_pidfile()
        mode = os.stat(self.pidfile + ".sock").st_mode
        self.assertTrue(stat.S_ISSOCK(mode))
        self.assertEqual(stat.S_IMODE(mode), 0o600)

    def test_scale_sets_adds_and_removes_workers(self):
        master = self.start_with_pidfile()
        self.assertEqual(self.control("scale", "4").stdout, "scale: 4 workers\n")
        master.wait_workers(4)
        self.assertEqual(self.control("scale", "-3").stdout, "scale: 1 worker\n")
        master.wait_workers(1)
        self.assertEqual(self.control("scale", "+1").stdout, "scale: 2 workers\n")
        master.wait_workers(2)
        refused = self.control("scale", "-5")
        self.assertEqual(refused.returncode, 1)
        self.assertIn("scale would make -3 workers; it must be 1 to 4096", refused.stderr)

    def test_reload_wait_returns_when_the_new_generation_serves(self):
        master = self.start_with_pidfile()
        done = self.control("reload", "--wait")
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(done.stdout, "reload: generation 2 serves\n")
        self.assertEqual({json.loads(http_get(self.port, "/info")[1])["generation"]}, {2})

    def test_reload_wait_fails_with_the_reason_on_a_broken_config(self):
        """The config is broken after start: reload --wait exits 1 with file:line, and still
        finds the master through that broken file."""
        master = self.start_with_pidfile()
        workers = master.wait_workers(2)
        self.write_file("corral.toml", f'workers = "many"\npidfile = "{self.pidfile}"\n')
        done = self.control("reload", "--wait")
        self.assertEqual(done.returncode, 1)
        self.assertIn("corral.toml:1:11: workers: expected an integer", done.stderr)
        self.write_file("corral.toml", f'workers = [[[\npidfile = "{self.pidfile}"\n')
        self.assertEqual(self.control("status").returncode, 0)
        self.assertEqual(master.worker_pids(), workers)

    def test_reload_wait_fails_when_the_new_generation_cannot_boot(self):
        master = self.start_with_pidfile()
        self.write_file("corral.toml", f'workers = 2\nbind = ["127.0.0.1:{self.port}"]\n'
                                       f'pidfile = "{self.pidfile}"\n'
                                       'worker_command = ["/bin/sh", "-c", "exit 4"]\n')
        done = self.control("reload", "--wait")
        self.assertEqual(done.returncode, 1)
        self.assertIn("could not boot", done.stderr)
        self.assertIn("rolled back to generation 1", done.stderr)
        self.assertEqual(http_get(self.port)[0], 200)

    def test_stop_and_reopen_logs(self):
        master = self.start_with_pidfile()
        self.assertEqual(self.control("reopen-logs").returncode, 0)
        master.wait_log("Control command: reopen-logs")
        self.assertEqual(self.control("stop").returncode, 0)
        self.assertEqual(master.wait_exit(), 0)
        self.assertFalse(os.path.exists(self.pidfile + ".sock"))

    def test_without_a_socket_the_pidfile_gives_signals(self):
        """control_socket = "off": `corral stop --pid` falls back to TERM; status cannot."""
        master = self.start_with_pidfile("--control", "off")
        self.assertNotIn("Control socket:", master.log())
        status = self.control("status", "--pid", self.pidfile)
        self.assertEqual(status.returncode, 1)
        self.assertIn("needs the control socket", status.stderr)
        # A signal cannot say whether an upgrade completed: refused, naming the way to send it.
        upgrade = self.control("upgrade", "--pid", self.pidfile)
        self.assertEqual(upgrade.returncode, 1)
        self.assertIn("only the master's answer tells whether the upgrade completed", upgrade.stderr)
        self.assertIn(f"kill -USR2 {master.pid}", upgrade.stderr)
        self.assertNotIn("Handling signal: usr2", master.log())
        stop = self.control("stop", "--pid", self.pidfile)
        self.assertEqual(stop.returncode, 0, stop.stderr)
        self.assertEqual(master.wait_exit(), 0)

    def test_a_master_that_does_not_answer_is_reported_not_waited_for_forever(self):
        """A socket that accepts and never answers (a stuck master): `corral status` gives
        up after 10 s with exit 1 and says so."""
        path = os.path.join(self.tmp, "stuck.sock")
        stuck = socket.socket(socket.AF_UNIX)
        self.addCleanup(stuck.close)
        stuck.bind(path)
        stuck.listen()
        started = time.monotonic()
        status = self.control("status", "--control", path)
        self.assertEqual(status.returncode, 1)
        self.assertIn(f"the master at {path} did not answer within 10 s", status.stderr)
        self.assertLess(time.monotonic() - started, 19)

    def test_a_control_command_without_a_master_says_how_to_find_one(self):
        empty = self.control("status")
        self.assertEqual(empty.returncode, 2)
        self.assertIn(f"cannot find the master: no control socket answers in {self.runtime_dir}",
                      empty.stderr)

    def test_a_master_that_names_no_socket_is_found_in_the_users_runtime_directory(self):
        """No control_socket, pidfile or RUNTIME_DIRECTORY: the socket is corral-<pid>.sock in
        $XDG_RUNTIME_DIR, and a plain `corral status` finds it; with two masters it asks
        which; one killed with SIGKILL is skipped, and its socket removed by the next."""
        def start():
            master = self.start_corral("-w", 1, "-b", f"127.0.0.1:{free_port()}")
            socket_path = os.path.join(self.runtime_dir, f"corral-{master.pid}.sock")
            master.wait_log(f"Control socket: {socket_path}")
            return master, socket_path

        first, first_socket = start()
        found = self.control("status")
        self.assertEqual(found.returncode, 0, found.stderr)
        self.assertIn(f"master pid {first.pid}", found.stdout)
        self.assertEqual(stat.S_IMODE(os.stat(first_socket).st_mode), 0o600)

        second, second_socket = start()
        both = self.control("status")
        self.assertEqual(both.returncode, 2)
        self.assertIn(f"2 masters answer in {self.runtime_dir} ({first_socket}, {second_socket})"
                      f": choose one with --control SOCKET", both.stderr)

        first.send_signal(signal.SIGKILL)
        first.wait_exit()
        self.assertTrue(os.path.exists(first_socket))  # nobody could remove it
        an_hour_ago = time.time() - 3600  # one younger than 10 s may be a master starting
        os.utime(first_socket, (an_hour_ago, an_hour_ago), follow_symlinks=False)
        only = self.control("status", "--json")
        self.assertEqual(only.returncode, 0, only.stderr)
        self.assertEqual(json.loads(only.stdout)["master_pid"], second.pid)
        start()
        self.assertFalse(os.path.exists(first_socket), "the dead master's socket is still there")
        self.assertTrue(os.path.exists(second_socket))

    def test_a_runtime_directory_others_may_write_to_is_not_used(self):
        """Another user could have put a socket there first: the master passes it over for
        /run/user/<uid>, or /run for root, or makes no socket at all."""
        os.chmod(self.runtime_dir, 0o777)
        master = self.start_corral("-w", 1, "-b", f"127.0.0.1:{free_port()}")
        master.wait_workers(1)
        fallback = fallback_runtime_directory()
        if fallback:
            socket_path = os.path.join(fallback, f"corral-{master.pid}.sock")
            master.wait_log(f"Control socket: {socket_path}")
            self.assertTrue(stat.S_ISSOCK(os.stat(socket_path).st_mode))
        else:
            self.assertNotIn("Control socket:", master.log())
        self.assertEqual(os.listdir(self.runtime_dir), [])

    def test_metrics_in_prometheus_text_format(self):
        metrics_port = free_port()
        self.start_with_pidfile("--metrics-bind", f"127.0.0.1:{metrics_port}")
        http_get(self.port)

        def metrics_with_both_workers_ready():
            url = f"http://127.0.0.1:{metrics_port}/metrics"
            with urllib.request.urlopen(url, timeout=5) as response:
                text = response.read().decode()
            return text if 'corral_workers{state="ready"} 2' in text else None

        text = wait_until(metrics_with_both_workers_ready, 5.0, "metrics with 2 ready workers")
        self.assertIn("# TYPE corral_requests_total counter", text)
        self.assertIn("corral_listener_queue_length{listener=", text)
        self.assertIn("corral_generation 1", text)


if __name__ == "__main__":
    unittest.main()
