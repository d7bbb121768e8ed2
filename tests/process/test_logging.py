"""Error log formats: `<N>` syslog priorities instead of timestamps when stderr is journald's
stream (JOURNAL_STREAM), the plain timestamped text otherwise, and JSON objects one per line
(`log_format = "json"`), from the master and from its workers alike."""

import json
import os
import re
import signal
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for `python3 -m unittest FILE`
import harness
from harness import Corral, CorralTestCase, free_port, wait_until

PRIORITIES = {"DEBUG": 7, "INFO": 6, "WARNING": 4, "ERROR": 3, "CRITICAL": 2}
JOURNAL_LINE = re.compile(r"<(\d)>\[(\d+)\] \[([A-Z]+)\] (.*)")
TEXT_LINE = re.compile(r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}\] \[(\d+)\] \[([A-Z]+)\] (.*)")
ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}")


class CorralUnderJournald(Corral):
    """A master whose JOURNAL_STREAM names its own stderr ("DEVICE:INODE"), as journald
    sets it for a service, or (matching=False) another file on the same device."""

    def __init__(self, *args, matching=True, **kwargs):
        super().__init__(*args, **kwargs)
        self.matching = matching

    def start(self):
        if not os.access(self.args[0], os.X_OK):
            raise AssertionError(f"{self.args[0]} not found: build corral or set CORRAL_BIN_DIR")
        self._stdout = harness._Capture()
        self._stderr = harness._Capture()
        stderr = os.fstat(self._stderr.file.fileno())
        inode = stderr.st_ino if self.matching else os.fstat(self._stdout.file.fileno()).st_ino
        self.env["JOURNAL_STREAM"] = f"{stderr.st_dev}:{inode}"
        self.process = subprocess.Popen(
            self.args, stdin=subprocess.DEVNULL, stdout=self._stdout.file,
            stderr=self._stderr.file, env=self.env, cwd=self.cwd, start_new_session=True)
        return self


def lines_of(text):
    """The lines of a finished log; the last one must be complete."""
    assert text.endswith("\n"), f"the log ends in the middle of a line: {text[-200:]!r}"
    return text.splitlines()


