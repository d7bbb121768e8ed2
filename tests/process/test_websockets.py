"""The demo worker's WebSocket endpoint /ws/echo: echo, fragments, pings, close codes,
refused upgrades and the ping interval, against the real binaries.

The well-behaved client is the `websockets` package (python3-websockets); what a
well-behaved client cannot send (invalid UTF-8, unmasked frames, a silent peer) goes over
a raw socket with the handshake done by hand.
"""

import asyncio
import base64
import json
import logging
import os
import socket
import struct
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for `python3 -m unittest FILE`
from harness import CorralTestCase, free_port, http_get, worker_generation
from raw_websocket import (BINARY, CLOSE, CONTINUATION, PING, PONG, TEXT, RawWebSocket,
                           accept_value, client_frame, close_payload, parse_head, upgrade_request)

try:
    import websockets
    import websockets.exceptions
except ImportError:  # another python3 than Debian's, without python3-websockets
    websockets = None

TIMEOUT = 5.0  # seconds any single exchange may take before the test fails


def read_response_and_close(sock):
    """Everything the server sends until it closes the connection: (status, headers, body).
    Fails (socket.timeout) if the server leaves the connection open."""
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status, headers = parse_head(head)
    return status, headers, body


class WebSocketTestCase(CorralTestCase):

    def setUp(self):
        if websockets is None:
            self.skipTest("python3-websockets is missing (run the tests with /usr/bin/python3)")
        super().setUp()

    def start_serving(self, *args):
        """A corral with one worker and `args` on a free port; returns the port."""
        port = free_port()
        master = self.start_corral("-w", 1, "-b", f"127.0.0.1:{port}", *args)
        master.wait_serving(port)
        self.master = master
        return port

    def run_async(self, coroutine, timeout=TIMEOUT * 2):
        async def bounded():
            return await asyncio.wait_for(coroutine, timeout)
        return asyncio.run(bounded())

    def raw_websocket(self, port, path="/ws/echo"):
        ws = RawWebSocket(port, path)
        self.addCleanup(ws.close)
        self.assertEqual(ws.status, 101, ws.headers)
        self.assertEqual(ws.headers.get("sec-websocket-accept"), ws.expected_accept)
        return ws


class Echo(WebSocketTestCase):

    def test_text_and_binary_messages_come_back_with_their_type(self):
        """Text (with non-ASCII), empty text, binary (every byte value) and a 512 KiB
        binary message each come back identical and of the same type."""
        port = self.start_serving()
        messages = ["hello, corral", "h\u00e9llo \u2713 \U0001F600", "",
                    bytes(range(256)), os.urandom(512 * 1024)]

        async def exchange():
            async with websockets.connect(f"ws://127.0.0.1:{port}/ws/echo") as ws:
                answers = []
                for message in messages:
                    await ws.send(message)
                    answers.append(await asyncio.wait_for(ws.recv(), TIMEOUT))
                return answers

        answers = self.run_async(exchange())
        for sent, received in zip(messages, answers):
            self.assertIs(type(received), type(sent))
            self.assertEqual(received, sent)

    def test_hello_names_the_worker_that_holds_the_connection(self):
        """?hello=1: the first message is a JSON text naming this worker's pid and generation 1;
        the echo follows."""
        port = self.start_serving()
        [worker] = self.master.wait_workers(1)

        async def hello():
            async with websockets.connect(f"ws://127.0.0.1:{port}/ws/echo?hello=1") as ws:
                first = await asyncio.wait_for(ws.recv(), TIMEOUT)
                await ws.send("after hello")
                return first, await asyncio.wait_for(ws.recv(), TIMEOUT)

        first, echoed = self.run_async(hello())
        self.assertIsInstance(first, str)
        self.assertEqual(json.loads(first), {"pid": worker, "generation": 1})
        self.assertEqual(worker_generation(worker), 1)
        self.assertEqual(echoed, "after hello")

    def test_a_fragmented_message_comes_back_whole(self):
        """A text and a binary message sent in fragments (websockets sends an iterable as
        fragments) each come back as one message of the same type."""
        port = self.start_serving()

        async def exchange():
            async with websockets.connect(f"ws://127.0.0.1:{port}/ws/echo") as ws:
                await ws.send(["frag", "mented ", "t\u00e9xt"])
                text = await asyncio.wait_for(ws.recv(), TIMEOUT)
                await ws.send([b"\x00\x01", b"", b"\x02\xff"])
                binary = await asyncio.wait_for(ws.recv(), TIMEOUT)
                return text, binary

        self.assertEqual(self.run_async(exchange()), ("fragmented t\u00e9xt", b"\x00\x01\x02\xff"))

    def test_fragments_with_a_ping_between_them_and_utf8_split_across_them(self):
        """Raw frames: "h\\xc3" (first fragment, ending inside the UTF-8 of é), a ping, then
        "\\xa9llo" (last fragment). The pong comes first with the ping's payload, then
        "héllo" as one final text frame."""
        port = self.start_serving()
        ws = self.raw_websocket(port)
        ws.send(TEXT, b"h\xc3", fin=False)
        ws.send(PING, b"between")
        ws.send(CONTINUATION, b"\xa9llo", fin=True)
        self.assertEqual(ws.read_frame(), (True, PONG, b"between"))
        self.assertEqual(ws.read_frame(), (True, TEXT, "h\u00e9llo".encode()))


