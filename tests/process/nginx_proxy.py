"""A real nginx in front of corral masters, for the process-level tests of a proxied fleet.

nginx runs in the foreground as the test's child with a prefix of its own (config, pid
file, error log, temp paths), so it touches nothing of the system's nginx. Every nginx a
ProxiedTestCase starts is killed when the test ends, and its error log joins a failure.
"""

import contextlib
import http.client
import json
import os
import shutil
import signal
import subprocess
import unittest

from harness import CorralTestCase, _Capture, free_port, http_get, wait_until

NGINX = shutil.which("nginx") or next(
    (path for path in ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx")
     if os.access(path, os.X_OK)), None)

# How long nginx keeps an idle connection to corral for reuse. It must stay below corral's
# keep_alive (5 s by default): corral closes a connection that was idle for keep_alive, and
# if nginx kept it longer it could send a request on it just as corral closes it. nginx
# retries an idempotent request (GET) on the next server, but never a POST: that client
# gets a 502.
UPSTREAM_KEEPALIVE_TIMEOUT = 4

CONFIG = """\
worker_processes 1;
{user}pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;

events {{
    worker_connections 1024;
}}

http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;

    upstream corral {{
{servers}
        keepalive 16;  # idle connections to corral each nginx worker keeps for reuse
        # Below corral's keep_alive (5 s by default): otherwise corral may close an idle
        # connection just as nginx reuses it, and a POST on it fails with 502 (nginx
        # retries only idempotent requests on the next server).
        keepalive_timeout {keepalive_timeout}s;
    }}

    server {{
        listen {listen};

        location / {{
            proxy_pass http://corral;
            proxy_http_version 1.1;          # keep-alive to corral needs HTTP/1.1...
            proxy_set_header Connection "";  # ...and no "Connection: close" from nginx
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_next_upstream error timeout http_502;
        }}
    }}
}}
"""


def nginx_config(prefix, listen, servers, keepalive_timeout=UPSTREAM_KEEPALIVE_TIMEOUT):
    """nginx.conf text: `listen` (HOST:PORT) proxies to the upstream `servers` (nginx syntax:
    HOST:PORT or unix:PATH). Workers run as root when nginx does, so that they may reach
    unix sockets in the test's directory (mode 0700)."""
    return CONFIG.format(
        prefix=prefix, listen=listen, keepalive_timeout=keepalive_timeout,
        user="user root;\n" if os.geteuid() == 0 else "",
        servers="\n".join(f"        server {server};" for server in servers))


def require_nginx():
    """Skip the test unless nginx is installed."""
    if NGINX is None:
        raise unittest.SkipTest("nginx is not installed (looked for `nginx` on PATH and in "
                                "/usr/sbin): the tests behind nginx need it")


class Nginx:
    """An nginx master (daemon off) with its own prefix directory; kill() stops it all."""

    def __init__(self, prefix, port, servers):
        require_nginx()
        self.prefix = prefix
        self.port = port
        os.makedirs(prefix, exist_ok=True)
        self.config_path = os.path.join(prefix, "nginx.conf")
        self.error_log_path = os.path.join(prefix, "error.log")
        with open(self.config_path, "w") as config:
            config.write(nginx_config(prefix, f"127.0.0.1:{port}", servers))
        # -e: the error log of the start-up, before the config is read (1.19.5 and later).
        self.args = [NGINX, "-p", prefix, "-c", self.config_path, "-e", self.error_log_path,
                     "-g", "daemon off;"]
        self.process = None
        self.final_error_log = None

    def start(self):
        self._output = _Capture()
        self.process = subprocess.Popen(self.args, stdin=subprocess.DEVNULL,
                                        stdout=self._output.file, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        return self

    @property
    def returncode(self):
        return self.process.poll()

    def config(self):
        with open(self.config_path) as config:
            return config.read()

    def error_log(self):
        if self.final_error_log is not None:
            return self.final_error_log
        try:
            with open(self.error_log_path, errors="replace") as log:
                return log.read()
        except FileNotFoundError:
            return ""

    def assert_running(self):
        if self.returncode is not None:
            raise AssertionError(f"nginx exited early with status {self.returncode}:\n"
                                 f"{self._output.text()}{self.error_log()}")

    def wait_serving(self, path="/", timeout=5.0):
        """Poll GET `path` through nginx until it answers 200; return (status, body, headers)."""
        def answer():
            self.assert_running()
            try:
                response = http_get(self.port, path, timeout=1.0)
            except (OSError, http.client.HTTPException):
                return None
            return response if response[0] == 200 else None

        return wait_until(answer, timeout, f"GET {path} through nginx on port {self.port}")

    def info(self):
        """The JSON of GET /info through nginx: the worker that answered."""
        status, body, _ = http_get(self.port, "/info", timeout=2.0)
        if status != 200:
            raise AssertionError(f"GET /info through nginx answered {status}: {body!r}")
        return json.loads(body)

    def quit(self, timeout=5.0):
        """SIGQUIT (graceful shutdown) and wait for nginx to exit; return its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"nginx still running {timeout} s after SIGQUIT") from None

    def kill(self):
        """Kill nginx's master and workers (its own process group), whatever their state."""
        if self.process is None:
            return
        if self.final_error_log is None:
            self.final_error_log = self.error_log()
        # The workers share the master's process group (start_new_session made it theirs),
        # which outlives a master that died first.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        if not self._output.file.closed:
            self._output.close()

    def report(self):
        return (f"\n--- {' '.join(self.args)} (status {self.returncode})\n"
                f"--- output:\n{self._output.text()}--- error log:\n{self.error_log()}")


class ProxiedTestCase(CorralTestCase):
    """A CorralTestCase that starts nginx too (skipped without it); nginx's logs join a
    failure's message."""

    proxies = ()

    def setUp(self):
        require_nginx()
        super().setUp()
        self.proxies = []

    def start_nginx(self, servers, name="nginx"):
        """Start nginx on a free port of 127.0.0.1, proxying to `servers`, and wait until a
        GET / through it answers 200; it is killed when the test ends."""
        proxy = Nginx(os.path.join(self.tmp, name), free_port(), servers)
        proxy.start()
        self.addCleanup(proxy.kill)
        self.proxies.append(proxy)
        proxy.wait_serving()
        return proxy

    def reporters(self):
        return super().reporters() + list(self.proxies)
