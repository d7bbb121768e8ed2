"""Helpers for process-level tests: start a corral master, poll for states, talk HTTP.

Tests never sleep to wait for a state: they poll with a deadline (wait_until), and every
master started through CorralTestCase is killed with all its workers when the test ends.
"""

import contextlib
import glob
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN_DIR = os.environ.get("CORRAL_BIN_DIR", os.path.join(REPO_ROOT, "build", "bin"))
CORRAL = os.path.join(BIN_DIR, "corral")

CORRAL_WORKER = os.path.join(BIN_DIR, "corral-worker")
WRK = shutil.which("wrk")  # the HTTP load generator of the tests under load

POLL_INTERVAL = 0.02  # seconds between two looks at a state we wait for
# An ASan+UBSan build (CORRAL_SANITIZED=1) is several times slower and larger: tests at
# scale use smaller counts there.
SANITIZED = os.environ.get("CORRAL_SANITIZED") == "1"


def wait_until(predicate, timeout, what):
    """Call `predicate` until it returns a true value and return that; fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(POLL_INTERVAL)


def read_text(path):
    """A file's text so far ("" while it does not exist): for logs a test polls."""
    try:
        with open(path, errors="replace") as file:
            return file.read()
    except FileNotFoundError:
        return ""


def free_port(host="127.0.0.1"):
    """A TCP port that nothing listens on at the moment."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def ipv6_loopback_available():
    """Whether this machine can bind a socket to ::1."""
    try:
        free_port("::1")
    except OSError:
        return False
    return True


def accepts_connections(port, host="127.0.0.1"):
    """Whether something accepts TCP connections on `host`:`port`."""
    try:
        socket.create_connection((host, port), timeout=1.0).close()
    except OSError:
        return False
    return True


def process_state(pid):
    """The state letter of `pid` from /proc (R, S, Z...), or None if there is no such process."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            # The command name may contain spaces and parentheses: the state follows the last ')'.
            return stat.read().rpartition(")")[2].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return None


def is_zombie(pid):
    """Whether `pid` has exited but was not reaped by its parent."""
    return process_state(pid) == "Z"


def pid_alive(pid):
    """Whether `pid` is a running process (neither gone nor a zombie)."""
    return process_state(pid) not in (None, "Z", "X")


def live_children(pid):
    """Pids of the live children of `pid`, whichever of its threads forked them."""
    children = set()
    for task_children in glob.glob(f"/proc/{pid}/task/*/children"):
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            with open(task_children) as listing:
                children.update(int(child) for child in listing.read().split())
    return {child for child in children if pid_alive(child)}


def worker_generation(pid):
    """The generation the master gave worker `pid` (CORRAL_WORKER_GENERATION at its exec), or
    None."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as environ:
            entries = environ.read().split(b"\0")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    for entry in entries:
        if entry.startswith(b"CORRAL_WORKER_GENERATION="):
            return int(entry.partition(b"=")[2])
    return None


def socket_inode(pid, fd):
    """The inode of the socket that descriptor `fd` of `pid` refers to ("socket:[N]"), or None."""
    try:
        target = os.readlink(f"/proc/{pid}/fd/{fd}")
    except (FileNotFoundError, ProcessLookupError):
        return None
    return target if target.startswith("socket:") else None


class UnixHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection over a unix stream socket."""

    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def http_connection(address, timeout=5.0):
    """A connection to `address`: a port on 127.0.0.1, a (host, port) pair, or "unix:PATH"."""
    if isinstance(address, str) and address.startswith("unix:"):
        return UnixHTTPConnection(address.removeprefix("unix:"), timeout)
    host, port = address if isinstance(address, tuple) else ("127.0.0.1", address)
    return http.client.HTTPConnection(host, port, timeout=timeout)


