"""The Gunicorn request corpus: its cases, how to send one to a server, and how to judge the answer.

The corpus (raw request fixtures with their expected parse, see its README.md) is not part of
this repository: it sits beside the clone, in ../shared/conformance/gunicorn-requests, or
wherever CORRAL_CONFORMANCE_CORPUS points. test_http_conformance.py skips when it is absent.

The server under test answers every request it accepts with 200 and a JSON echo of what it
parsed: {"method", "uri", "version": [1, 1], "headers": [[NAME, value]...], "body": base64,
"trailers": [[NAME, value]...]} (names upper-cased, in arrival order). Strings in that JSON hold
the request's bytes as they were (Boost.JSON does not recode them), so they are read back as
bytes with UTF-8 and surrogateescape; the corpus writes bytes as latin-1 text.
"""

import base64
import contextlib
import csv
import dataclasses
import json
import os
import re
import select
import socket
import time
import unittest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_CORPUS = os.path.join(os.path.dirname(REPO_ROOT), "shared", "conformance",
                              "gunicorn-requests")

# Gunicorn settings of settings.tsv that corral has, and the flag of each.
SETTING_FLAGS = {
    "limit_request_line": "--limit-request-line",
    "limit_request_fields": "--limit-request-fields",
    "limit_request_field_size": "--limit-request-field-size",
    "header_map": "--header-map",
    "forwarded_allow_ips": "--forwarded-allow-ips",
    "proxy_protocol": "--proxy-protocol",  # a boolean: the flag alone when True
}

QUIET = 1.5         # s without a byte from the server before the client half-closes
FIRST_PHASE = 4.0   # s at most before the client half-closes
SECOND_PHASE = 2.0  # s at most for the server to close once the client has half-closed
SPLIT_PAUSE = 0.02  # s between the first byte and the rest in the split pass


def corpus_dir():
    """The corpus folder; unittest.SkipTest when it is not there."""
    path = os.environ.get("CORRAL_CONFORMANCE_CORPUS", DEFAULT_CORPUS)
    if not os.path.isfile(os.path.join(path, "expected.json")):
        raise unittest.SkipTest(
            f"the Gunicorn request corpus is not at {path} (expected.json missing): "
            "put it there or set CORRAL_CONFORMANCE_CORPUS to its folder")
    return path