class PingAndClose(WebSocketTestCase):

    def test_a_ping_gets_a_pong_with_its_payload(self):
        """websockets' ping() is answered (its pong waiter resolves); a raw ping gets a pong
        frame with the same payload, and the connection still echoes afterwards."""
        port = self.start_serving()

        async def ping():
            async with websockets.connect(f"ws://127.0.0.1:{port}/ws/echo",
                                          ping_interval=None) as ws:
                pong = await ws.ping(b"are you there")
                await asyncio.wait_for(pong, TIMEOUT)
                await ws.send("still here")
                return await asyncio.wait_for(ws.recv(), TIMEOUT)

        self.assertEqual(self.run_async(ping()), "still here")

        ws = self.raw_websocket(port)
        ws.send(PING, b"raw ping \x00\xff")
        self.assertEqual(ws.read_frame(), (True, PONG, b"raw ping \x00\xff"))
        ws.send(TEXT, b"after the ping")
        self.assertEqual(ws.read_frame(), (True, TEXT, b"after the ping"))

    def test_a_client_close_gets_1000_back(self):
        """websockets' close(): the server answers 1000. Raw: a close frame 1000 gets a close
        frame 1000 back, then the server closes TCP (FIN, no reset)."""
        port = self.start_serving()

        async def close():
            async with websockets.connect(f"ws://127.0.0.1:{port}/ws/echo") as ws:
                await ws.send("bye")
                await asyncio.wait_for(ws.recv(), TIMEOUT)
                await asyncio.wait_for(ws.close(1000, "done"), TIMEOUT)
                return ws.close_code, ws.close_reason

        code, _ = self.run_async(close())
        self.assertEqual(code, 1000)

        ws = self.raw_websocket(port)
        ws.send(CLOSE, close_payload(1000, b"raw done"))
        frames, how = ws.read_until_closed()
        self.assertEqual([opcode for _, opcode, _ in frames], [CLOSE])
        self.assertEqual(RawWebSocket.close_code(frames)[0], 1000)
        self.assertEqual(how, "eof")


class ProtocolErrors(WebSocketTestCase):

    def assert_closed_with(self, ws, code):
        frames, how = ws.read_until_closed()
        self.assertEqual(RawWebSocket.close_code(frames), (code, ""), frames)
        self.assertEqual(frames[-1][1], CLOSE, "frames after the close frame")
        self.assertIn(how, ("eof", "reset"))

    def test_a_message_over_the_limit_closes_with_1009(self):
        """--websocket-max-message-size 1000: 1000 bytes echo; 1001 bytes (whole, or in two
        fragments of 600 and 401) close with 1009; websockets sees 1009 too."""
        port = self.start_serving("--websocket-max-message-size", 1000)

        ws = self.raw_websocket(port)
        ws.send(BINARY, b"x" * 1000)
        self.assertEqual(ws.read_frame(), (True, BINARY, b"x" * 1000))
        ws.send(BINARY, b"y" * 1001)
        self.assert_closed_with(ws, 1009)

        ws = self.raw_websocket(port)
        ws.send(TEXT, b"a" * 600, fin=False)
        ws.send(CONTINUATION, b"b" * 401, fin=True)
        self.assert_closed_with(ws, 1009)

        async def oversized():
            async with websockets.connect(f"ws://127.0.0.1:{port}/ws/echo") as ws:
                await ws.send("z" * 5000)
                with self.assertRaises(websockets.exceptions.ConnectionClosed) as closed:
                    await asyncio.wait_for(ws.recv(), TIMEOUT)
                return closed.exception

        closed = self.run_async(oversized())
        self.assertIsNotNone(closed.rcvd, "no close frame from the server")
        self.assertEqual(closed.rcvd.code, 1009)

    def test_the_default_limit_is_1_mib_and_the_environment_can_set_it(self):
        """By default 1 MiB (1048576 bytes) echoes and one byte more closes with 1009;
        CORRAL_WEBSOCKET_MAX_MESSAGE_SIZE=1000 in corral's environment lowers it to 1000."""
        port = self.start_serving()
        ws = self.raw_websocket(port)
        ws.send(BINARY, b"m" * 1048576)
        self.assertEqual(ws.read_frame(), (True, BINARY, b"m" * 1048576))
        ws.send(BINARY, b"m" * 1048577)
        self.assert_closed_with(ws, 1009)

        port = free_port()
        master = self.start_corral("-w", 1, "-b", f"127.0.0.1:{port}",
                                   env={"CORRAL_WEBSOCKET_MAX_MESSAGE_SIZE": "1000"})
        master.wait_serving(port)
        ws = self.raw_websocket(port)
        ws.send(TEXT, b"e" * 1000)
        self.assertEqual(ws.read_frame(), (True, TEXT, b"e" * 1000))
        ws.send(TEXT, b"e" * 1001)
        self.assert_closed_with(ws, 1009)

    def test_invalid_utf8_in_a_text_message_closes_with_1007(self):
        """A text frame with \\xff\\xfe (never UTF-8), and a text message whose last fragment
        ends in the middle of a character: each closes with 1007. The same bytes in a binary
        frame echo."""
        port = self.start_serving()
        ws = self.raw_websocket(port)
        ws.send(BINARY, b"\xff\xfe")
        self.assertEqual(ws.read_frame(), (True, BINARY, b"\xff\xfe"))
        ws.send(TEXT, b"ok \xff\xfe")
        self.assert_closed_with(ws, 1007)

        ws = self.raw_websocket(port)
        ws.send(TEXT, b"caf", fin=False)
        ws.send(CONTINUATION, b"\xc3", fin=True)  # the first byte of é, and nothing after it
        self.assert_closed_with(ws, 1007)

    def test_an_unmasked_client_frame_closes_with_1002(self):
        """A masked frame echoes; an unmasked one (RFC 6455 5.1) closes with 1002."""
        port = self.start_serving()
        ws = self.raw_websocket(port)
        ws.send(TEXT, b"masked")
        self.assertEqual(ws.read_frame(), (True, TEXT, b"masked"))
        ws.send(TEXT, b"unmasked", masked=False)
        self.assert_closed_with(ws, 1002)