def http_get(address, path="/", timeout=5.0):
    """GET `path` from `address` on a new connection; return (status, body, headers)."""
    connection = http_connection(address, timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read(), response.headers
    finally:
        connection.close()


class _Capture:
    """A file a child process writes to, readable while it writes and after it is closed."""

    def __init__(self):
        self.file = tempfile.TemporaryFile()
        self.final_text = None

    def text(self):
        if self.final_text is not None:
            return self.final_text
        fd = self.file.fileno()
        # pread leaves the file offset alone: the child shares it and keeps appending.
        return os.pread(fd, os.fstat(fd).st_size, 0).decode(errors="replace")

    def close(self):
        self.final_text = self.text()
        self.file.close()


class Corral:
    """A corral master process with its stdout and stderr captured; stop() kills it all."""

    def __init__(self, *args, env=None, cwd=None, pass_fds=(), binary=CORRAL):
        self.args = [binary, *(str(arg) for arg in args)]
        # Settings in the caller's environment (CORRAL_WORKERS...) must not leak into tests.
        self.env = {key: value for key, value in os.environ.items()
                    if not key.startswith("CORRAL_") and key != "WEB_CONCURRENCY"}
        self.env.update(env or {})
        self.cwd = cwd
        self.pass_fds = pass_fds  # descriptors the master inherits under the same numbers
        self.process = None
        self.stopped = False
        self.status_when_stopped = None  # set by stop(): None if the master was still running
        self.known_workers = set()

    def start(self):
        if not os.access(self.args[0], os.X_OK):
            raise AssertionError(f"{self.args[0]} not found: build corral or set CORRAL_BIN_DIR")
        self._stdout = _Capture()
        self._stderr = _Capture()
        # A session of its own keeps signals sent to the test's process group away from
        # corral, and lets stop() kill the master's whole process group.
        self.process = subprocess.Popen(
            self.args, stdin=subprocess.DEVNULL, stdout=self._stdout.file,
            stderr=self._stderr.file, env=self.env, cwd=self.cwd, pass_fds=self.pass_fds,
            start_new_session=True)
        return self

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    @property
    def pid(self):
        return self.process.pid

    @property
    def returncode(self):
        """The master's exit status, or None while it runs."""
        return self.process.poll()

    def log(self):
        """What the master (and its workers) wrote to stderr so far."""
        return self._stderr.text()

    def output(self):
        """What the master wrote to stdout so far."""
        return self._stdout.text()

    def send_signal(self, signum):
        self.process.send_signal(signum)

    def worker_pids(self):
        """Pids of the live workers: the master's children."""
        workers = live_children(self.pid)
        self.known_workers |= workers
        return workers

    def wait_log(self, text, timeout=5.0):
        """Wait until the log contains `text` (a str, or a compiled regex); return the match."""
        def found():
            log = self.log()
            match = text.search(log) if isinstance(text, re.Pattern) else text in log and text
            if not match:
                self.assert_running()
            return match

        return wait_until(found, timeout, f"{text!r} in the master's log")

    def wait_generation(self, generation, count, timeout=5.0):
        """Wait until exactly `count` live workers remain, all of `generation`; return them."""
        def workers():
            self.assert_running()
            pids = self.worker_pids()
            if len(pids) == count and all(worker_generation(p) == generation for p in pids):
                return pids
            return None

        return wait_until(workers, timeout,
                          f"exactly {count} live workers, all of generation {generation}")

    def wait_new_master(self, timeout=20.0):
        """After a binary upgrade: the pid of the master that took over from this one."""
        match = self.wait_log(re.compile(r"Upgrade complete: this master \(pid (\d+)\)"),
                              timeout)
        return int(match.group(1))

    def assert_running(self):
        if self.returncode is not None:
            raise AssertionError(f"corral exited early with status {self.returncode}")

    def wait_serving(self, address, path="/", timeout=5.0):
        """Poll GET `path` on `address` until it answers 200; return (status, body, headers)."""
        def answer():
            self.assert_running()
            try:
                response = http_get(address, path, timeout=1.0)
            except (OSError, http.client.HTTPException):
                return None
            return response if response[0] == 200 else None

        return wait_until(answer, timeout, f"GET {path} on {address} to answer 200")

    def wait_workers(self, count, timeout=5.0):
        """Wait until the master has exactly `count` (>= 1) live workers; return their pids."""
        def workers():
            self.assert_running()
            pids = self.worker_pids()
            return pids if len(pids) == count else None

        return wait_until(workers, timeout, f"exactly {count} live workers")

    def wait_exit(self, timeout=10.0):
        """Wait for the master to exit; return its exit status."""
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"corral still running after {timeout} s") from None

    def stop(self):
        """Kill the master and every worker it started, whatever state they are in."""
        if self.process is None or self.stopped:
            return
        self.stopped = True
        self.status_when_stopped = self.returncode
        if self.status_when_stopped is None:
            self.worker_pids()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        for pid in self.known_workers:  # in case corral moved them to other process groups
            if pid_alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self.process.wait()
        self._stdout.close()
        self._stderr.close()

    def report(self):
        """The command line, how it ended and the captured output, for a failure message."""
        status = self.status_when_stopped
        if status is None:
            ending = "still running when the test ended"
        else:
            ending = f"exit status {status}" if status >= 0 else f"killed by signal {-status}"
        return (f"\n--- {' '.join(self.args)} ({ending})\n"
                f"--- stdout:\n{self.output()}--- stderr:\n{self.log()}")