def decode_fixture(raw):
    """The wire bytes of a .http fixture, decoded as Gunicorn's tests/treq.py does."""
    wire = raw.replace(b"\n", b"").replace(b"\\r\\n", b"\r\n")
    wire = wire.replace(b"\\0", b"\0").replace(b"\\n", b"\n").replace(b"\\t", b"\t")
    wire = re.sub(rb"\\x([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), wire)
    if b"\\" in wire:
        raise ValueError("a backslash is left after decoding the escapes")
    return wire


def text_bytes(text):
    """The bytes a corpus string stands for (the corpus writes bytes as latin-1 text)."""
    return text.encode("latin-1")


def echo_bytes(text):
    """The bytes a string of the echo worker's JSON stands for."""
    return text.encode("utf-8", "surrogateescape")


def short(data, keep=48):
    """`data` (bytes) on one line, printable ASCII, at most about `keep` characters of it."""
    shown = ascii(data[:keep].decode("latin-1"))
    return shown if len(data) <= keep else f"{shown}...({len(data)} bytes)"


@dataclasses.dataclass
class Case:
    file: str                # "valid/001.http"
    wire: bytes              # what the client sends
    accept: bool             # expectations.tsv: accept or reject
    expected: object         # valid: list of request dicts; invalid: Gunicorn's error name
    status_hint: str         # "400", "431", "none" or "-"
    reason: str              # expectations.tsv's reason
    settings: dict           # settings.tsv: {setting: value}
    body_prefix_only: bool = False  # the fixture's body is shorter than its Content-Length

    def flags(self):
        """The corral flags for this case's settings, in a stable order."""
        words = []
        for name, value in sorted(self.settings.items()):
            if name not in SETTING_FLAGS or value == "False":
                continue
            words += [SETTING_FLAGS[name]] if value == "True" else [SETTING_FLAGS[name], value]
        return tuple(words)

    def unsupported_settings(self):
        return sorted(name for name in self.settings if name not in SETTING_FLAGS)


def _pad_short_body(wire, expected):
    """Pad a lone request whose body is shorter than its Content-Length (valid/099 is: it tests
    the request-line limit, not the body) up to it, so that a server can answer it at all."""
    if len(expected) != 1:
        return wire, False
    head, found, body = wire.partition(b"\r\n\r\n")
    fields = dict((name.strip().lower(), value.strip()) for name, _, value in
                  (line.partition(b":") for line in head.split(b"\r\n")[1:]))
    length = fields.get(b"content-length", b"")
    if not found or b"transfer-encoding" in fields or not length.isdigit():
        return wire, False
    missing = int(length) - len(body)
    return (wire + b"x" * missing, True) if missing > 0 else (wire, False)


def load_cases(path):
    """Every case of the corpus at `path`, valid ones first, each in file-name order."""
    with open(os.path.join(path, "expected.json"), encoding="utf-8") as file:
        expected = json.load(file)
    with open(os.path.join(path, "expectations.tsv"), encoding="utf-8", newline="") as file:
        rows = {row["file"]: row for row in csv.DictReader(file, delimiter="\t")}
    settings = {}
    with open(os.path.join(path, "settings.tsv"), encoding="utf-8", newline="") as file:
        for row in csv.DictReader(file, delimiter="\t"):
            settings.setdefault(row["file"], {})[row["setting"]] = row["value"]
    cases = []
    for name in sorted(rows, key=lambda n: (not n.startswith("valid/"), n)):
        row = rows[name]
        with open(os.path.join(path, name), "rb") as file:
            wire = decode_fixture(file.read())
        accept = row["expect"] == "accept"
        expect = expected[name]["expect"]
        if accept and isinstance(expect, dict):
            expect = [expect]
        prefix_only = False
        if accept:
            wire, prefix_only = _pad_short_body(wire, expect)
        cases.append(Case(name, wire, accept, expect, row["status_hint"], row["reason"],
                          settings.get(name, {}), prefix_only))
    return cases


def known_differences(path):
    """{file: reason} from the rows of docs/http.md that start with `| valid/...http |` or
    `| invalid/...http |`; {} when the file does not exist."""
    try:
        with open(path, encoding="utf-8") as file:
            lines = file.read().splitlines()
    except FileNotFoundError:
        return {}
    listed = {}
    for line in lines:
        match = re.match(r"\s*\|\s*`?((?:valid|invalid)/[^\s|`]+\.http)`?\s*\|([^|]*)", line)
        if match:
            listed[match.group(1)] = match.group(2).strip()
    return listed


# --- Talking to the server -----------------------------------------------------------------

@dataclasses.dataclass
class Response:
    status: int
    headers: dict  # lower-cased names
    body: bytes


@dataclasses.dataclass
class Exchange:
    responses: list         # complete responses, interim (1xx) ones left out
    leftover: bytes         # bytes after the last complete response
    answered_early: int     # responses complete before the client half-closed
    closed_by_server: bool  # the server closed before the client half-closed
    closed: bool            # the server closed (or reset) at all before the deadline
    reset: bool             # the connection was reset
    send_error: str         # why sending failed, or ""


def parse_responses(data, closed):
    """The complete responses at the start of `data`, and what follows them."""
    responses, position = [], 0
    while True:
        end = data.find(b"\r\n\r\n", position)
        if end < 0:
            break
        lines = data[position:end].decode("latin-1").split("\r\n")
        match = re.fullmatch(r"HTTP/1\.[01] (\d{3})(?: .*)?", lines[0])
        if not match:
            break
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        status, start = int(match.group(1)), end + 4
        if 100 <= status < 200:
            position = start
            continue
        if headers.get("content-length", "").isdigit():
            stop = start + int(headers["content-length"])
        elif closed:
            stop = len(data)  # delimited by the close
        else:
            break
        if stop > len(data):
            break
        responses.append(Response(status, headers, data[start:stop]))
        position = stop
    return responses, data[position:]


def _read(sock, received, deadline, quiet=None, enough=None):
    """Read into `received` until the server closes (return "closed" or "reset"), `enough()`
    holds, `quiet` s pass without a byte, or `deadline` passes (return None)."""
    last = time.monotonic()
    while True:
        if enough is not None and enough():
            return None
        now = time.monotonic()
        until = deadline if quiet is None else min(deadline, last + quiet)
        if now >= until:
            return None
        ready, _, _ = select.select([sock], [], [], until - now)
        if not ready:
            continue
        try:
            chunk = sock.recv(65536)
        except OSError:  # ECONNRESET: the server closed with our bytes unread
            return "reset"
        if not chunk:
            return "closed"
        received += chunk
        last = time.monotonic()


def exchange(port, wire, stop_when=None, split=False):
    """Send `wire` on a new connection to 127.0.0.1:`port` and read what comes back.

    The client does not half-close at once: incomplete requests are meant to meet EOF
    (NoMoreData), but complete ones must be answered, and a rejected one closed, while the
    connection is still open. So it reads until the server closes, `stop_when(responses)` holds
    (if given), or QUIET s pass without a byte; then it shuts down its write side and reads until
    the server closes or SECOND_PHASE s pass. `split` sends the first byte alone, then the rest."""
    received = bytearray()
    send_error = ""
    with socket.create_connection(("127.0.0.1", port), timeout=5.0) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            if split and len(wire) > 1:
                sock.sendall(wire[:1])
                time.sleep(SPLIT_PAUSE)
                sock.sendall(wire[1:])
            else:
                sock.sendall(wire)
        except OSError as error:  # the server may reject and close before it has all of it
            send_error = f"{type(error).__name__}: {error}"
        enough = None
        if stop_when is not None:
            enough = lambda: stop_when(parse_responses(bytes(received), False)[0])
        ending = _read(sock, received, time.monotonic() + FIRST_PHASE, QUIET, enough)
        by_server = ending is not None
        answered_early = len(parse_responses(bytes(received), by_server)[0])
        if ending is None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_WR)
            ending = _read(sock, received, time.monotonic() + SECOND_PHASE)
    responses, leftover = parse_responses(bytes(received), ending is not None)
    return Exchange(responses, leftover, answered_early, by_server, ending is not None,
                    ending == "reset", send_error)


