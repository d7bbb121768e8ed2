"""corral talks to its own service manager (NOTIFY_SOCKET) the way workers talk to corral:
READY=1 once the first generation serves, RELOADING=1/READY=1 around a reload, STOPPING=1,
STATUS= lines and WATCHDOG=1 pings; its workers get corral's socket, not the manager's."""

import os
import re
import signal
import socket
import struct
import sys
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for `python3 -m unittest FILE`
from harness import CorralTestCase, free_port, http_get, wait_until


def parse_datagram(datagram):
    """The KEY=VALUE lines of a notification, as a dict."""
    fields = {}
    for line in datagram.decode().split("\n"):
        key, equals, value = line.partition("=")
        if equals:
            fields[key] = value
    return fields


def environ_of(pid):
    """The environment `pid` was started with, as a dict."""
    with open(f"/proc/{pid}/environ", "rb") as environ:
        entries = environ.read().split(b"\0")
    return dict(entry.decode(errors="replace").partition("=")[::2] for entry in entries if entry)


class NotifyReceiver:
    """A service manager's end of NOTIFY_SOCKET: a datagram socket the test reads from.

    `address` is what goes into NOTIFY_SOCKET: a path, or "@name" for an abstract socket.
    Every datagram is kept with the CLOCK_MONOTONIC time it was read at, and the sender's
    pid (from the kernel, SO_PASSCRED) as the field "_PID", as systemd records it.
    """

    def __init__(self, directory, abstract=False):
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = f"corral-test/{uuid.uuid4().hex}"
            self.socket.bind("\0" + name)
            self.address = "@" + name
        else:
            self.address = os.path.join(directory, "notify.sock")
            self.socket.bind(self.address)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.socket.setblocking(False)
        self.messages = []  # (monotonic time of arrival, dict of fields)
        self.examined = 0  # how many of them wait_for has looked at

    def close(self):
        self.socket.close()

    def drain(self):
        """Read every datagram waiting in the socket; return the new ones."""
        new = []
        while True:
            try:
                datagram, ancillary, _, _ = self.socket.recvmsg(65536, socket.CMSG_SPACE(12))
            except BlockingIOError:
                break
            fields = parse_datagram(datagram)
            for level, kind, data in ancillary:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    fields["_PID"] = str(struct.unpack("iII", data)[0])
            new.append((time.monotonic(), fields))
        self.messages.extend(new)
        return new

    def wait_for(self, predicate, timeout, what, master=None):
        """Read datagrams until one after the last one found satisfies `predicate`; return
        its fields."""
        def found():
            self.drain()
            while self.examined < len(self.messages):
                fields = self.messages[self.examined][1]
                self.examined += 1
                if predicate(fields):
                    return fields
            if master is not None:
                master.assert_running()
            return None

        return wait_until(found, timeout, what)

    def state_changes(self):
        """The messages that are neither STATUS= alone nor WATCHDOG=1 pings."""
        return [fields for _, fields in self.messages
                if not {key for key in fields if not key.startswith("_")} <= {"STATUS", "WATCHDOG"}]

    def watchdog_times(self):
        return [arrival for arrival, fields in self.messages if fields.get("WATCHDOG") == "1"]


