"""TERM stops corral gracefully: requests in flight finish, then everything exits."""

import os
import signal
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for `python3 -m unittest FILE`
from harness import CorralTestCase, free_port, http_connection, pid_alive, wait_until


def server_has_read_everything(server_port, client_port):
    """Whether the server end of our loopback TCP connection has an empty receive queue."""
    with open("/proc/net/tcp") as sockets:
        next(sockets)  # the header
        for line in sockets:
            fields = line.split()
            local_port, remote_port = (int(f.split(":")[1], 16) for f in fields[1:3])
            if (local_port, remote_port) == (server_port, client_port):
                return int(fields[4].split(":")[1], 16) == 0  # fields[4] is tx_queue:rx_queue
    return False


class GracefulStop(CorralTestCase):

    def test_term_lets_the_request_in_flight_finish_then_exits_cleanly(self):
        """TERM mid GET /sleep?ms=1500: it gets 200; the master exits 0; workers, pidfile gone."""
        port = free_port()
        pidfile = os.path.join(self.tmp, "corral.pid")
        master = self.start_corral("-w", 2, "-b", f"127.0.0.1:{port}", "-p", pidfile,
                                   "--graceful-timeout", 10)
        master.wait_serving(port)
        workers = master.wait_workers(2)
        with open(pidfile) as file:
            self.assertEqual(file.read().strip(), str(master.pid))

        connection = http_connection(port, timeout=10.0)
        self.addCleanup(connection.close)
        connection.request("GET", "/sleep?ms=1500")
        client_port = connection.sock.getsockname()[1]
        wait_until(lambda: server_has_read_everything(port, client_port), 1.0,
                   "a worker to read the request")
        master.send_signal(signal.SIGTERM)
        response = connection.getresponse()
        response.read()
        connection.close()  # an idle keep-alive connection is not a request in flight

        self.assertEqual(response.status, 200)
        self.assertEqual(master.wait_exit(5.0), 0)
        self.assertEqual([pid for pid in workers if pid_alive(pid)], [])
        self.assertFalse(os.path.exists(pidfile), "the pidfile outlived the master")

    def kill_master_mid_request(self, sleep_ms, graceful_timeout):
        """One worker busy with GET /sleep?ms=`sleep_ms` when its master gets SIGKILL;
        returns (master, worker pid, the request's connection)."""
        port = free_port()
        master = self.start_corral("-w", 1, "-b", f"127.0.0.1:{port}", "--graceful-timeout",
                                   graceful_timeout)
        master.wait_serving(port)
        worker = master.wait_workers(1).pop()
        connection = http_connection(port, timeout=10.0)
        self.addCleanup(connection.close)
        connection.request("GET", f"/sleep?ms={sleep_ms}")
        client_port = connection.sock.getsockname()[1]
        wait_until(lambda: server_has_read_everything(port, client_port), 1.0,
                   "the worker to read the request")
        master.send_signal(signal.SIGKILL)
        return master, worker, connection

    def test_kill_9_of_the_master_lets_the_workers_finish_what_is_in_flight(self):
        """SIGKILL to the master mid GET /sleep?ms=1500: the worker (told by its parent-death
        signal, and by its parent check) still answers 200, then exits."""
        master, worker, connection = self.kill_master_mid_request(1500, graceful_timeout=10)
        response = connection.getresponse()
        self.assertEqual(response.status, 200)
        self.assertEqual(response.read(), b"slept 1500 ms\n")
        connection.close()
        wait_until(lambda: not pid_alive(worker), 5.0, "the worker to exit")

    def test_a_worker_whose_master_died_exits_at_graceful_timeout_at_the_latest(self):
        """No master is left to SIGKILL a drain that takes too long: the worker ends it itself
        after graceful_timeout, and says so."""
        master, worker, _ = self.kill_master_mid_request(8000, graceful_timeout=1)
        wait_until(lambda: not pid_alive(worker), 5.0, "the worker to give up its drain")
        self.assertIn("Worker still draining 1 s after its master died (graceful_timeout); "
                      "exiting", master.log())

if __name__ == "__main__":
    unittest.main()
