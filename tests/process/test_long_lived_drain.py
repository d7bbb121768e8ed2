"""Long-lived connections across a drain: WebSockets get a clean 1001 close and reconnect
to the new generation, server-sent event streams end cleanly and resume from
Last-Event-ID, whether the drain comes from a reload (HUP), a scale-down (TTOU) or a
graceful stop (TERM)."""

import asyncio
import collections
import http.client
import json
import os
import re
import resource
import signal
import socket
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for `python3 -m unittest FILE`
from harness import CorralTestCase, free_port, worker_generation
from raw_websocket import CLOSE, RawWebSocket

try:
    import websockets
    import websockets.exceptions
except ImportError:  # another python3 than Debian's, without python3-websockets
    websockets = None

GOING_AWAY = 1001
SHUTDOWN_REASON = "the worker is shutting down"
CLIENTS = 500  # the acceptance test's number of WebSocket connections held through a reload
# Under ASan (CORRAL_SANITIZED=1) the workers are several times slower.
SLOW = 3 if os.environ.get("CORRAL_SANITIZED") == "1" else 1
TIMEOUT = 10.0 * SLOW  # seconds a whole phase (opening, draining, reconnecting) may take


def http_status(port, path):
    """The status of GET `path` on a new connection."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    finally:
        connection.close()


def raise_open_files_limit(test, wanted):
    """Raise this process's soft RLIMIT_NOFILE to `wanted` for the test (skip if the hard
    limit is lower); the master raises its own, and its workers inherit that."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= wanted:
        return
    if hard != resource.RLIM_INFINITY and hard < wanted:
        test.skipTest(f"RLIMIT_NOFILE hard limit {hard} is below {wanted}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    test.addCleanup(resource.setrlimit, resource.RLIMIT_NOFILE, (soft, hard))


async def connect_echo(port):
    """A WebSocket to /ws/echo?hello=1, whose first message says which worker serves it."""
    return await websockets.connect(f"ws://127.0.0.1:{port}/ws/echo?hello=1",
                                    ping_interval=None, open_timeout=TIMEOUT,
                                    close_timeout=TIMEOUT)


async def connect_hello(port):
    """A WebSocket to /ws/echo?hello=1 and its first message: (ws, {"pid", "generation"})."""
    ws = await connect_echo(port)
    return ws, json.loads(await ws.recv())


async def until_closed(ws):
    """Wait for the server to close `ws` (sending nothing meanwhile); return the
    ConnectionClosed exception, or the unexpected message received instead."""
    try:
        return await ws.recv()
    except websockets.exceptions.ConnectionClosed as closed:
        await ws.wait_closed()  # the TCP connection too
        return closed


class WebSocketDrainTestCase(CorralTestCase):

    def setUp(self):
        if websockets is None:
            self.skipTest("python3-websockets is missing (run the tests with /usr/bin/python3)")
        super().setUp()

    def run_async(self, coroutine, timeout):
        async def bounded():
            return await asyncio.wait_for(coroutine, timeout)
        return asyncio.run(bounded())

    async def gather_all(self, what, awaitables, context=lambda: ""):
        """The results of `awaitables`, run together; if any raised, the test fails naming
        the phase, how many of them failed and how (one lost connection among 500 otherwise
        shows only as the first exception, without saying where it happened)."""
        results = await asyncio.gather(*awaitables, return_exceptions=True)
        problems = [r for r in results if isinstance(r, BaseException)]
        if problems:
            kinds = collections.Counter(type(p).__name__ for p in problems)
            self.fail(f"{what}: {len(problems)} of {len(results)} failed ({dict(kinds)}); "
                      f"the first: {problems[0]!r}{context()}")
        return results

    def assert_going_away(self, outcome, what="a client"):
        """`outcome` of until_closed() is a clean 1001 closing handshake with the reason."""
        self.assertIsInstance(outcome, websockets.exceptions.ConnectionClosedOK,
                              f"{what} did not get a clean close: {outcome!r}")
        self.assertIsNotNone(outcome.rcvd, f"{what}: no close frame (1006)")
        self.assertEqual((outcome.rcvd.code, outcome.rcvd.reason), (GOING_AWAY, SHUTDOWN_REASON))
        self.assertTrue(outcome.rcvd_then_sent, f"{what}: the server did not close first")


class ReloadWithWebSockets(WebSocketDrainTestCase):

    def test_hup_closes_500_websockets_with_1001_and_each_reconnects_to_generation_2(self):
        """500 WebSockets on 2 workers, then HUP: every client gets a clean 1001 close (close
        frame with the reason, closing handshake completed: no 1006), reconnects at once as
        a real client would, and ends on a generation-2 worker. A reconnection that reaches
        the other old worker before it drains is closed with 1001 again (before its hello if
        the drain began during the upgrade), or refused with 503 if it arrives while that
        worker begins to drain; three attempts always suffice."""
        raise_open_files_limit(self, 4 * CLIENTS)
        port = free_port()
        master = self.start_corral("-w", 2, "-b", f"127.0.0.1:{port}", "--graceful-timeout", 30)
        master.wait_serving(port)
        first = master.wait_generation(1, 2)
        bounces = []

        async def reconnect_until_generation_2():
            for _ in range(3):
                try:
                    ws = await connect_echo(port)
                except websockets.exceptions.InvalidStatusCode as refused:
                    self.assertEqual(refused.status_code, 503)
                    bounces.append(503)
                    continue
                try:
                    hello = json.loads(await ws.recv())
                except websockets.exceptions.ConnectionClosed as closed:
                    await ws.wait_closed()
                    self.assert_going_away(closed, "a client closed before its hello")
                    bounces.append("closed before the hello")
                    continue
                if hello["generation"] == 2:
                    return ws, hello
                bounces.append(hello["generation"])
                self.assert_going_away(await until_closed(ws), "a reconnected client")
            self.fail("a client did not reach a generation-2 worker in 3 attempts")

        async def client_life(ws):
            outcome = await until_closed(ws)
            return outcome, await reconnect_until_generation_2()

        async def scenario():
            opened = await self.gather_all("opening to generation 1",
                                           (connect_hello(port) for _ in range(CLIENTS)))
            hellos = [hello for _, hello in opened]
            lives = [asyncio.create_task(client_life(ws)) for ws, _ in opened]
            master.send_signal(signal.SIGHUP)
            ends = await self.gather_all(
                "the drain and reconnection", lives,
                lambda: f"; bounces: {dict(collections.Counter(bounces))}")
            # Each new connection echoes, then closes normally.
            for _, (ws, _) in ends:
                await ws.send("after the reload")
            echoes = [await ws.recv() for _, (ws, _) in ends]
            await self.gather_all("closing", (ws.close() for _, (ws, _) in ends))
            return hellos, [outcome for outcome, _ in ends], [h for _, (_, h) in ends], echoes

        hellos, outcomes, new_hellos, echoes = self.run_async(scenario(), 4 * TIMEOUT)

        self.assertEqual({h["generation"] for h in hellos}, {1})
        self.assertLessEqual({h["pid"] for h in hellos}, first)
        for outcome in outcomes:
            self.assert_going_away(outcome)
        second = master.wait_generation(2, 2)
        self.assertEqual({h["generation"] for h in new_hellos}, {2})
        self.assertLessEqual({h["pid"] for h in new_hellos}, second)
        self.assertEqual(echoes, ["after the reload"] * CLIENTS)
        master.wait_log("Reload complete: generation 2 serves with 2 workers")
        for pid in first:
            self.assertIn(f"Worker {pid} exited with code 0", master.log())


class OtherDrainsWithWebSockets(WebSocketDrainTestCase):

    def test_scale_down_closes_the_retired_workers_websockets_with_1001_only(self):
        """2 workers, each holding WebSockets, then TTOU: the clients of the retired worker
        get 1001; the others stay open and echo; the retired worker exits 0."""
        port = free_port()
        master = self.start_corral("-w", 2, "-b", f"127.0.0.1:{port}")
        master.wait_serving(port)
        workers = master.wait_generation(1, 2)

        async def scenario():
            clients = []
            # Connections go to whichever worker accepts first: connect until both hold some.
            while len(clients) < 200:
                clients.append(await connect_hello(port))
                held = [sum(h["pid"] == pid for _, h in clients) for pid in workers]
                if min(held) >= 3:
                    break
            self.assertGreaterEqual(min(held), 3, f"connections per worker: {held}")
            master.send_signal(signal.SIGTTOU)
            retired = int((await asyncio.to_thread(
                master.wait_log, re.compile(r"Retiring worker (\d+) \(generation 1\)"))).group(1))
            on_retired = [ws for ws, h in clients if h["pid"] == retired]
            on_survivor = [ws for ws, h in clients if h["pid"] != retired]
            outcomes = await asyncio.gather(*(until_closed(ws) for ws in on_retired))
            await asyncio.to_thread(master.wait_log, f"Worker {retired} exited with code 0",
                                    TIMEOUT)
            for ws in on_survivor:
                await ws.send("survivor")
            echoes = [await asyncio.wait_for(ws.recv(), TIMEOUT) for ws in on_survivor]
            await asyncio.gather(*(ws.close() for ws in on_survivor))
            return retired, outcomes, echoes

        retired, outcomes, echoes = self.run_async(scenario(), 3 * TIMEOUT)
        self.assertIn(retired, workers)
        for outcome in outcomes:
            self.assert_going_away(outcome)
        self.assertEqual(echoes, ["survivor"] * len(echoes))
        self.assertEqual(master.wait_workers(1), workers - {retired})

    def test_a_graceful_stop_closes_every_websocket_with_1001_then_exits_0(self):
        """50 WebSockets on 2 workers, then TERM to the master: each gets 1001; both workers
        exit 0 and so does the master."""
        port = free_port()
        master = self.start_corral("-w", 2, "-b", f"127.0.0.1:{port}", "--graceful-timeout", 30)
        master.wait_serving(port)
        workers = master.wait_workers(2)

        async def scenario():
            clients = await asyncio.gather(*(connect_hello(port) for _ in range(50)))
            master.send_signal(signal.SIGTERM)
            return await asyncio.gather(*(until_closed(ws) for ws, _ in clients))

        outcomes = self.run_async(scenario(), 2 * TIMEOUT)
        for outcome in outcomes:
            self.assert_going_away(outcome)
        self.assertEqual(master.wait_exit(TIMEOUT), 0)
        for pid in workers:
            self.assertIn(f"Worker {pid} exited with code 0", master.log())


    def test_a_client_that_never_answers_the_close_is_dropped_after_header_timeout(self):
        """--header-timeout 1 (which also bounds the WebSocket closing handshake),
        --graceful-timeout 30: a raw client that never answers the 1001 close frame is
        disconnected about 1 s after it, so the worker exits 0 instead of holding the stop
        until graceful_timeout and its SIGKILL."""
        port = free_port()
        master = self.start_corral("-w", 1, "-b", f"127.0.0.1:{port}", "--header-timeout", 1,
                                   "--graceful-timeout", 30)
        master.wait_serving(port)
        [worker] = master.wait_workers(1)
        ws = RawWebSocket(port, timeout=TIMEOUT)
        self.addCleanup(ws.close)
        self.assertEqual(ws.status, 101)

        master.send_signal(signal.SIGTERM)
        frames, how = ws.read_until_closed()  # and never a close frame in answer
        self.assertEqual(RawWebSocket.close_code(frames), (GOING_AWAY, SHUTDOWN_REASON))
        self.assertEqual([opcode for _, opcode, _ in frames], [CLOSE])
        self.assertIn(how, ("eof", "reset"))
        self.assertEqual(master.wait_exit(TIMEOUT), 0)
        self.assertIn(f"Worker {worker} exited with code 0", master.log())
        self.assertNotIn("SIGKILL", master.log())


    def test_a_worker_recycled_after_max_requests_closes_its_websockets_with_1001(self):
        """--max-requests 10 on 1 worker: 5 WebSockets (each upgrade counts as a request),
        then plain requests until the worker is recycled: each WebSocket gets 1001 and a
        reconnection reaches the replacement."""
        port = free_port()
        master = self.start_corral("-w", 1, "-b", f"127.0.0.1:{port}", "--max-requests", 10)
        master.wait_serving(port)  # one request
        [worker] = master.wait_workers(1)

        async def scenario():
            clients = await asyncio.gather(*(connect_hello(port) for _ in range(5)))
            self.assertEqual({hello["pid"] for _, hello in clients}, {worker})
            closing = [asyncio.ensure_future(until_closed(ws)) for ws, _ in clients]
            for _ in range(4):  # requests 7 to 10: the last one retires the worker
                status = await asyncio.to_thread(http_status, port, "/")
                self.assertEqual(status, 200)
            outcomes = await asyncio.gather(*closing)
            again, hello = await connect_hello(port)
            await again.close()
            return outcomes, hello

        outcomes, hello = self.run_async(scenario(), 2 * TIMEOUT)
        for outcome in outcomes:
            self.assert_going_away(outcome)
        self.assertNotEqual(hello["pid"], worker)
        master.wait_log(f"Worker {worker} exited with code 0", TIMEOUT)


class InFlightStreams(CorralTestCase):
    """A streamed response that ends by itself may finish during a drain, up to
    graceful_timeout (GET /stream?lines=N&ms=M writes a line every M ms)."""

    def start_streaming(self, *args):
        port = free_port()
        master = self.start_corral("-w", 1, "-b", f"127.0.0.1:{port}", *args)
        master.wait_serving(port)
        sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.addCleanup(sock.close)
        sock.sendall(b"GET /stream?lines=10&ms=100 HTTP/1.1\r\nHost: test\r\n\r\n")
        received = b""
        while b"line 1\n" not in received:
            chunk = sock.recv(65536)
            self.assertTrue(chunk, f"closed after {received!r}")
            received += chunk
        return master, sock, received

    @staticmethod
    def read_until_closed(sock, received):
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass
        return received

    def test_a_graceful_stop_lets_a_stream_finish_then_the_worker_exits_0(self):
        """TERM after the first of 10 lines (1 s in all), --graceful-timeout 30: every
        line arrives, then the terminating chunk, then the close; the worker exits 0."""
        master, sock, received = self.start_streaming("--graceful-timeout", 30)
        master.send_signal(signal.SIGTERM)
        received = self.read_until_closed(sock, received)
        for n in range(1, 11):
            self.assertIn(f"line {n}\n".encode(), received)
        self.assertTrue(received.endswith(b"\r\n0\r\n\r\n"), received[-40:])
        self.assertEqual(master.wait_exit(TIMEOUT), 0)
        self.assertNotIn("SIGKILL", master.log())

    def test_a_stream_longer_than_graceful_timeout_is_cut_at_the_timeout(self):
        """The same with --graceful-timeout 0.3: the stream stops without its terminating
        chunk (the client can tell it is incomplete) and the master kills the worker."""
        master, sock, received = self.start_streaming("--graceful-timeout", 0.3)
        master.send_signal(signal.SIGTERM)
        received = self.read_until_closed(sock, received)
        self.assertNotIn(b"line 10\n", received)
        self.assertFalse(received.endswith(b"\r\n0\r\n\r\n"), received[-40:])
        master.wait_exit(TIMEOUT)
        self.assertIn("SIGKILL", master.log())


class EventStream:
    """GET /events on a raw socket: the head, then events read chunk by chunk."""

    def __init__(self, port, query, last_event_id=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        extra = f"Last-Event-ID: {last_event_id}\r\n" if last_event_id is not None else ""
        self.sock.sendall(f"GET /events?{query} HTTP/1.1\r\nHost: test\r\n"
                          f"Accept: text/event-stream\r\n{extra}\r\n".encode())
        self.buffer = b""
        self.text = ""  # the body so far, not yet split into events
        self.ended = False  # the terminating 0-chunk arrived
        head = self._read_until(b"\r\n\r\n")
        status_line, *fields = head.decode("latin-1").split("\r\n")
        self.status = int(status_line.split()[1])
        self.headers = {name.strip().lower(): value.strip()
                        for name, _, value in (field.partition(":") for field in fields)}

    def close(self):
        self.sock.close()

    def _read_until(self, separator):
        while separator not in self.buffer:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError(f"the server closed the connection; unparsed: {self.buffer!r}")
            self.buffer += data
        taken, _, self.buffer = self.buffer.partition(separator)
        return taken

    def _read_exactly(self, count):
        while len(self.buffer) < count:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("the server closed the connection inside a chunk")
            self.buffer += data
        taken, self.buffer = self.buffer[:count], self.buffer[count:]
        return taken

    def next_event(self):
        """The next event as (id, {"n", "pid"}), or None once the stream has ended."""
        while "\n\n" not in self.text:
            if self.ended:
                self.assert_nothing_left()
                return None
            size = int(self._read_until(b"\r\n").split(b";")[0], 16)
            if size == 0:
                self._read_until(b"\r\n")  # no trailer fields: the empty line
                self.ended = True
                continue
            self.text += self._read_exactly(size).decode()
            if self._read_exactly(2) != b"\r\n":
                raise AssertionError("a chunk does not end with CRLF")
        event, _, self.text = self.text.partition("\n\n")
        match = re.fullmatch(r"event: tick\nid: (\d+)\ndata: (\{.*\})", event)
        if not match:
            raise AssertionError(f"not a tick event: {event!r}")
        number, data = int(match.group(1)), json.loads(match.group(2))
        if data["n"] != number:
            raise AssertionError(f"id {number} and data {data} disagree")
        return number, data

    def assert_nothing_left(self):
        if self.text or self.buffer:
            raise AssertionError(f"data after the last event: {self.text!r} {self.buffer!r}")

    def rest_until_closed(self):
        """Every event left, after which the server must close the connection (FIN, no reset:
        a ConnectionResetError fails the test)."""
        events = []
        while (event := self.next_event()) is not None:
            events.append(event)
        data = self.sock.recv(65536)  # the server closes once the stream ended
        if data:
            raise AssertionError(f"data after the terminating chunk: {data!r}")
        return events


class ReloadWithEventStreams(CorralTestCase):

    def test_hup_ends_an_event_stream_cleanly_and_last_event_id_resumes_on_generation_2(self):
        """GET /events (endless, every 50 ms) on a generation-1 worker, then HUP: the stream
        ends with the terminating chunk and a clean close; reconnecting with Last-Event-ID
        resumes the numbering on a generation-2 worker (as EventSource does; a reconnection
        that reaches the other old worker first ends again with it). Across connections the
        ids run 1, 2, 3... with no gap or repeat."""
        port = free_port()
        master = self.start_corral("-w", 2, "-b", f"127.0.0.1:{port}", "--graceful-timeout", 30)
        master.wait_serving(port)
        first = master.wait_generation(1, 2)

        stream = EventStream(port, "interval_ms=50")
        self.addCleanup(stream.close)
        self.assertEqual(stream.status, 200)
        self.assertEqual(stream.headers["content-type"], "text/event-stream")
        self.assertEqual(stream.headers["cache-control"], "no-cache")
        self.assertEqual(stream.headers["x-accel-buffering"], "no")
        self.assertEqual(stream.headers["transfer-encoding"], "chunked")
        events = [stream.next_event() for _ in range(3)]
        pid = events[0][1]["pid"]
        self.assertIn(pid, first)
        self.assertEqual(worker_generation(pid), 1)

        master.send_signal(signal.SIGHUP)
        events += stream.rest_until_closed()
        self.assertTrue(stream.ended, "no terminating chunk")
        self.assertEqual({data["pid"] for _, data in events}, {pid})

        generations = []
        for _ in range(4):
            last = events[-1][0]
            stream = EventStream(port, "interval_ms=50", last_event_id=last)
            self.addCleanup(stream.close)
            self.assertEqual(stream.status, 200)
            first_event = stream.next_event()
            if first_event is None:
                # The other old worker took the reconnection and began draining before its
                # first event: an empty, cleanly ended stream. EventSource reconnects.
                generations.append(1)
                continue
            number, data = first_event
            self.assertEqual(number, last + 1, "Last-Event-ID was not continued")
            events.append((number, data))
            # An old worker may exit as soon as this stream ends: tell by pid, not /proc.
            generation = 1 if data["pid"] in first else worker_generation(data["pid"])
            generations.append(generation)
            if generation != 1:
                events += [stream.next_event() for _ in range(2)]
                break
            events += stream.rest_until_closed()  # the other old worker drains in turn
        self.assertEqual(generations[-1], 2, f"generations served: {generations}")
        self.assertEqual([number for number, _ in events], list(range(1, len(events) + 1)))
        second = master.wait_generation(2, 2)
        self.assertIn(events[-1][1]["pid"], second)


if __name__ == "__main__":
    unittest.main()
