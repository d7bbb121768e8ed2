"""HTTP/1.1 framing on real sockets: transfer codings, Content-Length, Host and chunk framing,
each answered at once; and the lingering close after an answer given before the request was
read whole.

The cases are the request seeds in tests/fuzz/seeds/, whose names give the answers expected
(`400-te-identity-alone.http`: one 400, then the server closes). The fuzzer starts from the
same files. Each one goes to corral-echo-worker, run with the fuzzer's limits.
"""

import os
import re
import select
import signal
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for `python3 -m unittest FILE`
from conformance_corpus import parse_responses
from harness import BIN_DIR, CORRAL_WORKER, REPO_ROOT, CorralTestCase, free_port, http_get, \
    wait_until

ECHO_WORKER = os.path.join(BIN_DIR, "corral-echo-worker")
SEEDS = os.path.join(REPO_ROOT, "tests", "fuzz", "seeds")
# tests/fuzz/http_connection_fuzzer.cpp's limits, which the seeds' names assume.
FUZZER_LIMITS = ("--limit-request-line", 200, "--limit-request-fields", 8,
                 "--limit-request-field-size", 120, "--max-body-size", 4096)

SLOWER = 3 if os.environ.get("CORRAL_SANITIZED") == "1" else 1
# An answer "at once": well before header_timeout (10 s) or body_timeout (30 s) could end a
# request that the parser would otherwise wait on.
ANSWER_TIMEOUT = 2.0 * SLOWER
# worker/src/http1/connection.cpp's bounds on the lingering close, and server_limits' drain_period.
LINGERING_TIME = 5.0
LINGERING_TIMEOUT = 2.0
LINGERING_BYTES = 4 << 20
DRAIN_PERIOD = 1.0
KEEPS_SENDING = 1 << 20  # what a client sends after a request answered early: under the bound
TRICKLE_INTERVAL = 0.05  # s between two bytes of a client that never stops sending


def load_seeds():
    """[(file name, [statuses expected], bytes)] for every seed, in name order."""
    seeds = []
    for name in sorted(os.listdir(SEEDS)):
        if not name.endswith(".http"):
            continue  # the README
        match = re.fullmatch(r"(\d{3}(?:\+\d{3})*)-[a-z0-9-]+\.http", name)
        if not match:
            raise AssertionError(f"{name}: a seed's name starts with its statuses, as 400-what.http")
        with open(os.path.join(SEEDS, name), "rb") as file:
            seeds.append((name, [int(s) for s in match.group(1).split("+")], file.read()))
    return seeds


def seed(name):
    return next(wire for file, _, wire in load_seeds() if file == name)


def read_until(sock, deadline, enough=lambda data: False):
    """Read until the server closes ("closed"), resets ("reset"), `enough(data)` holds or the
    deadline passes (None); return (data, ending)."""
    data = bytearray()
    while not enough(bytes(data)):
        left = deadline - time.monotonic()
        if left <= 0:
            return bytes(data), None
        if not select.select([sock], [], [], left)[0]:
            continue
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return bytes(data), "reset"
        if not chunk:
            return bytes(data), "closed"
        data += chunk
    return bytes(data), None


def statuses(data):
    return [response.status for response in parse_responses(data, False)[0]]


def has_answers(count):
    return lambda data: len(statuses(data)) >= count