# --- Judging ----------------------------------------------------------------------------------

def _ending(result):
    if result.reset:
        ending = "connection reset"
    elif result.closed:
        ending = "connection closed"
    else:
        ending = f"connection still open {SECOND_PHASE:g} s after the client's EOF"
    return f"{ending} (sending failed: {result.send_error})" if result.send_error else ending


def judge_invalid(case, result):
    """None when `result` rejects the case as the corpus expects; else what differs."""
    error = case.expected
    expected = ("expected close without response (NoMoreData)" if case.status_hint == "none"
                else f"expected reject {case.status_hint} ({error})")
    accepted = [r for r in result.responses if r.status < 400]
    if accepted:
        count = f" ({len(accepted)} requests accepted)" if len(accepted) > 1 else ""
        return f"got {accepted[0].status}{count}, {expected}"
    if not result.responses:
        if result.leftover:
            return f"unparseable answer {short(result.leftover)}, {expected}"
        if case.status_hint == "none":
            return None if result.closed else f"no response, {_ending(result)}, {expected}"
        return f"no response, {_ending(result)}, {expected}"
    status = result.responses[0].status
    if str(status) != case.status_hint:
        return f"got {status}, {expected}"
    if result.answered_early and not result.closed_by_server:
        return (f"got {status} but the connection stayed open {QUIET:g} s after it, "
                f"{expected}")
    return None


def _pairs(pairs):
    return [(echo_bytes(name), echo_bytes(value)) for name, value in pairs]


def _expected_pairs(pairs):
    return [(text_bytes(name), text_bytes(value)) for name, value in pairs]


def _show_pairs(pairs):
    return "[" + ", ".join(f"{short(n, 40)}: {short(v, 40)}" for n, v in pairs) + "]"


