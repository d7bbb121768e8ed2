"""Two corral masters behind a real nginx (one on TCP, one on a unix socket): requests reach
both, and reloading each in turn under load fails no request."""

import os
import signal
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for `python3 -m unittest FILE`
from harness import free_port, wait_for_load
from nginx_proxy import ProxiedTestCase


class BehindNginx(ProxiedTestCase):

    def start_pair(self):
        """Two masters of 2 workers, on 127.0.0.1:PORT and on unix:TMP/b.sock, behind nginx."""
        port = free_port()
        socket_path = os.path.join(self.tmp, "b.sock")
        tcp = self.start_corral("-w", 2, "-b", f"127.0.0.1:{port}")
        unix = self.start_corral("-w", 2, "-b", f"unix:{socket_path}")
        tcp.wait_serving(port)
        unix.wait_serving(f"unix:{socket_path}")
        tcp.wait_workers(2)
        unix.wait_workers(2)
        proxy = self.start_nginx([f"127.0.0.1:{port}", f"unix:{socket_path}"])
        return tcp, unix, proxy

    def pids_answering(self, proxy, requests=50):
        """The pids and generations /info names through nginx over `requests` requests."""
        answers = [proxy.info() for _ in range(requests)]
        return {answer["pid"] for answer in answers}, {answer["generation"] for answer in answers}

    def test_requests_through_nginx_reach_workers_of_both_masters(self):
        """50 GET /info through nginx name workers of the TCP master and of the unix one."""
        tcp, unix, proxy = self.start_pair()
        pids, generations = self.pids_answering(proxy)

        tcp_workers, unix_workers = tcp.worker_pids(), unix.worker_pids()
        self.assertLessEqual(pids, tcp_workers | unix_workers, "a pid that is no corral worker")
        self.assertTrue(pids & tcp_workers, "no request reached the master on 127.0.0.1")
        self.assertTrue(pids & unix_workers, "no request reached the master on the unix socket")
        self.assertEqual(generations, {1})
        self.assertEqual(proxy.quit(), 0, "nginx did not stop cleanly on SIGQUIT")

    def reload_both_under_load(self, script=None, path="/"):
        """wrk on nginx for 3 s while HUP reloads one master, then the other; check all."""
        tcp, unix, proxy = self.start_pair()
        first = tcp.worker_pids() | unix.worker_pids()

        wrk = self.start_load(proxy.port, seconds=3, path=path, script=script)
        tcp.send_signal(signal.SIGHUP)
        tcp.wait_log("Reload complete: generation 2 serves with 2 workers")
        wait_for_load(proxy.port)
        unix.send_signal(signal.SIGHUP)
        unix.wait_log("Reload complete: generation 2 serves with 2 workers")
        self.assertIsNone(wrk.process.poll(), "wrk ended before the reloads did: too slow to test")

        wrk.assert_clean(self)
        # nginx retries a failed GET on the next server, hiding it from wrk: its log tells.
        self.assertNotIn("upstream", proxy.error_log(), "nginx saw an upstream fail")
        last = tcp.wait_generation(2, 2) | unix.wait_generation(2, 2)
        self.assertFalse(first & last, "a worker of generation 1 survived the reload")
        pids, generations = self.pids_answering(proxy)
        self.assertEqual(generations, {2}, "nginx still reaches a worker of generation 1")
        self.assertTrue(pids & tcp.worker_pids() and pids & unix.worker_pids(),
                        "after the reloads, nginx no longer reaches both masters")
        self.assertEqual(proxy.quit(), 0, "nginx did not stop cleanly on SIGQUIT")

    def test_reloading_each_master_in_turn_under_load_fails_no_request(self):
        """wrk GETs on nginx for 3 s, HUP one master then the other: no error, no non-2xx."""
        self.reload_both_under_load()

    def test_reloading_each_master_in_turn_fails_no_post(self):
        """wrk POSTs /echo on nginx for 3 s, HUP one master then the other: no error, no
        non-2xx (nginx never retries a POST, so a connection corral drops shows as a 502)."""
        script = self.write_file("post.lua", 'wrk.method = "POST"\n'
                                             'wrk.body = "corral behind nginx"\n'
                                             'wrk.headers["Content-Type"] = "text/plain"\n')
        self.reload_both_under_load(script, path="/echo")


if __name__ == "__main__":
    unittest.main()