class HttpFraming(CorralTestCase):

    def start_worker(self, worker=ECHO_WORKER):
        """A one-worker corral with the fuzzer's limits; its port once it answers."""
        self.assertTrue(os.access(worker, os.X_OK), f"{worker} not found: build it first")
        port = free_port()
        master = self.start_corral("-w", 1, "-b", f"127.0.0.1:{port}", *FUZZER_LIMITS,
                                   "--", worker)
        master.wait_serving(port)
        return port

    def connect(self, port):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5.0)
        self.addCleanup(sock.close)
        return sock

    def test_each_seed_gets_the_answers_its_name_gives_and_nothing_more(self):
        """Every seed gets exactly the statuses its name lists, at once. After an error the
        server closes with nothing more (bytes after a refused head or body are never a
        request); after 2xx answers it closes when the client ends."""
        port = self.start_worker()
        seeds = load_seeds()
        self.assertGreaterEqual(len(seeds), 30)
        for name, expected, wire in seeds:
            with self.subTest(seed=name):
                sock = self.connect(port)
                sock.sendall(wire)
                deadline = time.monotonic() + ANSWER_TIMEOUT
                if expected[-1] < 400:  # kept alive: end our side once all are answered
                    data, ending = read_until(sock, deadline, has_answers(len(expected)))
                    self.assertIsNone(ending, f"the server ended the connection early: {data!r}")
                    sock.shutdown(socket.SHUT_WR)
                    more, ending = read_until(sock, time.monotonic() + ANSWER_TIMEOUT)
                    data += more
                else:  # the server must close by itself, without waiting for our end
                    data, ending = read_until(sock, deadline)
                self.assertEqual(statuses(data), expected, data)
                self.assertEqual(parse_responses(data, False)[1], b"", "bytes after the answers")
                self.assertEqual(ending, "closed", f"ending: {ending}, received {data!r}")
                self.assertNotIn(b'"/smuggled"', data, "a body was served as a request")
                sock.close()

    def test_an_early_answer_reaches_a_client_that_keeps_sending(self):
        """414, 431, 413 and a 400 mid-body are answered before the request is read whole. A
        client that sends 1 MiB more before it reads must read the whole answer, then an
        orderly close: not a reset, which can destroy the answer before it is read."""
        port = self.start_worker()
        for name in ("414-request-line-too-long.http", "431-header-line-too-long.http",
                     "413-content-length-over-max-body-size.http",
                     "400-bad-chunk-size-mid-body.http"):
            with self.subTest(seed=name):
                sock = self.connect(port)
                try:
                    sock.sendall(seed(name) + b"x" * KEEPS_SENDING)
                except OSError as error:
                    self.fail(f"the server reset the connection while the client sent: {error}")
                data, ending = read_until(sock, time.monotonic() + ANSWER_TIMEOUT)
                self.assertEqual(statuses(data), [int(name[:3])], data)
                self.assertEqual(ending, "closed", f"ending: {ending}, received {data!r}")
                sock.close()

    def test_lingering_drops_at_most_its_byte_bound(self):
        """A client that sends without pause after an early answer is cut off once the worker
        has dropped 4 MiB for it: sooner than the time bound would end it."""
        port = self.start_worker()
        sock = self.connect(port)
        sock.sendall(seed("431-header-line-too-long.http"))
        started = time.monotonic()
        sent, block = 0, b"x" * 65536
        with self.assertRaises((BrokenPipeError, ConnectionResetError),
                               msg=f"still lingering after {LINGERING_TIME} s"):
            while time.monotonic() - started < LINGERING_TIME:
                sent += sock.send(block)
        elapsed = time.monotonic() - started
        self.assertLess(elapsed, LINGERING_TIME - 1.0, f"cut off after {sent} bytes")
        data, _ = read_until(sock, time.monotonic() + ANSWER_TIMEOUT)
        self.assertEqual(statuses(data), [431], data)

    def trickle(self, sock, until):
        """Send a byte every TRICKLE_INTERVAL (a pace, not a wait for a state) and read what
        comes, until a send fails or `until()` holds; return (data read, whether it ended
        with the client's FIN seen, the time the send failed or None)."""
        data, finished = bytearray(), False
        while not until():
            if not finished and select.select([sock], [], [], 0)[0]:
                try:
                    chunk = sock.recv(65536)
                except ConnectionResetError:
                    return bytes(data), finished, time.monotonic()
                finished = not chunk
                data += chunk
            try:
                sock.send(b"x")
            except (BrokenPipeError, ConnectionResetError):
                return bytes(data), finished, time.monotonic()
            time.sleep(TRICKLE_INTERVAL)
        return bytes(data), finished, None

    def test_lingering_ends_at_its_time_bound_for_a_client_that_never_stops(self):
        """A client that keeps sending a byte at a time reads its answer and the server's
        FIN at once, and the worker closes after lingering_time (5 s) however it sends."""
        port = self.start_worker()
        sock = self.connect(port)
        sock.sendall(seed("431-header-line-too-long.http"))
        started = time.monotonic()
        give_up = started + LINGERING_TIME + 3.0 * SLOWER
        data, finished, failed = self.trickle(sock, lambda: time.monotonic() > give_up)
        self.assertEqual(statuses(data), [431], data)
        self.assertTrue(finished, "the answer was not followed by the server's FIN")
        self.assertIsNotNone(failed, f"still lingering after {give_up - started:.1f} s")
        self.assertGreater(failed - started, LINGERING_TIME - 0.5, "closed before the bound")

    def test_lingering_ends_when_the_client_goes_quiet(self):
        """After an early answer the worker waits lingering_timeout (2 s) for more bytes, then
        closes: a client that neither sends nor closes holds the connection no longer."""
        port = self.start_worker(CORRAL_WORKER)  # its /info counts the open connections

        def connections():
            status, body, _ = http_get(port, "/info")
            self.assertEqual(status, 200, body)
            return int(re.search(rb'"connections":(\d+)', body).group(1))

        sock = self.connect(port)
        sock.sendall(seed("431-header-line-too-long.http"))
        data, ending = read_until(sock, time.monotonic() + ANSWER_TIMEOUT)
        answered = time.monotonic()
        self.assertEqual((statuses(data), ending), ([431], "closed"), data)
        self.assertGreaterEqual(connections(), 2, "the worker did not linger")  # this one too
        wait_until(lambda: connections() == 1, LINGERING_TIMEOUT + 2.0 * SLOWER,
                   "the worker to close the quiet connection")
        self.assertGreater(time.monotonic() - answered, LINGERING_TIMEOUT - 0.5)

    def test_a_drain_does_not_wait_for_lingering_to_end(self):
        """A graceful stop cuts lingering to the drain period (1 s), as for an idle connection:
        a client that keeps sending does not hold the worker for lingering_time."""
        port = self.start_worker()
        master = self.masters[-1]
        sock = self.connect(port)
        sock.sendall(seed("431-header-line-too-long.http"))
        data, ending = read_until(sock, time.monotonic() + ANSWER_TIMEOUT, has_answers(1))
        self.assertEqual(statuses(data), [431], data)
        stop = threading.Event()
        client = threading.Thread(target=self.trickle, args=(sock, stop.is_set))
        client.start()
        self.addCleanup(client.join)
        self.addCleanup(stop.set)
        stopping = time.monotonic()
        master.send_signal(signal.SIGTERM)
        self.assertEqual(master.wait_exit(LINGERING_TIME), 0)
        self.assertLess(time.monotonic() - stopping, DRAIN_PERIOD + 2.0,
                        "the drain waited for the lingering connection")


if __name__ == "__main__":
    unittest.main()
