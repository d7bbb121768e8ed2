"""A WebSocket client on a plain socket, for what a well-behaved client library cannot do:
invalid UTF-8, unmasked frames, a peer that never answers pings or closes. The handshake
is done by hand, frames are written and read as they are (RFC 6455)."""

import base64
import hashlib
import os
import socket
import struct

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 1.3
TEXT, BINARY, CLOSE, PING, PONG, CONTINUATION = 0x1, 0x2, 0x8, 0x9, 0xA, 0x0
TIMEOUT = 5.0  # seconds a read may wait before it fails


def accept_value(key):
    """The Sec-WebSocket-Accept a server must answer to `key`."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def new_key():
    return base64.b64encode(os.urandom(16)).decode()


def upgrade_request(path="/ws/echo", **overrides):
    """A WebSocket upgrade request; a header given as None is left out, others replaced."""
    headers = {"Host": "test", "Upgrade": "websocket", "Connection": "Upgrade",
               "Sec-WebSocket-Key": new_key(), "Sec-WebSocket-Version": "13"}
    headers.update({name.replace("_", "-"): value for name, value in overrides.items()})
    lines = [f"GET {path} HTTP/1.1"] + [f"{k}: {v}" for k, v in headers.items() if v is not None]
    return ("\r\n".join(lines) + "\r\n\r\n").encode(), headers


def parse_head(head):
    """(status, {lowercased name: value}) of an HTTP response head (bytes, no blank line)."""
    status_line, *fields = head.decode("latin-1").split("\r\n")
    headers = {}
    for field in fields:
        name, _, value = field.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers


def client_frame(opcode, payload=b"", fin=True, masked=True):
    """One frame as a client sends it: masked with a random key unless `masked` is False."""
    first = (0x80 if fin else 0) | opcode
    mask_bit = 0x80 if masked else 0
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", first, mask_bit | size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", first, mask_bit | 126, size)
    else:
        header = struct.pack("!BBQ", first, mask_bit | 127, size)
    if not masked:
        return header + payload
    key = os.urandom(4)
    mask = (key * (size // 4 + 1))[:size]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(mask, "big")).to_bytes(size, "big")
    return header + key + masked


def close_payload(code, reason=b""):
    return struct.pack("!H", code) + reason


class RawWebSocket:
    """A WebSocket client on a plain socket: the handshake by hand, frames as they are."""

    def __init__(self, port, path="/ws/echo", timeout=TIMEOUT):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        request, headers = upgrade_request(path)
        self.sock.sendall(request)
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        self.status, self.headers = parse_head(head)
        self.expected_accept = accept_value(headers["Sec-WebSocket-Key"])

    def close(self):
        self.sock.close()

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("the server closed the connection")
        self.buffer += data

    def _take(self, count):
        while len(self.buffer) < count:
            self._fill()
        taken, self.buffer = self.buffer[:count], self.buffer[count:]
        return taken

    def send(self, opcode, payload=b"", fin=True, masked=True):
        self.sock.sendall(client_frame(opcode, payload, fin, masked))

    def read_frame(self):
        """The next frame from the server: (fin, opcode, payload). EOFError once closed."""
        first, second = self._take(2)
        if second & 0x80:
            raise AssertionError("the server sent a masked frame")
        size = second & 0x7F
        if size == 126:
            size = struct.unpack("!H", self._take(2))[0]
        elif size == 127:
            size = struct.unpack("!Q", self._take(8))[0]
        return bool(first & 0x80), first & 0x0F, self._take(size)

    def read_until_closed(self):
        """Every frame until the server closes the TCP connection, and how it closed it:
        "eof" (a FIN) or "reset". socket.timeout if the connection stays open and silent."""
        frames = []
        try:
            while True:
                frames.append(self.read_frame())
        except EOFError:
            return frames, "eof"
        except ConnectionResetError:
            return frames, "reset"

    @staticmethod
    def close_code(frames):
        """(code, reason) of the close frame among `frames`, or None if there is none."""
        for _, opcode, payload in frames:
            if opcode == CLOSE:
                return struct.unpack("!H", payload[:2])[0], payload[2:].decode()
        return None
