"""The worker beyond the basics: access log, thread pool, worker_connections, many idle
connections, and the example app."""

import http.client
import json
import os
import resource
import signal
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for `python3 -m unittest FILE`
from harness import BIN_DIR, CorralTestCase, free_port, http_get, read_text, wait_until



def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        return int(next(line for line in status if line.startswith("VmRSS")).split()[1])


def unread_bytes(sock):
    """Bytes waiting in the socket's receive queue (FIONREAD)."""
    import fcntl
    import struct
    import termios
    return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]


def server_send_queue(port):
    """The largest Send-Q of the server's established sockets on `port` (ss -tn)."""
    import subprocess
    lines = subprocess.run(["ss", "-tnH", "state", "established", f"( sport = :{port} )"],
                           capture_output=True, text=True, check=True).stdout.splitlines()
    return max((int(line.split()[1]) for line in lines if line.split()), default=0)


def request_on(sock, path="/"):
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
    return sock.recv(65536)


class AccessLog(CorralTestCase):

    def test_the_default_format_is_gunicorns(self):
        path = os.path.join(self.tmp, "access.log")
        port = free_port()
        master = self.start_corral("-b", f"127.0.0.1:{port}", "--access-logfile", path)
        master.wait_serving(port)
        connection = socket.create_connection(("127.0.0.1", port))
        self.addCleanup(connection.close)
        connection.sendall(b"GET /json?x=1 HTTP/1.1\r\nHost: t\r\nReferer: http://r/\r\n"
                           b"User-Agent: probe/1.0\r\n\r\n")
        connection.recv(65536)
        line = wait_until(lambda: next((l for l in read_text(path).splitlines() if "/json" in l), None),
                          5.0, "the request in the access log")
        self.assertRegex(line, r'^127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] '
                               r'"GET /json\?x=1 HTTP/1\.1" 200 27 "http://r/" "probe/1\.0"$')

    def test_json_lines_and_custom_atoms(self):
        port = free_port()
        json_path, custom_path = os.path.join(self.tmp, "a.json"), os.path.join(self.tmp, "c.log")
        master = self.start_corral("-b", f"127.0.0.1:{port}", "--access-logfile", json_path,
                                   "--access-logformat", "json")
        master.wait_serving(port, "/healthz")
        entry = json.loads(wait_until(lambda: read_text(json_path).splitlines()[-1:] or None, 5.0,
                                      "a JSON access log line")[0])
        self.assertEqual((entry["method"], entry["path"], entry["status"]), ("GET", "/healthz", 200))
        self.assertIn("duration_us", entry)
        other = free_port()
        master2 = self.start_corral("-b", f"127.0.0.1:{other}", "--access-logfile", custom_path,
                                    "--access-logformat", "%(m)s %(U)s %(s)s %({content-type}o)s %(p)s")
        master2.wait_serving(other, "/json")
        line = wait_until(lambda: read_text(custom_path).strip() or None, 5.0, "a custom line")
        self.assertRegex(line.splitlines()[-1], r"^GET /json 200 application/json \d+$")

    def test_usr1_reopens_the_access_log(self):
        path = os.path.join(self.tmp, "access.log")
        port = free_port()
        master = self.start_corral("-b", f"127.0.0.1:{port}", "--access-logfile", path)
        master.wait_serving(port)
        wait_until(lambda: "GET / " in read_text(path), 5.0, "the first request in the access log")
        os.rename(path, path + ".1")
        master.send_signal(signal.SIGUSR1)
        master.wait_log("Worker reopened its log files")
        http_get(port, "/healthz")
        wait_until(lambda: "/healthz" in read_text(path), 5.0, "the next request in the new file")
        self.assertNotIn("/healthz", read_text(path + ".1"))