def corral_control(*args, timeout=30.0):
    """Run `corral ARGS...` as a control client (status, reload, upgrade...); return the
    completed process, with its output as text."""
    return subprocess.run([CORRAL, *(str(arg) for arg in args)], capture_output=True, text=True,
                          timeout=timeout)


def corral_status(pidfile):
    """`corral status --json --pid PIDFILE` as a dict."""
    done = corral_control("status", "--json", "--pid", pidfile)
    if done.returncode != 0:
        raise AssertionError(f"corral status failed ({done.returncode}): {done.stderr}")
    return json.loads(done.stdout)


def requests_served(port):
    """The request counter of the worker that answers GET /info on `port`, or None."""
    try:
        status, body, _ = http_get(port, "/info", timeout=2.0)
    except (OSError, http.client.HTTPException):
        return None
    return json.loads(body)["requests"] if status == 200 else None


def wait_for_load(port, at_least=100, timeout=5.0):
    """Wait until a worker on `port` says it served `at_least` requests: the load is on."""
    wait_until(lambda: (requests_served(port) or 0) >= at_least, timeout,
               f"a worker on port {port} to have served {at_least} requests")


class Wrk:
    """A run of wrk (one thread, keep-alive connections unless `new_connections`: then one
    connection per request) against 127.0.0.1:`port`."""

    def __init__(self, port, seconds=3, connections=64, path="/", script=None,
                 new_connections=False):
        if WRK is None:
            raise unittest.SkipTest("wrk is not installed")
        self.args = [WRK, "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "2s",
                     *(["-s", script] if script else []),
                     *(["-H", "Connection: close"] if new_connections else []),
                     f"http://127.0.0.1:{port}{path}"]
        self.seconds = seconds
        self.process = subprocess.Popen(self.args, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True)
        self.text = None

    def finish(self):
        """Wait for wrk to end; return its report (stdout and stderr)."""
        if self.text is None:
            try:
                self.text, _ = self.process.communicate(timeout=self.seconds + 10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.text = self.process.communicate()[0]
                raise AssertionError(f"wrk did not end:\n{self.text}") from None
        return self.text

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()

    def requests(self):
        """How many requests wrk completed; 0 if its report says none."""
        match = re.search(r"^\s*(\d+) requests in ", self.finish(), re.MULTILINE)
        return int(match.group(1)) if match else 0

    def assert_clean(self, test):
        """Fail `test` unless wrk completed requests without a socket error or a non-2xx/3xx."""
        report = self.finish()
        test.assertEqual(self.process.returncode, 0, f"wrk failed:\n{report}")
        test.assertNotIn("Socket errors", report, f"wrk saw socket errors:\n{report}")
        test.assertNotIn("Non-2xx or 3xx responses", report, f"wrk saw HTTP errors:\n{report}")
        test.assertGreater(self.requests(), 0, f"wrk completed no request:\n{report}")


class CorralTestCase(unittest.TestCase):
    """Starts corral masters, kills them after each test and adds their logs to failures."""

    masters = ()  # the masters this test started, in order

    def setUp(self):
        self.masters = []
        self.tmp = self.enterContext(tempfile.TemporaryDirectory(prefix="corral-test-"))
        # The test's own user runtime directory: a master that names no control socket
        # makes it there, not in /run where the masters of other tests would be found.
        self.runtime_dir = os.path.join(self.tmp, "run")
        os.mkdir(self.runtime_dir, 0o700)

    def start_corral(self, *args, env=None, cwd=None, pass_fds=(), binary=CORRAL):
        """Start a master with `args` in the test's directory (where no corral.toml is found
        unless the test writes one); it is killed with its workers when the test ends."""
        env = {"XDG_RUNTIME_DIR": self.runtime_dir, **(env or {})}
        master = Corral(*args, env=env, cwd=cwd or self.tmp, pass_fds=pass_fds,
                        binary=binary).start()
        self.masters.append(master)
        self.addCleanup(master.stop)
        return master

    def start_workers(self, count, *args, env=None):
        """Start a master with `count` workers on a free port and `args`; return it, the
        port and the workers' pids once all of them serve: the usual start of a test."""
        port = free_port()
        master = self.start_corral("-w", count, "-b", f"127.0.0.1:{port}", *args, env=env)
        master.wait_serving(port)
        return master, port, master.wait_workers(count)

    def start_load(self, port, at_least=100, **wrk_options):
        """Start wrk against `port` (start_wrk's options); return it once a worker has
        served `at_least` requests, so what the test does next happens under load."""
        wrk = self.start_wrk(port, **wrk_options)
        wait_for_load(port, at_least=at_least)
        return wrk

    def start_under_fd_limit(self, limit, *args, env=None):
        """start_corral(*args) under prlimit: soft and hard RLIMIT_NOFILE both `limit`."""
        return self.start_corral(f"--nofile={limit}:{limit}", CORRAL, *args, env=env,
                                 binary=shutil.which("prlimit"))

    def start_wrk(self, port, seconds=3, connections=64, path="/", script=None,
                  new_connections=False):
        """Start wrk against `port` (`script`: a wrk Lua file, e.g. for POSTs); it is killed
        when the test ends. Under ASan (CORRAL_SANITIZED=1) everything is slower, so the
        load runs three times as long: the changes a test makes must happen during it."""
        if os.environ.get("CORRAL_SANITIZED") == "1":
            seconds *= 3
        wrk = Wrk(port, seconds, connections, path, script, new_connections)
        self.addCleanup(wrk.kill)
        return wrk

    def run_corral(self, *args, env=None, pass_fds=(), timeout=10.0):
        """Run a master that is expected to exit by itself; return it once it has."""
        master = self.start_corral(*args, env=env, pass_fds=pass_fds)
        master.wait_exit(timeout)
        return master

    def write_file(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as file:
            file.write(text)
        return path

    def reporters(self):
        """What adds its output to a failure's message: the masters (subclasses add more)."""
        return list(self.masters)

    def run(self, result=None):
        seen = (len(result.failures), len(result.errors)) if result else (0, 0)
        result = super().run(result)
        for problems, already_seen in zip((result.failures, result.errors), seen):
            for index in range(already_seen, len(problems)):
                test, trace = problems[index]
                problems[index] = (test, trace + "".join(r.report() for r in self.reporters()))
        return result
