"""max_requests: a worker that served its share is replaced, drained once the new one is ready."""

import http.client
import json
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for `python3 -m unittest FILE`
from harness import SANITIZED, CorralTestCase, free_port, http_get, wait_for_load, wait_until

RECYCLING = ("--max-requests", 200, "--max-requests-jitter", 50)


class RecyclingAfterMaxRequests(CorralTestCase):

    def test_a_worker_past_max_requests_is_replaced_by_a_ready_one(self):
        """--max-requests 200 (+0-50), 251 requests: the worker asks, is replaced, then drained."""
        port = free_port()
        master = self.start_corral("-w", 1, "-b", f"127.0.0.1:{port}", *RECYCLING)
        _, body, _ = master.wait_serving(port, "/info")  # request 1 of the worker
        old = json.loads(body)["pid"]
        self.assertEqual(master.wait_workers(1), {old})

        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5.0)
        self.addCleanup(connection.close)
        for served in range(2, 252):
            connection.request("GET", "/")
            response = connection.getresponse()
            self.assertEqual(response.status, 200)
            response.read()
            if served == 199:
                self.assertNotIn("asks to be replaced", master.log(), "it asked before 200")

        master.wait_log(f"Worker {old} asks to be replaced (max_requests)")
        master.wait_log(f"Retiring worker {old} (generation 1, max_requests)")
        [new] = master.wait_workers(1)
        self.assertNotEqual(new, old)
        log = master.log()
        ready = re.search(rf"Worker {new} ready in", log)
        self.assertIsNotNone(ready, f"the replacement {new} never said READY=1")
        self.assertLess(ready.start(), log.index(f"Retiring worker {old}"),
                        "the old worker was drained before its replacement was ready")
        status, body, _ = http_get(port, "/info")
        self.assertEqual((status, json.loads(body)["pid"]), (200, new))

    def test_the_largest_max_requests_with_jitter_boots_and_serves(self):
        """--max-requests 2147483647 --max-requests-jitter 100: each worker's limit is past
        what an int holds; the workers used to refuse it and exit 3. Now they serve."""
        port = free_port()
        master = self.start_corral("-w", 2, "-b", f"127.0.0.1:{port}",
                                   "--max-requests", 2147483647, "--max-requests-jitter", 100)

        status, body, _ = master.wait_serving(port, "/info")

        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["generation"], 1)
        master.wait_workers(2)
        self.assertNotIn("invalid", master.log())
        self.assertNotIn("failed to boot", master.log())

    def test_recycling_under_load_fails_no_request(self):
        """wrk 3 s, --max-requests 200 (+0-50): no error, many replacements, first workers gone."""
        master, port, first = self.start_workers(2, *RECYCLING)
        wrk = self.start_load(port, at_least=20, seconds=3)
        wrk.assert_clean(self)

        log = master.log()
        asked = re.findall(r"Worker (\d+) asks to be replaced \(max_requests\)", log)
        booted = re.findall(r"Booting worker with pid: (\d+)", log)
        self.assertGreaterEqual(len(asked), 10, "workers were hardly ever recycled")
        self.assertGreaterEqual(len(booted), len(first) + 10)
        self.assertEqual(len(asked), len(set(asked)), "a worker asked twice")
        last = master.wait_workers(2)
        self.assertFalse(first & last, "a first worker survived thousands of requests")


class RecyclingOnMemoryAndAge(CorralTestCase):

    def replaced_for(self, reason, *flags):
        """Start one worker with `flags`; return (first pid, the pid that replaced it)."""
        port = free_port()
        master = self.start_corral("-w", 1, "-b", f"127.0.0.1:{port}", *flags)
        master.wait_serving(port)
        [first] = master.wait_workers(1)
        master.wait_log(f"Worker {first} will be replaced ({reason})")
        master.wait_log(f"Retiring worker {first} (generation 1, {reason})")
        wait_until(lambda: (pids := master.worker_pids()) and first not in pids, 5.0,
                   f"worker {first} to exit")
        self.assertEqual(http_get(port)[0], 200)
        return first

    def test_a_worker_that_grows_above_max_worker_memory_is_replaced(self):
        """--max-worker-memory 64 MiB (256 under ASan, where a fresh worker is 130 MiB), then
        the worker keeps more than that: after a few samples over the limit it is recycled."""
        limit_mb = 256 if SANITIZED else 64
        port = free_port()
        master = self.start_corral("-w", 1, "-b", f"127.0.0.1:{port}", "--debug-endpoints",
                                   "--max-worker-memory", limit_mb << 20)
        master.wait_serving(port)
        [first] = master.wait_workers(1)
        self.assertEqual(http_get(port, f"/grow?mb={limit_mb + 16}")[0], 200)
        master.wait_log(f"Worker {first} will be replaced (max_worker_memory)", timeout=10.0)
        wait_until(lambda: (pids := master.worker_pids()) and first not in pids, 5.0,
                   f"worker {first} to exit")
        self.assertEqual(http_get(port)[0], 200)

    def test_a_limit_below_a_fresh_workers_size_warns_once_and_recycles_nothing(self):
        """--max-worker-memory 4096 bytes, below any worker: one warning, and the workers are
        kept (replacing them would start one just as big, forever)."""
        port = free_port()
        master = self.start_corral("-w", 2, "-b", f"127.0.0.1:{port}", "--max-worker-memory",
                                   4096)
        master.wait_serving(port)
        first = master.wait_workers(2)
        master.wait_log("from its start, above max_worker_memory (0.0 MiB): replacing it would "
                        "not help")
        samples_end = time.monotonic() + 4  # memory_samples_to_recycle samples, and one more
        wait_until(lambda: master.worker_pids() == first and time.monotonic() > samples_end,
                   8.0, "4 s with the same workers")
        self.assertNotIn("will be replaced", master.log())
        self.assertEqual(master.log().count("replacing it would not help"), 1)

    def test_a_worker_older_than_max_worker_lifetime_is_replaced(self):
        self.replaced_for("max_worker_lifetime", "--max-worker-lifetime", 1)


if __name__ == "__main__":
    unittest.main()