class ThreadPool(CorralTestCase):

    def test_blocking_handlers_run_beside_the_loop(self):
        """Two 600 ms /blocking calls on 2 threads overlap, and / answers meanwhile."""
        port = free_port()
        master = self.start_corral("-w", 1, "-b", f"127.0.0.1:{port}", "--threads", 2)
        master.wait_serving(port)
        started = time.monotonic()
        calls = [threading.Thread(target=http_get, args=(port, "/blocking?ms=600")) for _ in range(2)]
        for call in calls:
            call.start()
        wait_until(lambda: "connections\":3" in http_get(port, "/info")[1].decode(), 2.0,
                   "both blocking calls to be in the worker")
        self.assertEqual(http_get(port)[0], 200)
        self.assertLess(time.monotonic() - started, 0.6, "the loop was blocked")
        for call in calls:
            call.join()
        self.assertLess(time.monotonic() - started, 1.1, "the blocking calls did not overlap")

    def test_an_exception_in_a_blocking_handler_is_a_500(self):
        port = free_port()
        master = self.start_corral("-w", 1, "-b", f"127.0.0.1:{port}")
        master.wait_serving(port)
        self.assertEqual(http_get(port, "/blocking?ms=soon")[0], 500)
        self.assertEqual(http_get(port)[0], 200)
        master.wait_log("Handler for GET /blocking failed")


class Connections(CorralTestCase):

    def test_worker_connections_makes_a_full_worker_stop_accepting(self):
        port = free_port()
        master = self.start_corral("-w", 1, "-b", f"127.0.0.1:{port}", "--worker-connections", 2)
        master.wait_serving(port)
        first, second = (socket.create_connection(("127.0.0.1", port)) for _ in range(2))
        self.assertIn(b"200 OK", request_on(first))
        self.assertIn(b"200 OK", request_on(second))
        third = socket.create_connection(("127.0.0.1", port), timeout=0.3)
        self.addCleanup(third.close)
        third.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        with self.assertRaises(socket.timeout):
            third.recv(100)  # queued: the worker does not accept a third
        first.close()
        third.settimeout(5)
        self.assertIn(b"200 OK", third.recv(65536))
        second.close()

    def test_5000_idle_connections_leave_the_worker_serving_in_bounded_memory(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard < 5200:
            self.skipTest(f"RLIMIT_NOFILE hard limit {hard} is below 5200")
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 5200), hard))
        self.addCleanup(resource.setrlimit, resource.RLIMIT_NOFILE, (soft, hard))
        port = free_port()
        master = self.start_corral("-w", 1, "-b", f"127.0.0.1:{port}", "--keep-alive", 60,
                                   "--worker-connections", 6000, "--backlog", 8192)
        master.wait_serving(port)
        [worker] = master.wait_workers(1)
        idle = []
        self.addCleanup(lambda: [s.close() for s in idle])
        for _ in range(5000):
            idle.append(socket.create_connection(("127.0.0.1", port)))
        wait_until(lambda: json.loads(http_get(port, "/info")[1])["connections"] >= 5001, 10.0,
                   "the worker to hold 5000 connections")
        self.assertEqual(http_get(port)[0], 200)
        if os.environ.get("CORRAL_SANITIZED") == "1":
            return  # AddressSanitizer's redzones and quarantine make RSS meaningless
        with open(f"/proc/{worker}/status") as status:
            rss_kb = int(next(l for l in status if l.startswith("VmRSS")).split()[1])
        # A 4 KiB read buffer, the connection and its coroutine frames: about 8 KiB each
        # (measured 7.9); 10 KiB is the bound.
        self.assertLess(rss_kb, 5000 * 10 + 8000, f"worker RSS {rss_kb} KiB")