class LogFormats(CorralTestCase):

    def start_under_journald(self, *args, matching=True):
        master = CorralUnderJournald(*args, matching=matching, cwd=self.tmp).start()
        self.masters.append(master)
        self.addCleanup(master.stop)
        return master

    def exercise(self, master, port, log_file=None):
        """Make the master and a worker log: a reload (the old worker logs its drain), a
        worker killed with -9 (an error), then a clean stop. Return the worker pids.
        The log is read from `log_file` if given, else from the master's stderr."""
        def wait_log(pattern):
            def found():
                master.assert_running()
                if log_file is None:
                    return re.search(pattern, master.log())
                with open(log_file) as log:
                    return re.search(pattern, log.read())

            wait_until(found, 5.0, f"{pattern!r} in the log")

        master.wait_serving(port)
        (first,) = master.wait_workers(1)
        master.send_signal(signal.SIGHUP)
        wait_log("Reload complete: generation 2")
        (second,) = master.wait_generation(2, 1)
        wait_log(rf"\[{first}\].*Worker draining")
        os.kill(second, signal.SIGKILL)
        wait_log(rf"Worker {second} \(generation 2\) was killed by signal 9")
        master.wait_serving(port)
        master.send_signal(signal.SIGTERM)
        self.assertEqual(master.wait_exit(), 0)
        return first, second

    def test_journald_lines_carry_priorities_instead_of_timestamps(self):
        """JOURNAL_STREAM names stderr: every line is `<N>[PID] [LEVEL] message` with N the
        level's syslog priority (info 6, warning 4, error 3), workers' lines too."""
        port = free_port()
        master = self.start_under_journald("-w", 1, "-b", f"127.0.0.1:{port}")
        first_worker, _ = self.exercise(master, port)

        lines = lines_of(master.log())
        parsed = [JOURNAL_LINE.fullmatch(line) for line in lines]
        self.assertEqual([line for line, match in zip(lines, parsed) if not match], [])
        for match in parsed:
            self.assertEqual(int(match[1]), PRIORITIES[match[3]], match[0])
        self.assertIn(f"<6>[{master.pid}] [INFO] Starting corral", master.log())
        self.assertIn(f"<6>[{first_worker}] [INFO] Worker draining", master.log())
        self.assertRegex(master.log(), rf"<3>\[{master.pid}\] \[ERROR\] Worker \d+ "
                                       r"\(generation 2\) was killed by signal 9")
        if os.geteuid() == 0:
            self.assertIn(f"<4>[{master.pid}] [WARNING] Workers will run as root", master.log())

    def test_journald_critical_lines_have_priority_2(self):
        """A fatal error (an unknown user) under journald: `<2>[PID] [CRITICAL] ...`."""
        master = self.start_under_journald("-b", f"127.0.0.1:{free_port()}",
                                           "-u", "corral-test-no-such-user")
        self.assertEqual(master.wait_exit(), 1)
        self.assertRegex(master.log(), rf"(?m)^<2>\[{master.pid}\] \[CRITICAL\] "
                                       r'user: unknown user "corral-test-no-such-user"')

    def test_a_journal_stream_that_is_not_stderr_keeps_timestamps(self):
        """JOURNAL_STREAM names another file (stderr was redirected): plain text lines."""
        port = free_port()
        master = self.start_under_journald("-w", 1, "-b", f"127.0.0.1:{port}", matching=False)
        self.exercise(master, port)

        lines = lines_of(master.log())
        self.assertEqual([line for line in lines if not TEXT_LINE.fullmatch(line)], [])
        self.assertNotIn("<6>", master.log())

    def test_an_error_logfile_under_journald_keeps_timestamps(self):
        """JOURNAL_STREAM names stderr but --error-logfile FILE: FILE's lines have times."""
        port = free_port()
        path = os.path.join(self.tmp, "corral.log")
        master = self.start_under_journald("-w", 1, "-b", f"127.0.0.1:{port}",
                                           "--error-logfile", path)
        self.exercise(master, port, log_file=path)

        with open(path) as log:
            lines = lines_of(log.read())
        self.assertEqual([line for line in lines if not TEXT_LINE.fullmatch(line)], [])
        self.assertEqual(master.log(), "")

    def test_json_lines_from_the_master_and_the_workers(self):
        """--log-format json: every line of stderr is a JSON object with exactly time, pid,
        level and message, the workers' lines included."""
        port = free_port()
        master = self.start_corral("-w", 2, "-b", f"127.0.0.1:{port}", "--log-format", "json")
        master.wait_serving(port)
        workers = master.wait_workers(2)
        # USR1 goes to ready workers only: one still booting would not log its reopening.
        wait_until(lambda: len(re.findall(r"Worker \d+ ready in", master.log())) == 2, 5.0,
                   "both workers to be ready")
        master.send_signal(signal.SIGUSR1)
        wait_until(lambda: master.log().count("Worker reopened its log files") == 2, 5.0,
                   "both workers to log that they reopened their logs")
        first_worker, _ = self.exercise_json(master, port)

        records = []
        for line in lines_of(master.log()):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                self.fail(f"not JSON: {line!r}")
        for record in records:
            self.assertEqual(set(record), {"time", "pid", "level", "message"}, record)
            self.assertRegex(record["time"], ISO_TIME)
            self.assertIsInstance(record["pid"], int)
            self.assertIn(record["level"], {"debug", "info", "warning", "error", "critical"})
        by_pid = {}
        for record in records:
            by_pid.setdefault(record["pid"], []).append(record["message"])
        self.assertIn("Starting corral 0.1.0", " ".join(by_pid[master.pid]))
        for worker in workers:
            self.assertIn("Worker reopened its log files", by_pid.get(worker, []))
        self.assertTrue(any(m.startswith("Worker draining") for m in by_pid[first_worker]))
        self.assertTrue(any(r["level"] == "error" and "was killed by signal 9" in r["message"]
                            for r in records))

    def exercise_json(self, master, port):
        (first, *_) = sorted(master.worker_pids())
        master.send_signal(signal.SIGHUP)
        master.wait_log("Reload complete: generation 2")
        second = next(iter(master.wait_generation(2, 2)))
        master.wait_log(re.compile(rf'"pid":{first},"level":"info","message":"Worker draining'))
        os.kill(second, signal.SIGKILL)
        master.wait_log(f"Worker {second} (generation 2) was killed by signal 9")
        master.wait_serving(port)
        master.send_signal(signal.SIGTERM)
        self.assertEqual(master.wait_exit(), 0)
        return first, second

    def test_json_escapes_what_a_message_quotes(self):
        """A message quoting a user name with '"' and '\\' is still one valid JSON object."""
        name = 'no"such\\user'
        master = self.run_corral("-b", f"127.0.0.1:{free_port()}", "--log-format", "json",
                                 "-u", name)
        self.assertEqual(master.returncode, 1)
        records = [json.loads(line) for line in lines_of(master.log())]
        self.assertIn({"level": "critical", "message": f'user: unknown user "{name}"'},
                      [{"level": r["level"], "message": r["message"]} for r in records])


if __name__ == "__main__":
    unittest.main()
