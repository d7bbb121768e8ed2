"""A fleet of two hosts behind nginx: each host a network namespace of its own, joined to
the test's namespace by a veth pair, runs a corral master; a rolling reload of the hosts
under load fails no request. Needs root (network namespaces)."""

import os
import re
import shutil
import signal
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for `python3 -m unittest FILE`
from harness import CORRAL, wait_for_load, wait_until
from nginx_proxy import ProxiedTestCase

IP = shutil.which("ip") or next(
    (path for path in ("/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip") if os.access(path, os.X_OK)),
    None)
PORT = 8000  # every host serves on the same port of its own address, as a fleet does


def ip(*args, check=True):
    """Run `ip ARGS`; fail with its stderr unless it succeeded (or `check` is false)."""
    done = subprocess.run([IP, *args], stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise AssertionError(f"`ip {' '.join(args)}` failed ({done.returncode}): "
                             f"{done.stderr.strip()}")
    return done


def free_subnets(count):
    """`count` third octets N such that no address or route of this namespace is in
    10.200.N.0/24: a test run killed before its cleanup may have left some in use."""
    used_text = ip("-4", "-o", "addr", "show").stdout + ip("-4", "route", "show").stdout
    used = {int(octet) for octet in re.findall(r"\b10\.200\.(\d+)\.", used_text)}
    free = [octet for octet in range(1, 255) if octet not in used]
    if len(free) < count:
        raise AssertionError(f"no {count} free /24 networks in 10.200.0.0/16")
    return free[:count]


class Host:
    """A network namespace joined to the test's namespace by a veth pair: `address` inside
    (10.200.N.2), `gateway` outside (10.200.N.1)."""

    def __init__(self, letter, octet):
        pid = os.getpid()
        self.namespace = f"corral-test-{letter}-{pid}"
        self.outside = f"crl{letter}{pid}o"  # interface names: 15 characters at most
        self.inside = f"crl{letter}{pid}i"
        self.address = f"10.200.{octet}.2"
        self.gateway = f"10.200.{octet}.1"
        self.pidfile = None
        self.master = None

    def master_pid(self):
        """The pid the host's pidfile names, or None while there is none."""
        try:
            with open(self.pidfile) as file:
                return int(file.read().strip() or 0) or None
        except FileNotFoundError:
            return None


class FleetInNamespaces(ProxiedTestCase):

    def setUp(self):
        super().setUp()
        if IP is None:
            raise unittest.SkipTest("iproute2 (`ip`) is not installed: the fleet tests need it")
        if os.geteuid() != 0:
            raise unittest.SkipTest("the fleet tests create network namespaces: run them as root")
        self.hosts = [self.add_host(letter, octet)
                      for letter, octet in zip("ab", free_subnets(2))]

    def add_host(self, letter, octet):
        """Create a host; its namespace and veth pair are deleted when the test ends."""
        host = Host(letter, octet)
        added = ip("netns", "add", host.namespace, check=False)
        if added.returncode != 0:
            raise unittest.SkipTest(f"`ip netns add` failed ({added.stderr.strip()}): the fleet "
                                    "tests need to create network namespaces (root, CAP_SYS_ADMIN)")
        # Cleanups run last first: the veth goes, then the namespace (which would take the
        # inside end along), and before both every process started later (corral, nginx).
        self.addCleanup(ip, "netns", "delete", host.namespace, check=False)
        ip("link", "add", host.outside, "type", "veth", "peer", "name", host.inside)
        self.addCleanup(ip, "link", "delete", host.outside, check=False)
        ip("link", "set", host.inside, "netns", host.namespace)
        ip("addr", "add", f"{host.gateway}/24", "dev", host.outside)
        ip("link", "set", host.outside, "up")
        ip("-n", host.namespace, "addr", "add", f"{host.address}/24", "dev", host.inside)
        ip("-n", host.namespace, "link", "set", host.inside, "up")
        ip("-n", host.namespace, "link", "set", "lo", "up")
        return host

    def start_fleet(self):
        """corral (2 workers, a pidfile) on every host, nginx in front of them all."""
        for host in self.hosts:
            host.pidfile = os.path.join(self.tmp, f"{host.namespace}.pid")
            # `ip netns exec` execs corral (no fork): the master's pid is the child's.
            host.master = self.start_corral(
                "netns", "exec", host.namespace, CORRAL, "-w", 2,
                "-b", f"{host.address}:{PORT}", "-p", host.pidfile,
                "--forwarded-allow-ips", host.gateway, binary=IP)
        for host in self.hosts:
            host.master.wait_serving((host.address, PORT))
            host.master.wait_workers(2)
            wait_until(lambda: host.master_pid() == host.master.pid, 2.0,
                       f"{host.pidfile} to name the master of {host.namespace}")
        return self.start_nginx([f"{host.address}:{PORT}" for host in self.hosts])

    def pids_answering(self, proxy, requests=50):
        """The pids and generations /info names through nginx over `requests` requests."""
        answers = [proxy.info() for _ in range(requests)]
        return {answer["pid"] for answer in answers}, {answer["generation"] for answer in answers}

    def assert_both_hosts_answer(self, pids):
        workers = [host.master.worker_pids() for host in self.hosts]
        self.assertLessEqual(pids, set().union(*workers), "a pid that is no corral worker")
        for host, pids_of_host in zip(self.hosts, workers):
            self.assertTrue(pids & pids_of_host, f"no request reached {host.namespace}")

    def test_nginx_balances_across_both_hosts(self):
        """50 GET /info through nginx name workers of the corral in each namespace."""
        proxy = self.start_fleet()
        pids, generations = self.pids_answering(proxy)
        self.assert_both_hosts_answer(pids)
        self.assertEqual(generations, {1})
        self.assertEqual(proxy.quit(), 0, "nginx did not stop cleanly on SIGQUIT")

    def test_rolling_reload_under_load_fails_no_request(self):
        """wrk on nginx for 4 s over 32 connections, HUP host a, its reload done, HUP host b:
        no socket error, no non-2xx, no upstream error; then both hosts serve generation 2."""
        proxy = self.start_fleet()
        first = set().union(*(host.master.worker_pids() for host in self.hosts))

        wrk = self.start_wrk(proxy.port, seconds=4, connections=32)
        for host in self.hosts:
            wait_for_load(proxy.port)
            os.kill(host.master_pid(), signal.SIGHUP)  # as an operator would, by the pidfile
            host.master.wait_log("Reload complete: generation 2 serves with 2 workers")
        self.assertIsNone(wrk.process.poll(), "wrk ended before the reloads did: too slow to test")

        wrk.assert_clean(self)
        # nginx retries a failed GET on the other host, hiding it from wrk: its log tells.
        self.assertNotIn("upstream", proxy.error_log(), "nginx saw an upstream fail")
        last = set().union(*(host.master.wait_generation(2, 2) for host in self.hosts))
        self.assertFalse(first & last, "a worker of generation 1 survived the rolling reload")
        pids, generations = self.pids_answering(proxy)
        self.assertEqual(generations, {2}, "nginx still reaches a worker of generation 1")
        self.assert_both_hosts_answer(pids)
        self.assertEqual(proxy.quit(), 0, "nginx did not stop cleanly on SIGQUIT")


if __name__ == "__main__":
    unittest.main()