class RefusedUpgrades(WebSocketTestCase):

    def refused(self, port, **overrides):
        """Send an upgrade with `overrides`; return (status, headers, body) once the server
        has closed the connection."""
        request, _ = upgrade_request(**overrides)
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            sock.sendall(request)
            return read_response_and_close(sock)

    def test_a_plain_get_gets_426_with_upgrade_websocket(self):
        """GET /ws/echo without Upgrade: 426 Upgrade Required, Upgrade: websocket."""
        port = self.start_serving()
        status, body, headers = http_get(port, "/ws/echo")
        self.assertEqual(status, 426)
        self.assertEqual(headers["Upgrade"], "websocket")
        self.assertIn(b"WebSocket", body)

    def test_malformed_upgrades_are_refused_upgrade_nothing_and_close(self):
        """Each bad upgrade gets its status, Connection: close, no Sec-WebSocket-Accept, and
        the server closes the connection; the worker serves on."""
        port = self.start_serving()
        cases = {
            "no Sec-WebSocket-Key": ({"Sec_WebSocket_Key": None}, 400),
            "a key that is not base64": ({"Sec_WebSocket_Key": "not a key!"}, 400),
            "a key of 15 bytes": ({"Sec_WebSocket_Key": base64.b64encode(b"x" * 15).decode()}, 400),
            "a key of 17 bytes": ({"Sec_WebSocket_Key": base64.b64encode(b"x" * 17).decode()}, 400),
            "no Sec-WebSocket-Version": ({"Sec_WebSocket_Version": None}, 400),
            "version 8": ({"Sec_WebSocket_Version": "8"}, 426),
            "Connection: keep-alive": ({"Connection": "keep-alive"}, 400),
            "no Connection": ({"Connection": None}, 400),
        }
        for name, (overrides, expected) in cases.items():
            with self.subTest(name):
                status, headers, body = self.refused(port, **overrides)
                self.assertEqual(status, expected, body)
                self.assertEqual(headers.get("connection", "").lower(), "close")
                self.assertNotIn("sec-websocket-accept", headers)
                if expected == 426:
                    self.assertEqual(headers.get("sec-websocket-version"), "13")
                self.assertTrue(body, "a refusal says why in its body")
        self.assertEqual(http_get(port)[0], 200)

    def test_connection_may_list_upgrade_among_other_tokens(self):
        """Connection: keep-alive, Upgrade (what Firefox sends) is upgraded: 101 and the echo."""
        port = self.start_serving()
        request, headers = upgrade_request(Connection="keep-alive, Upgrade")
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            sock.sendall(request)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(65536)
                self.assertTrue(chunk, f"closed after {data!r}")
                data += chunk
            head, _, rest = data.partition(b"\r\n\r\n")
            status, answer = parse_head(head)
            self.assertEqual(status, 101, data)
            self.assertEqual(answer["sec-websocket-accept"],
                             accept_value(headers["Sec-WebSocket-Key"]))
            sock.sendall(client_frame(TEXT, b"firefox"))
            expected = struct.pack("!BB", 0x80 | TEXT, 7) + b"firefox"
            while len(rest) < len(expected):
                chunk = sock.recv(65536)
                self.assertTrue(chunk, f"closed after {rest!r}")
                rest += chunk
            self.assertEqual(rest, expected)


