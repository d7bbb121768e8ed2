"""A final stop serves the connections already waiting in the listener's accept queue."""

import os
import signal
import socket
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for `python3 -m unittest FILE`
from harness import CorralTestCase, free_port, http_get, wait_until

QUEUED_CLIENTS = 20


def worker_connections(port):
    """Connections the master has seen on its listener: accepted ones are not queued."""
    with open("/proc/net/tcp") as table:
        rows = table.read().splitlines()[1:]
    local = f":{port:04X}"
    return sum(1 for row in rows if row.split()[1].endswith(local) and row.split()[3] == "01")


def read_response(sock):
    """The whole response on `sock` (the server closes after it), as bytes."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


class FinalStop(CorralTestCase):

    def test_term_serves_connections_queued_behind_a_busy_worker(self):
        """While the only worker is stalled, 20 clients connect and send a request; then TERM:
        every one of them gets 200 with Connection: close, none is reset."""
        port = free_port()
        master = self.start_corral("-w", 1, "-b", f"127.0.0.1:{port}", "--debug-endpoints",
                                   "-t", "30")
        master.wait_serving(port)
        stall = threading.Thread(target=http_get, args=(port, "/stall?ms=1500"), kwargs={"timeout": 10})
        stall.start()
        # The stall request must reach the worker before the queued clients do.
        wait_until(lambda: worker_connections(port) >= 1, 5.0, "the stall request to arrive")
        clients = []
        for _ in range(QUEUED_CLIENTS):  # the stalled worker cannot accept: they queue
            client = socket.create_connection(("127.0.0.1", port), timeout=10)
            client.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
            clients.append(client)
        master.send_signal(signal.SIGTERM)

        answers = [read_response(client) for client in clients]
        for client in clients:
            client.close()
        stall.join()
        for answer in answers:
            self.assertTrue(answer.startswith(b"HTTP/1.1 200 OK\r\n"), answer[:80])
        # Those still queued at TERM are answered by the final stop, with Connection: close
        # (a client the worker accepted just before the stall got a keep-alive answer).
        self.assertTrue(any(b"\r\nConnection: close\r\n" in answer for answer in answers))
        self.assertEqual(master.wait_exit(), 0)
        self.assertIn("final stop: serving queued connections first", master.log())


if __name__ == "__main__":
    unittest.main()