class StreamedResponses(CorralTestCase):

    def test_a_streamed_body_arrives_chunked_as_it_is_produced(self):
        """GET /stream: HTTP/1.1 gets Transfer-Encoding: chunked and every line; the
        connection stays usable for the next request."""
        port = free_port()
        master = self.start_corral("-w", 1, "-b", f"127.0.0.1:{port}")
        master.wait_serving(port)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        self.addCleanup(connection.close)
        connection.request("GET", "/stream?lines=200&ms=1")
        response = connection.getresponse()
        self.assertEqual(response.getheader("Transfer-Encoding"), "chunked")
        lines = response.read().decode().splitlines()
        self.assertEqual(lines, [f"line {n}" for n in range(1, 201)])
        connection.request("GET", "/healthz")
        self.assertEqual(connection.getresponse().status, 200)

    def test_a_slow_client_makes_the_producer_wait_so_memory_stays_bounded(self):
        """GET /stream of 20,000 lines of 64 KiB (1.3 GB) to a client that does not read:
        the producer waits at its write, the worker's memory stays flat, and the lines
        arrive intact once the client reads."""
        port = free_port()
        master = self.start_corral("-w", 1, "-b", f"127.0.0.1:{port}")
        master.wait_serving(port)
        [worker] = master.wait_workers(1)
        rss_before = rss_kib(worker)
        sock = socket.socket()
        self.addCleanup(sock.close)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sock.connect(("127.0.0.1", port))
        sock.sendall(b"GET /stream?lines=20000&pad=65536 HTTP/1.1\r\nHost: test\r\n\r\n")
        # The client's receive buffer fills; the worker's send buffer behind it too.
        wait_until(lambda: unread_bytes(sock) >= 32768, 5.0, "the stream to fill the client's buffer")
        wait_until(lambda: server_send_queue(port) >= 65536, 5.0,
                   "the worker's socket to hold unsent data")
        grown = rss_kib(worker) - rss_before
        if os.environ.get("CORRAL_SANITIZED") != "1":  # ASan's quarantine makes RSS meaningless
            self.assertLess(grown, 16 * 1024, f"the worker grew by {grown} KiB while the "
                            "client did not read: the producer did not wait")
        sock.settimeout(5)
        data = b""
        while data.count(b"\n") < 100:
            data += sock.recv(1 << 20)
        body = data.partition(b"\r\n\r\n")[2]
        first_chunk_line = body.split(b"\r\n", 2)[1]
        self.assertTrue(first_chunk_line.startswith(b"line 1."), first_chunk_line[:20])
        self.assertEqual(len(first_chunk_line), 65536)  # padded to 64 KiB with its newline

    def test_http_1_0_gets_the_body_until_the_connection_closes(self):
        port = free_port()
        master = self.start_corral("-w", 1, "-b", f"127.0.0.1:{port}")
        master.wait_serving(port)
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.addCleanup(sock.close)
        sock.sendall(b"GET /stream?lines=3 HTTP/1.0\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        self.assertIn(b"Connection: close", head)
        self.assertNotIn(b"Transfer-Encoding", head)
        self.assertEqual(body, b"line 1\nline 2\nline 3\n")


class ExampleApp(CorralTestCase):

    def test_the_example_notes_app_runs_under_corral(self):
        port = free_port()
        master = self.start_corral("-w", 1, "-b", f"127.0.0.1:{port}", "--",
                                   os.path.join(BIN_DIR, "example-app"))
        master.wait_serving(port, "/notes")
        connection = socket.create_connection(("127.0.0.1", port))
        self.addCleanup(connection.close)
        body = b'{"text": "buy milk and milk"}'
        connection.sendall(b"POST /notes HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%s"
                           % (len(body), body))
        self.assertIn(b'201 Created', connection.recv(65536))
        self.assertEqual(json.loads(http_get(port, "/notes/1")[1])["text"], "buy milk and milk")
        self.assertEqual(json.loads(http_get(port, "/stats")[1]), {"buy": 1, "milk": 2, "and": 1})
        self.assertEqual(http_get(port, "/notes/7")[0], 404)
        master.wait_log("Notes store open")


if __name__ == "__main__":
    unittest.main()