class NotifyingTheServiceManager(CorralTestCase):

    def receiver(self, abstract=False):
        receiver = NotifyReceiver(self.tmp, abstract)
        self.addCleanup(receiver.close)
        return receiver

    def start_notifying(self, receiver, *extra, env=None, workers=2):
        self.port = free_port()
        environment = {"NOTIFY_SOCKET": receiver.address}
        environment.update(env or {})
        return self.start_corral("-w", workers, "-b", f"127.0.0.1:{self.port}", *extra,
                                 env=environment)

    def test_ready_reloading_ready_stopping_in_this_order(self):
        """READY=1 once both first workers are ready, RELOADING=1 (MONOTONIC_USEC) and READY=1
        (generation 2) around a HUP, STOPPING=1 (EXTEND_TIMEOUT_USEC) on TERM; nothing else."""
        receiver = self.receiver()
        master = self.start_notifying(receiver, "--graceful-timeout", 2)

        ready = receiver.wait_for(lambda f: "READY" in f, 5.0, "READY=1", master)
        self.assertEqual(ready["READY"], "1")
        self.assertEqual(ready["STATUS"], "2/2 workers ready, generation 1, 0 req/s")
        # Each worker's READY=1 is logged before the master tells the manager it is ready.
        self.assertEqual(len(re.findall(r"Worker \d+ ready in \d+ ms", master.log())), 2)
        self.assertEqual(http_get(self.port)[0], 200)

        before_hup = time.monotonic()
        master.send_signal(signal.SIGHUP)
        reloading = receiver.wait_for(lambda f: "RELOADING" in f, 5.0, "RELOADING=1", master)
        reloading_arrival = receiver.messages[receiver.examined - 1][0]
        self.assertEqual(reloading["RELOADING"], "1")
        self.assertRegex(reloading.get("MONOTONIC_USEC", ""), r"^\d+$")
        # MONOTONIC_USEC is CLOCK_MONOTONIC when the reload started: the manager compares it
        # with the time it sent the reload signal.
        reload_started = int(reloading["MONOTONIC_USEC"]) / 1e6
        self.assertGreaterEqual(reload_started, before_hup - 0.001)
        self.assertLessEqual(reload_started, reloading_arrival + 0.001)

        ready_again = receiver.wait_for(lambda f: "READY" in f, 5.0, "READY=1 after the reload",
                                        master)
        self.assertEqual(ready_again["READY"], "1")
        self.assertRegex(ready_again["STATUS"], r"^2/2 workers ready, generation 2, \d+ req/s$")
        master.wait_log("Reload complete: generation 2 serves with 2 workers")

        master.send_signal(signal.SIGTERM)
        stopping = receiver.wait_for(lambda f: "STOPPING" in f, 5.0, "STOPPING=1")
        self.assertEqual(stopping["STOPPING"], "1")
        # graceful_timeout (2 s) plus 5 s for the master's own exit.
        self.assertEqual(stopping.get("EXTEND_TIMEOUT_USEC"), "7000000")
        self.assertEqual(master.wait_exit(), 0)
        receiver.drain()

        kinds = [next((key for key in ("READY", "RELOADING", "STOPPING") if key in fields),
                      str(fields)) for fields in receiver.state_changes()]
        self.assertEqual(kinds, ["READY", "RELOADING", "READY", "STOPPING"],
                         f"all messages: {receiver.messages}")

    def test_status_lines_report_the_workers(self):
        """After READY=1, STATUS= follows the number of ready workers (TTIN: 3/3)."""
        receiver = self.receiver()
        master = self.start_notifying(receiver, workers=2)
        receiver.wait_for(lambda f: "READY" in f, 5.0, "READY=1", master)
        master.send_signal(signal.SIGTTIN)
        receiver.wait_for(lambda f: f.get("STATUS", "").startswith("3/3 workers ready,"), 5.0,
                          "STATUS=3/3 workers ready", master)
        statuses = [fields["STATUS"] for _, fields in receiver.messages if "STATUS" in fields]
        for status in statuses:
            self.assertRegex(status, r"^\d+/\d+ workers ready, generation 1, \d+ req/s$")
        self.assertEqual(statuses[0], "2/2 workers ready, generation 1, 0 req/s")

    def test_an_abstract_notify_socket(self):
        """NOTIFY_SOCKET=@name (an abstract socket): READY=1 arrives there."""
        receiver = self.receiver(abstract=True)
        master = self.start_notifying(receiver, workers=1)
        ready = receiver.wait_for(lambda f: "READY" in f, 5.0, "READY=1 on @name", master)
        self.assertEqual(ready["STATUS"], "1/1 workers ready, generation 1, 0 req/s")

    def test_watchdog_pings_at_half_the_interval(self):
        """WATCHDOG_USEC=400000: WATCHDOG=1 comes every ~0.2 s, at least 3 within 1.5 s."""
        receiver = self.receiver()
        master = self.start_notifying(receiver, workers=1, env={"WATCHDOG_USEC": "400000"})
        receiver.wait_for(lambda f: "READY" in f, 5.0, "READY=1", master)
        first = receiver.wait_for(lambda f: f.get("WATCHDOG") == "1", 2.0, "a first WATCHDOG=1",
                                  master)
        self.assertEqual({key: value for key, value in first.items() if key != "_PID"},
                         {"WATCHDOG": "1"})
        start = receiver.watchdog_times()[0]

        def pings_within_one_and_a_half_seconds():
            receiver.drain()
            return len([t for t in receiver.watchdog_times() if t - start <= 1.5]) >= 4

        wait_until(pings_within_one_and_a_half_seconds, 2.5,
                   "3 more WATCHDOG=1 pings within 1.5 s of the first")
        times = receiver.watchdog_times()
        gaps = [later - earlier for earlier, later in zip(times, times[1:])]
        # Never more than the interval apart, or the manager would kill a healthy service.
        self.assertLess(max(gaps), 0.4, f"gaps between pings: {gaps}")

    def test_no_watchdog_pings_when_watchdog_pid_names_another_process(self):
        """WATCHDOG_PID of another process: the watchdog is not corral's; it never pings."""
        receiver = self.receiver()
        master = self.start_notifying(receiver, workers=1,
                                      env={"WATCHDOG_USEC": "400000",
                                           "WATCHDOG_PID": str(os.getpid())})
        receiver.wait_for(lambda f: "READY" in f, 5.0, "READY=1", master)
        # Pings would come every 0.2 s: 1.2 s of silence means there are none.
        deadline = time.monotonic() + 1.2
        while time.monotonic() < deadline:
            receiver.drain()
            master.assert_running()
            time.sleep(0.05)
        self.assertEqual(receiver.watchdog_times(), [], f"messages: {receiver.messages}")

    def test_workers_get_corrals_notify_socket_not_the_managers(self):
        """Workers' NOTIFY_SOCKET is corral's own socket, one per worker; WATCHDOG_PID is theirs."""
        receiver = self.receiver()
        master = self.start_notifying(receiver, workers=2,
                                      env={"WATCHDOG_USEC": "400000",
                                           "WATCHDOG_PID": str(os.getpid())})
        receiver.wait_for(lambda f: "READY" in f, 5.0, "READY=1", master)
        workers = master.wait_generation(1, 2)
        for worker in workers:
            environment = environ_of(worker)
            self.assertIn(f"/corral-{master.pid}.", environment["NOTIFY_SOCKET"])
            self.assertNotEqual(environment["NOTIFY_SOCKET"], receiver.address)
            self.assertEqual(environment["WATCHDOG_PID"], str(worker))
            self.assertEqual(environment["LISTEN_PID"], str(worker))
        sockets = {environ_of(w)["NOTIFY_SOCKET"] for w in workers}
        self.assertEqual(len(sockets), 2, "two workers share a notify socket")
        # corral's own watchdog for its workers is `timeout` (30 s), not the manager's.
        self.assertEqual({environ_of(w)["WATCHDOG_USEC"] for w in workers}, {"30000000"})


if __name__ == "__main__":
    unittest.main()
