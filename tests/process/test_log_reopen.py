"""USR1 reopens the error log, as logrotate's create mode needs after it renamed the file."""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for `python3 -m unittest FILE`
from harness import CORRAL, CORRAL_WORKER, CorralTestCase, free_port, http_get, read_text, wait_until



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


def dropped_lines(metrics_port):
    """corral_access_log_dropped_lines_total from the master's /metrics."""
    status, body, _ = http_get(metrics_port, "/metrics")
    match = re.search(rb"^corral_access_log_dropped_lines_total (\d+)$", body, re.MULTILINE)
    return int(match.group(1)) if status == 200 and match else None


class LogFilesThatCannotBeOpened(CorralTestCase):

    def start_logging(self, accesslog):
        self.port, self.metrics_port = free_port(), free_port()
        master = self.start_corral("-w", 1, "-b", f"127.0.0.1:{self.port}", "--access-logfile",
                                   accesslog, "--metrics-bind", f"127.0.0.1:{self.metrics_port}")
        master.wait_serving(self.port)
        master.wait_workers(1)
        return master

    def test_an_access_log_in_a_missing_directory_is_an_error_each_time_and_retried_on_usr1(self):
        """The directory does not exist: an ERROR at start and at each USR1, lines counted
        as dropped in /metrics; once the directory exists, USR1 opens the file."""
        directory = os.path.join(self.tmp, "logs")
        accesslog = os.path.join(directory, "access.log")
        master = self.start_logging(accesslog)
        master.wait_log(f"open() failed while opening the access log {accesslog}: No such file "
                        "or directory; requests are not logged until it can be opened")
        for _ in range(3):
            self.assertEqual(http_get(self.port)[0], 200)
        wait_until(lambda: (dropped_lines(self.metrics_port) or 0) >= 3, 5.0,
                   "3 dropped lines in /metrics")

        master.send_signal(signal.SIGUSR1)
        wait_until(lambda: master.log().count(f"opening the access log {accesslog}") == 2, 5.0,
                   "a second ERROR after USR1")
        os.mkdir(directory)
        master.send_signal(signal.SIGUSR1)
        wait_until(lambda: os.path.exists(accesslog), 5.0, "USR1 to open the access log")
        self.assertEqual(http_get(self.port, "/json")[0], 200)
        wait_until(lambda: "GET /json" in read_text(accesslog), 5.0, "a line in the access log")

    def test_a_deleted_log_directory_on_usr1_is_an_error_and_retried_on_the_next(self):
        """logrotate-like: the directory is removed, USR1 cannot open a new file (ERROR);
        once it is back, the next USR1 does."""
        directory = os.path.join(self.tmp, "logs")
        os.mkdir(directory)
        accesslog = os.path.join(directory, "access.log")
        master = self.start_logging(accesslog)
        shutil.rmtree(directory)
        master.send_signal(signal.SIGUSR1)
        master.wait_log(f"opening the access log {accesslog}: No such file or directory; still "
                        "writing to the old file until it can be opened")
        os.mkdir(directory)
        master.send_signal(signal.SIGUSR1)
        wait_until(lambda: os.path.exists(accesslog), 5.0, "the next USR1 to open the access log")
        self.assertEqual(http_get(self.port, "/json")[0], 200)
        wait_until(lambda: "GET /json" in read_text(accesslog), 5.0, "a line in the new file")

    def test_an_error_log_that_cannot_be_reopened_is_an_error_each_time(self):
        """--error-logfile in a directory that is then removed: each USR1 logs an ERROR (to
        the old file, the only place left), and the first USR1 after it is back reopens."""
        directory = os.path.join(self.tmp, "logs")
        os.mkdir(directory)
        errorlog = os.path.join(directory, "error.log")
        port = free_port()
        master = self.start_corral("-w", 1, "-b", f"127.0.0.1:{port}", "--error-logfile",
                                   errorlog)
        master.wait_serving(port)
        wait_until(lambda: "ready in" in read_text(errorlog), 5.0, "the worker's READY")
        old_log = open(errorlog)  # the test's own view of the file the master keeps writing
        self.addCleanup(old_log.close)
        shutil.rmtree(directory)
        for attempt in (1, 2):
            master.send_signal(signal.SIGUSR1)
            wait_until(lambda: old_log.seek(0) == 0 and old_log.read().count(
                "still logging to the old file") == attempt, 5.0, f"ERROR number {attempt}")
        os.mkdir(directory)
        master.send_signal(signal.SIGUSR1)
        wait_until(lambda: f"Reopened the error log {errorlog}" in read_text(errorlog), 5.0,
                   "the master to log to the new file")


if __name__ == "__main__":
    unittest.main()

class AccessLogThatNobodyReads(CorralTestCase):
    """An access log into a pipe that nobody reads: the worker must keep serving, and the
    lines it cannot write are counted as dropped, not waited for."""

    def serve_while_the_pipe_is_full(self, port, metrics_port):
        big = "x" * 2000  # in every line (%(a)s): 600 requests are 1.2 MB of access log
        for _ in range(30):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
                request = f"GET / HTTP/1.1\r\nHost: a\r\nUser-Agent: {big}\r\n\r\n"
                client.sendall(request.encode() * 20)
                answered = b""
                while answered.count(b"HTTP/1.1 200") < 20:
                    chunk = client.recv(65536)
                    self.assertTrue(chunk, "the worker closed the connection")
                    answered += chunk
        wait_until(lambda: (dropped_lines(metrics_port) or 0) > 0, 5.0,
                   "dropped lines in /metrics")
        self.assertEqual(http_get(port)[0], 200)

    def test_a_named_pipe_nobody_reads(self):
        fifo = os.path.join(self.tmp, "access.fifo")
        os.mkfifo(fifo)
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # there, and never reading
        self.addCleanup(os.close, reader)
        port, metrics_port = free_port(), free_port()
        master = self.start_corral("-w", 1, "-b", f"127.0.0.1:{port}", "--access-logfile",
                                   fifo, "--metrics-bind", f"127.0.0.1:{metrics_port}")
        master.wait_serving(port)
        self.serve_while_the_pipe_is_full(port, metrics_port)

    def test_stderr_a_pipe_nobody_reads(self):
        """--access-logfile - with stderr a pipe (as under a supervisor that stopped reading):
        the worker's stderr is shared with the master, so the access log writes through a
        non-blocking descriptor of its own."""
        port, metrics_port = free_port(), free_port()
        master = subprocess.Popen(
            [CORRAL, "-w", "1", "-b", f"127.0.0.1:{port}", "--access-logfile", "-",
             "--metrics-bind", f"127.0.0.1:{metrics_port}"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            cwd=self.tmp, start_new_session=True,
            env={**{k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")},
                 "XDG_RUNTIME_DIR": self.runtime_dir})
        self.addCleanup(master.stderr.close)
        self.addCleanup(lambda: master.poll() is None and os.killpg(master.pid, signal.SIGKILL))
        wait_until(lambda: answers(lambda: dropped_lines(metrics_port) is not None) and
                   answers(lambda: http_get(port, timeout=1.0)[0] == 200), 10.0,
                   "corral to serve")
        self.serve_while_the_pipe_is_full(port, metrics_port)


def answers(probe):
    """probe(), or False while the server does not accept connections yet."""
    try:
        return probe()
    except OSError:
        return False