def _compare_fields(what, got, want):
    if got == want:
        return None
    if len(got) == len(want):
        differing = [(g, w) for g, w in zip(got, want) if g != w]
        return f"{what} differ: " + "; ".join(
            f"got {_show_pairs([g])}, expected {_show_pairs([w])}" for g, w in differing)
    return f"{what} got {_show_pairs(got)}, expected {_show_pairs(want)}"


def compare_echo(expected, response, body_prefix_only=False):
    """None when the echo in `response` matches the expected parse; else what differs."""
    try:
        echo = json.loads(response.body.decode("utf-8", "surrogateescape"))
        method, uri = echo_bytes(echo["method"]), echo_bytes(echo["uri"])
        version, headers = list(echo["version"]), _pairs(echo["headers"])
        body = base64.b64decode(echo["body"], validate=True)
        trailers = _pairs(echo.get("trailers", []))
    except (ValueError, KeyError, TypeError) as error:
        return f"200 whose body is not the echo worker's JSON ({error}): {short(response.body)}"
    problems = []
    if method != text_bytes(expected["method"]):
        problems.append(f"method {short(method)}, expected {ascii(expected['method'])}")
    if uri != text_bytes(expected["uri"]):
        problems.append(f"uri {short(uri)}, expected {short(text_bytes(expected['uri']))}")
    if version != expected["version"]:
        problems.append(f"version {version}, expected {expected['version']}")
    want_headers = _expected_pairs(expected["headers"])
    want_trailers = _expected_pairs(expected.get("trailers", []))
    if (want_trailers and not trailers and "trailers" not in echo
            and headers == want_headers + want_trailers):
        problems.append(f"trailers {_show_pairs(want_trailers)} reported among the headers")
    else:
        problems.append(_compare_fields("headers", headers, want_headers))
        problems.append(_compare_fields("trailers", trailers, want_trailers))
    want_body = expected["body"]
    want_body = (base64.b64decode(want_body["base64"]) if isinstance(want_body, dict)
                 else want_body.encode("utf-8"))
    if body_prefix_only:
        if not body.startswith(want_body):
            problems.append(f"body does not start with the fixture's body: got {short(body)}")
    elif body != want_body:
        problems.append(f"body {short(body)}, expected {short(want_body)}")
    problems = [p for p in problems if p]
    return "; ".join(problems) if problems else None


def judge_valid(case, result):
    """None when `result` answers every expected request, in order, as the corpus parses it;
    else what differs."""
    count = len(case.expected)
    for index, (want, response) in enumerate(zip(case.expected, result.responses)):
        label = f"request {index + 1} of {count}: " if count > 1 else ""
        if response.status != 200:
            return f"{label}got {response.status}, expected accept"
        problem = compare_echo(want, response, case.body_prefix_only)
        if problem:
            return label + problem
    got = len(result.responses)
    if got < count:
        tail = f" then unparseable {short(result.leftover)}" if result.leftover else ""
        answered = "no response" if got == 0 else f"only {got} of {count} responses"
        return f"{answered}{tail}, {_ending(result)}, expected accept"
    if got > count:
        statuses = ", ".join(str(r.status) for r in result.responses[count:])
        return (f"answered {got} requests, expected {count}: bytes after the last request "
                f"were parsed as another ({statuses})")
    if result.leftover:
        return f"unparseable bytes after the responses: {short(result.leftover)}"
    return None


def run_case(case, port):
    """None when the server at `port` handles `case` as the corpus expects; else what differs.
    A valid case is sent twice: all at once, then its first byte alone and the rest."""
    if not case.accept:  # read on after a rejection, to see the server close
        accepted = lambda responses: any(r.status < 400 for r in responses)
        return judge_invalid(case, exchange(port, case.wire, accepted))
    all_answered = lambda responses: len(responses) >= len(case.expected)
    problem = judge_valid(case, exchange(port, case.wire, all_answered))
    if problem:
        return problem
    problem = judge_valid(case, exchange(port, case.wire, all_answered, split=True))
    return f"sent as 1 byte then the rest: {problem}" if problem else None


def table_row(file, description):
    """A row of docs/http.md's table of known differences."""
    escaped = description.replace("|", "\\|")  # a | would end the cell
    return f"| {file} | {escaped} |"
