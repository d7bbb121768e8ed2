"""What a worker receives from the master, seen from inside the worker."""

import json
import os
import signal
import stat
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for `python3 -m unittest FILE`
from harness import CorralTestCase, free_port, wait_until


def assert_own_notify_socket(test, path, master_pid):
    """NOTIFY_SOCKET is a socket file of the worker's own, 0600, in the master's private
    directory (0711: reachable, not listable), not a name any local user could send to."""
    test.assertRegex(path, rf"^/.+/corral-{master_pid}\.[A-Za-z0-9]{{6}}/[0-9]+$")
    info = os.stat(path)
    test.assertTrue(stat.S_ISSOCK(info.st_mode), path)
    test.assertEqual(stat.S_IMODE(info.st_mode), 0o600, path)
    test.assertEqual(stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode), 0o711, path)


def notify_directory(parent, master_pid):
    """The notify directory of master `master_pid` in `parent`."""
    found = [name for name in os.listdir(parent) if name.startswith(f"corral-{master_pid}.")]
    assert len(found) == 1, f"notify directories of {master_pid} in {parent}: {found}"
    return os.path.join(parent, found[0])


PROBE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "protocol_probe.py")


class WorkerProtocol(CorralTestCase):

    def start_probe(self, *bind, extra=()):
        output = os.path.join(self.tmp, "probe.json")
        args = [arg for address in bind for arg in ("-b", address)]
        master = self.start_corral("-w", 1, *args, "-e", f"PROBE_OUTPUT={output}", *extra,
                                   "--", sys.executable, PROBE)
        wait_until(lambda: os.path.exists(output), 5.0, "the probe worker to write its record")
        with open(output) as record:
            return master, json.load(record)

    def test_a_worker_gets_its_listeners_as_fds_3_on_and_no_other_descriptor(self):
        """Two listeners arrive as fds 3 and 4; besides stdio nothing of the master leaks."""
        port = free_port()
        sock = os.path.join(self.tmp, "w.sock")
        master, record = self.start_probe(f"127.0.0.1:{port}", f"unix:{sock}")
        self.assertEqual(record["fds"], [0, 1, 2, 3, 4])
        self.assertEqual(record["fd_kinds"]["3"], "socket")
        self.assertEqual(record["fd_kinds"]["4"], "socket")
        environment = record["environment"]
        self.assertEqual(environment["LISTEN_FDS"], "2")
        self.assertEqual(environment["LISTEN_FDNAMES"], f"127.0.0.1_{port}:unix_{sock}")

    def test_listen_pid_and_watchdog_pid_are_the_workers_own_pid(self):
        """LISTEN_PID and WATCHDOG_PID name the worker itself, as sd_listen_fds() requires."""
        master, record = self.start_probe(f"127.0.0.1:{free_port()}", extra=("-t", "7"))
        environment = record["environment"]
        self.assertEqual(environment["LISTEN_PID"], str(record["pid"]))
        self.assertEqual(environment["WATCHDOG_PID"], str(record["pid"]))
        self.assertEqual(environment["WATCHDOG_USEC"], "7000000")
        assert_own_notify_socket(self, environment["NOTIFY_SOCKET"], master.pid)

    def test_a_worker_gets_its_generation_and_request_limit_under_corral_worker(self):
        """CORRAL_WORKER_GENERATION and CORRAL_WORKER_REQUEST_LIMIT (max_requests plus this
        worker's jitter); CORRAL_GENERATION stays for one release; CORRAL_MAX_REQUESTS, a
        master-only setting, is not passed."""
        master, record = self.start_probe(f"127.0.0.1:{free_port()}",
                                          extra=("--max-requests", 2147483647,
                                                 "--max-requests-jitter", 100))
        environment = record["environment"]
        self.assertEqual(environment["CORRAL_WORKER_GENERATION"], "1")
        self.assertEqual(environment["CORRAL_GENERATION"], "1")
        self.assertIn(int(environment["CORRAL_WORKER_REQUEST_LIMIT"]),
                      range(2147483647, 2147483647 + 101))
        self.assertNotIn("CORRAL_MAX_REQUESTS", environment)

    def test_without_max_requests_the_request_limit_is_0(self):
        """No max_requests: CORRAL_WORKER_REQUEST_LIMIT=0, no limit."""
        master, record = self.start_probe(f"127.0.0.1:{free_port()}")
        self.assertEqual(record["environment"]["CORRAL_WORKER_REQUEST_LIMIT"], "0")

    def test_the_config_env_and_worker_settings_reach_the_worker(self):
        """-e KEY=VALUE and the worker-side settings (CORRAL_KEEPALIVE...) are in its environment."""
        master, record = self.start_probe(f"127.0.0.1:{free_port()}",
                                          extra=("-e", "APP_MODE=test", "--keep-alive", "3"))
        environment = record["environment"]
        self.assertEqual(environment["APP_MODE"], "test")
        self.assertEqual(environment["CORRAL_KEEPALIVE"], "3")
        self.assertEqual(environment["CORRAL_LOGLEVEL"], "info")

    def test_the_sdk_worker_reads_no_master_only_setting_from_its_environment(self):
        """CORRAL_TIMEOUT=soon, CORRAL_MAX_REQUESTS=x and WEB_CONCURRENCY=x in a worker's
        environment (here from -e) are the master's business: corral-worker still serves."""
        port = free_port()
        master = self.start_corral("-w", 1, "-b", f"127.0.0.1:{port}", "-e", "CORRAL_TIMEOUT=soon",
                                   "-e", "CORRAL_MAX_REQUESTS=x", "-e", "WEB_CONCURRENCY=x")

        status, body, _ = master.wait_serving(port, "/info")

        self.assertEqual((status, json.loads(body)["generation"]), (200, 1))
        self.assertNotIn("invalid", master.log())

    def test_notify_socket_from_the_masters_own_manager_is_replaced(self):
        """A NOTIFY_SOCKET or LISTEN_FDS given to the master is not passed on as it is."""
        output = os.path.join(self.tmp, "probe.json")
        master = self.start_corral("-w", 1, "-b", f"127.0.0.1:{free_port()}",
                                   "-e", f"PROBE_OUTPUT={output}", "--", sys.executable, PROBE,
                                   env={"NOTIFY_SOCKET": "/nonexistent/systemd.sock",
                                        "LISTEN_FDNAMES": "from-systemd"})
        wait_until(lambda: os.path.exists(output), 5.0, "the probe worker to write its record")
        with open(output) as file:
            environment = json.load(file)["environment"]
        assert_own_notify_socket(self, environment["NOTIFY_SOCKET"], master.pid)
        self.assertNotEqual(environment["LISTEN_FDNAMES"], "from-systemd")

    def test_a_masters_notify_directory_left_by_sigkill_is_removed_by_the_next_master(self):
        """A master killed with SIGKILL cannot remove its notify directory; the next one in
        the same worker_tmp_dir removes it, and leaves a live master's alone."""
        def start(*extra):
            master = self.start_corral("-w", 1, "-b", f"127.0.0.1:{free_port()}",
                                       "--worker-tmp-dir", self.tmp, *extra)
            master.wait_workers(1)
            return master, notify_directory(self.tmp, master.pid)

        live, live_directory = start()
        killed, killed_directory = start()
        killed.send_signal(signal.SIGKILL)
        killed.wait_exit()
        old = 3600  # seconds; one younger than 10 s might be a master's not yet locked
        for directory in (live_directory, killed_directory):
            os.utime(directory, (os.stat(directory).st_atime - old,
                                 os.stat(directory).st_mtime - old))
        stray = os.path.join(self.tmp, "corral-1.notours")  # not a notify directory's name
        os.mkdir(stray)
        os.utime(stray, (0, 0))
        nxt, _ = start()
        nxt.wait_log("Removed 1 notify directory in")
        self.assertFalse(os.path.exists(killed_directory))
        self.assertTrue(os.path.isdir(live_directory), "a live master's directory was removed")
        self.assertTrue(os.path.isdir(stray))
        self.assertEqual(len(live.worker_pids()), 1)

    def test_a_booting_worker_may_extend_its_boot_timeout_and_beat_before_ready(self):
        """EXTEND_TIMEOUT_USEC= and WATCHDOG=1 while booting, READY=1 after boot_timeout:
        the worker is kept, as systemd keeps a service that extends its start timeout."""
        slow_boot = ("import os, socket, time\n"
                     "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
                     "s.connect(os.environ['NOTIFY_SOCKET'])\n"
                     "s.send(b'EXTEND_TIMEOUT_USEC=20000000')\n"
                     "start = time.monotonic()\n"
                     "while time.monotonic() - start < 2.5:\n"
                     "    s.send(b'WATCHDOG=1')\n"
                     "    time.sleep(0.2)\n"
                     "s.send(b'READY=1')\n"
                     "while True:\n"
                     "    s.send(b'WATCHDOG=1')\n"
                     "    time.sleep(0.2)\n")
        master = self.start_corral("-w", 1, "-b", f"127.0.0.1:{free_port()}", "--boot-timeout",
                                   "1", "-t", "2", "--", sys.executable, "-c", slow_boot)
        master.wait_log("ready in", timeout=10.0)
        self.assertNotIn("did not send READY=1", master.log())
        self.assertNotIn("timed out", master.log())

    def test_worker_output_goes_to_the_masters_error_log(self):
        """What a worker prints lands in --error-logfile next to the master's lines."""
        log_path = os.path.join(self.tmp, "error.log")
        self.start_corral("-w", 1, "-b", f"127.0.0.1:{free_port()}", "--error-logfile", log_path,
                          "--", "/bin/sh", "-c", "echo worker-says-hello; echo on-stderr >&2; "
                          "exec sleep 30")

        def log_text():
            try:
                with open(log_path) as log:
                    return log.read()
            except FileNotFoundError:
                return ""

        text = wait_until(lambda: "on-stderr" in log_text() and log_text(), 5.0,
                          "the worker's output in the error log")
        self.assertIn("worker-says-hello", text)
        self.assertIn("Booting worker with pid", text)


if __name__ == "__main__":
    unittest.main()
