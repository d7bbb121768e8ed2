"""Accept shards (`reuse_port`): each worker accepts on its own SO_REUSEPORT socket of a
TCP listener, so the kernel spreads new connections over the workers, and the master keeps
every shard open so that reloads, scaling and upgrades lose no queued connection."""

import collections
import http.client
import json
import os
import signal
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for `python3 -m unittest FILE`
from harness import (CORRAL, CorralTestCase, free_port, live_children, socket_inode,
                     wait_for_load, wait_until)


def workers_serving(port, connections):
    """Open `connections` keep-alive connections at once, then ask each which worker it
    reached (GET /info); return a Counter of worker pids."""
    opened = [http.client.HTTPConnection("127.0.0.1", port, timeout=5) for _ in range(connections)]
    for connection in opened:
        connection.connect()
    served = collections.Counter()
    for connection in opened:
        connection.request("GET", "/info")
        served[json.loads(connection.getresponse().read())["pid"]] += 1
        connection.close()
    return served


class AcceptShards(CorralTestCase):

    def start(self, *extra, workers=2, bind=None):
        self.port = free_port()
        self.pidfile = os.path.join(self.tmp, "corral.pid")
        master = self.start_corral("-w", workers, "-b", bind or f"127.0.0.1:{self.port}",
                                   "--pid", self.pidfile, *extra)
        if bind is None:
            master.wait_serving(self.port)
        master.wait_log("Control socket:")
        return master

    def status(self):
        done = subprocess.run([CORRAL, "status", "--json", "--pid", self.pidfile],
                              capture_output=True, text=True, timeout=20)
        self.assertEqual(done.returncode, 0, done.stderr)
        return json.loads(done.stdout)

    def start_queueing(self, *extra, workers=2):
        """A master whose workers take one connection at a time and block 10 ms on each
        request, under wrk opening a new connection per request: connections wait in every
        shard's queue, as they do on a busy server."""
        master = self.start("--debug-endpoints", "--worker-connections", 1, *extra,
                            workers=workers)
        first = master.wait_workers(workers)
        wrk = self.start_load(self.port, at_least=20, seconds=3, connections=32,
                              path="/stall?ms=10", new_connections=True)
        return master, first, wrk

    def assert_replacement_takes_the_shard(self, master, wrk, victim, workers):
        """SIGKILL `victim` (one of `workers`) under `wrk`: the worker started in its place
        accepts on the victim's socket, and once the load ends no connection is left."""
        shard = socket_inode(victim, 3)
        os.kill(victim, signal.SIGKILL)
        [replacement] = wait_until(lambda: master.worker_pids() - workers, 5.0, "a replacement")
        self.assertEqual(self.listener_sockets(master, [replacement])[replacement], shard)
        wrk.finish()
        self.assert_every_connection_accepted()

    def assert_every_connection_accepted(self):
        """Once the load has ended, no connection is left in a shard's queue: each one wrk
        opened reached a worker. (wrk does not count a connection that is never accepted
        as an error: it just waits on it.)"""
        wait_until(lambda: self.status()["listeners"][0]["queued"] == 0, 5.0,
                   "every queued connection to be accepted")

    def listener_sockets(self, master, pids):
        """The socket each worker has on fd 3, its first listener, once it is ready (a
        worker just forked may not have its listeners in place yet)."""
        for pid in pids:
            master.wait_log(f"Worker {pid} ready in")
        return {pid: socket_inode(pid, 3) for pid in pids}

    def test_new_connections_spread_over_the_workers(self):
        """64 connections opened in a burst reach both workers: 32 each when the master
        can route them in turn (eBPF), else at least 20% each. (A shared socket gives
        most or all of them to whichever worker wakes first.)"""
        master = self.start()
        workers = master.wait_workers(2)
        self.assertIn("an accept shard per worker", master.log())
        sockets = self.listener_sockets(master, workers)
        self.assertEqual(len(set(sockets.values())), 2, f"the workers share a socket: {sockets}")
        served = workers_serving(self.port, 64)
        self.assertEqual(set(served), workers, f"not every worker got connections: {served}")
        if "spread at random" in master.log():  # no CAP_BPF: the kernel's coin tosses
            for pid, count in served.items():
                self.assertGreaterEqual(count, 13, f"worker {pid} got {count} of 64: {served}")
        else:  # in turn
            self.assertEqual(sorted(served.values()), [32, 32], f"not in turn: {served}")

    def test_no_reuse_port_shares_one_socket(self):
        master = self.start("--no-reuse-port")
        workers = master.wait_workers(2)
        sockets = self.listener_sockets(master, workers)
        self.assertEqual(len(set(sockets.values())), 1, f"--no-reuse-port gave shards: {sockets}")
        self.assertNotIn("accept shard", master.log())

    def test_a_unix_listener_is_shared(self):
        """SO_REUSEPORT spreads nothing on unix sockets: every worker gets the one socket."""
        path = os.path.join(self.tmp, "corral.sock")
        master = self.start(bind=f"unix:{path}")
        workers = master.wait_workers(2)
        master.wait_log("Worker")
        sockets = self.listener_sockets(master, workers)
        self.assertEqual(len(set(sockets.values())), 1, f"a unix listener got shards: {sockets}")

    def test_a_full_worker_leaves_new_connections_to_the_others(self):
        """worker_connections = 2, three workers: six keep-alive connections opened one by
        one are all answered, two per worker. A worker at its limit says X_CORRAL_FULL=1
        and the master stops sending its shard new connections; without that, one would
        wait in a full worker's queue."""
        master = self.start("--worker-connections", 2, "--keep-alive", 60, workers=3)
        master.wait_workers(3)
        opened, served = [], collections.Counter()
        for _ in range(6):  # each answered within 2 s, or the test fails
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            connection.request("GET", "/info")
            pid = json.loads(connection.getresponse().read())["pid"]
            opened.append(connection)
            served[pid] += 1
            if served[pid] == 2:
                wait_until(lambda: any(w["pid"] == pid and w["full"]
                                       for w in self.status()["workers"]),
                           5.0, f"the master to know worker {pid} is full")
        for connection in opened:
            connection.close()
        self.assertEqual(sorted(served.values()), [2, 2, 2], f"connections per worker: {served}")
        wait_until(lambda: not any(w["full"] for w in self.status()["workers"]), 5.0,
                   "every worker to have room again")

    def test_status_shows_the_shards_and_each_workers_shard(self):
        master = self.start(workers=3)
        master.wait_workers(3)
        report = self.status()
        self.assertEqual(report["listeners"][0]["accept_shards"], 3)
        self.assertEqual(sorted(w["shard"] for w in report["workers"]), [0, 1, 2])
        text = subprocess.run([CORRAL, "status", "--pid", self.pidfile], capture_output=True,
                              text=True, timeout=20).stdout
        self.assertIn("3 accept shards", text)

    def test_scaling_down_under_new_connections_loses_none(self):
        """TTOU twice while connections queue: none is lost (a retired worker accepts what
        its shard holds before it stops, else they would wait there for good)."""
        master, workers, wrk = self.start_queueing(workers=3)
        shards = set(self.listener_sockets(master, workers).values())
        master.send_signal(signal.SIGTTOU)
        master.wait_workers(2)
        wait_for_load(self.port, at_least=20)
        master.send_signal(signal.SIGTTOU)
        [remaining] = master.wait_workers(1)
        self.assertIsNone(wrk.process.poll(), "wrk ended before the scaling did: too slow to test")
        wrk.assert_clean(self)
        self.assert_every_connection_accepted()
        self.assertNotIn("still queued on its accept shard", master.log())
        # The master still holds every shard: TTIN puts a worker on one of them again.
        master.send_signal(signal.SIGTTIN)
        added = master.wait_workers(2) - {remaining}
        self.assertLessEqual(set(self.listener_sockets(master, added).values()), shards)

    def test_reloads_under_new_connections_lose_none_and_keep_the_shards(self):
        """HUP twice while connections queue: none is lost, and the new generations accept
        on the very sockets the first one did."""
        master, first, wrk = self.start_queueing()
        shards = set(self.listener_sockets(master, first).values())
        master.send_signal(signal.SIGHUP)
        master.wait_log("Reload complete: generation 2 serves with 2 workers")
        master.send_signal(signal.SIGHUP)
        master.wait_log("Reload complete: generation 3 serves with 2 workers")
        self.assertIsNone(wrk.process.poll(), "wrk ended before the reloads did: too slow to test")
        wrk.assert_clean(self)
        self.assert_every_connection_accepted()
        last = master.wait_generation(3, 2)
        self.assertEqual(set(self.listener_sockets(master, last).values()), shards)

    def test_a_killed_workers_shard_and_queue_go_to_its_replacement(self):
        """SIGKILL one of two workers while connections queue: its replacement accepts on
        the same shard, and what waited there is served (the killed worker's own
        connections are lost, as they would be with any shared socket)."""
        master, first, wrk = self.start_queueing()
        self.assert_replacement_takes_the_shard(master, wrk, min(first), first)

    def test_a_crash_after_a_scale_down_gives_the_crashed_shard_a_worker(self):
        """TTOU retires the oldest worker (shard 0), leaving shards 1 and 2; then the
        worker on shard 2 is killed while connections queue. Its replacement must go to
        shard 2, beyond the count of 2, or what waits there is never accepted."""
        master, first, wrk = self.start_queueing(workers=3)
        master.send_signal(signal.SIGTTOU)
        remaining = master.wait_workers(2)
        shards = {w["pid"]: w["shard"] for w in self.status()["workers"]}
        victim = max(remaining, key=lambda pid: shards[pid])
        self.assertEqual(shards[victim], 2, f"TTOU did not retire the worker on shard 0: {shards}")
        self.assert_replacement_takes_the_shard(master, wrk, victim, remaining)

    def test_an_upgrade_keeps_the_shards(self):
        """USR2 while connections queue: none is lost, and the new master's workers accept
        on the shards the old master bound."""
        master, first, wrk = self.start_queueing()
        shards = set(self.listener_sockets(master, first).values())
        master.send_signal(signal.SIGUSR2)
        new = master.wait_new_master()
        self.assertEqual(master.wait_exit(timeout=20.0), 0)
        self.assertIsNone(wrk.process.poll(), "wrk ended before the upgrade did: too slow to test")
        wrk.assert_clean(self)
        self.assert_every_connection_accepted()
        last = live_children(new)
        self.assertEqual(len(last), 2)
        self.assertFalse(first & last)
        self.assertEqual(set(self.listener_sockets(master, last).values()), shards)


if __name__ == "__main__":
    unittest.main()