class FrameLogger(logging.Handler):
    """Counts the frames a websockets connection logs at debug level ("< PING ...")."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.received = []

    def emit(self, record):
        message = record.getMessage()
        if message.startswith("< "):
            self.received.append(message[2:].split()[0])


class PingInterval(WebSocketTestCase):

    INTERVAL = 0.2  # --websocket-ping-interval: a fraction of a second

    def test_a_client_that_never_answers_is_pinged_then_dropped(self):
        """--websocket-ping-interval 0.2: a raw client that stays silent gets a ping after
        about 0.2 s and is disconnected by 1.5 s (twice the interval is 0.4 s)."""
        port = self.start_serving("--websocket-ping-interval", self.INTERVAL)
        ws = self.raw_websocket(port)
        opened = time.monotonic()
        fin, opcode, _ = ws.read_frame()
        pinged = time.monotonic() - opened
        self.assertEqual((fin, opcode), (True, PING))
        self.assertGreater(pinged, self.INTERVAL / 2, "pinged before the interval")
        frames, how = ws.read_until_closed()
        dropped = time.monotonic() - opened
        self.assertNotIn(TEXT, [opcode for _, opcode, _ in frames])
        self.assertLess(dropped, 1.5, f"still connected {dropped:.2f} s after the upgrade")
        self.assertGreater(dropped, pinged)

    def test_a_client_that_answers_pings_stays_connected(self):
        """--websocket-ping-interval 0.5: a websockets client that sends nothing but answers
        pings (and sends no pings of its own) is still connected after 2 s, four times the
        drop delay, has received pings, and still gets its echo. (0.5 s, not 0.2: a client
        on a loaded machine may take longer than 0.2 s to answer, and is then rightly
        dropped.)"""
        interval = 0.5
        port = self.start_serving("--websocket-ping-interval", interval)
        frames = FrameLogger()
        logger = logging.getLogger("corral.test.websockets")
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
        logger.addHandler(frames)
        self.addCleanup(logger.removeHandler, frames)

        async def quiet_client():
            async with websockets.connect(f"ws://127.0.0.1:{port}/ws/echo", ping_interval=None,
                                          logger=logger) as ws:
                with self.assertRaises(asyncio.TimeoutError):  # no message and no close
                    await asyncio.wait_for(ws.recv(), 4 * interval)
                await ws.send("still here")
                echo = await asyncio.wait_for(ws.recv(), TIMEOUT)
                return echo, list(frames.received)  # before the client closes

        echo, received = self.run_async(quiet_client())
        self.assertEqual(echo, "still here")
        self.assertGreaterEqual(received.count("PING"), 2, received)
        self.assertNotIn("CLOSE", received)

    def test_an_interval_under_a_millisecond_still_pings(self):
        """--websocket-ping-interval 0.0004 rounds up to 1 ms, not down to 0 (off): a
        silent raw client is pinged and dropped well within a second."""
        port = self.start_serving("--websocket-ping-interval", "0.0004")
        ws = self.raw_websocket(port)
        opened = time.monotonic()
        frames, how = ws.read_until_closed()
        self.assertIn(PING, [opcode for _, opcode, _ in frames], how)
        self.assertLess(time.monotonic() - opened, 1.0)

    def test_zero_turns_pings_off(self):
        """--websocket-ping-interval 0: a silent raw client gets nothing for 1 s (it would
        have been dropped 5 times over at 0.2 s), then still gets its echo."""
        port = self.start_serving("--websocket-ping-interval", 0)
        ws = self.raw_websocket(port)
        ws.sock.settimeout(1.0)
        with self.assertRaises(socket.timeout):
            ws.read_frame()
        ws.sock.settimeout(TIMEOUT)
        ws.send(TEXT, b"still here")
        self.assertEqual(ws.read_frame(), (True, TEXT, b"still here"))

    def test_the_interval_takes_fractions_and_zero_but_not_negatives(self):
        """--check-config accepts 0.2 and 0 (no pings); -1 and 86401 are refused with exit 2
        naming the setting."""
        for value, status in (("0.2", 0), ("0", 0), ("-1", 2), ("86401", 2)):
            with self.subTest(value=value):
                master = self.run_corral("--check-config", "--websocket-ping-interval", value)
                self.assertEqual(master.returncode, status, master.log())
                if status:
                    self.assertIn("websocket_ping_interval", master.log())


if __name__ == "__main__":
    unittest.main()
