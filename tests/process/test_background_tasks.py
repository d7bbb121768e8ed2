"""Background tasks (POST /background?ms=N in the demo worker): the answer comes first, the
task runs after it on the worker's loop, and a graceful drain waits for it, up to
graceful_timeout."""

import os
import re
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for `python3 -m unittest FILE`
from harness import CorralTestCase, free_port, http_connection, pid_alive


def finished_line(worker, ms):
    """The line the demo worker logs when its background task of `ms` ms is done."""
    return re.compile(rf"\[{worker}\] \[INFO\] Background task finished after {ms} ms\n")


class BackgroundTasks(CorralTestCase):

    def start_one_worker(self, *args):
        port = free_port()
        master = self.start_corral("-w", 1, "-b", f"127.0.0.1:{port}", *args)
        master.wait_serving(port)
        [worker] = master.wait_workers(1)
        return master, port, worker

    def post_background(self, port, ms):
        """POST /background?ms=`ms` on a new keep-alive connection: (connection, response,
        body, seconds it took)."""
        connection = http_connection(port)
        self.addCleanup(connection.close)
        started = time.monotonic()
        connection.request("POST", f"/background?ms={ms}")
        response = connection.getresponse()
        body = response.read()
        return connection, response, body, time.monotonic() - started

    def test_the_answer_comes_at_once_and_the_task_finishes_after_it(self):
        """POST /background?ms=1000: 202 well before the task ends (its line is not in the log
        yet); the same connection serves GET /info meanwhile; the task's line appears later,
        from the worker."""
        master, port, worker = self.start_one_worker()
        connection, response, body, took = self.post_background(port, 1000)
        self.assertEqual(response.status, 202)
        self.assertEqual(body, b"accepted: working 1000 ms after this answer\n")
        self.assertLess(took, 0.9, "the answer waited for the task")
        self.assertIsNone(finished_line(worker, 1000).search(master.log()),
                          "the task finished before its answer was read")

        connection.request("GET", "/info")  # the connection does not wait for the task
        info = connection.getresponse()
        info.read()
        self.assertEqual(info.status, 200)
        self.assertIsNone(finished_line(worker, 1000).search(master.log()))

        master.wait_log(finished_line(worker, 1000), timeout=10.0)
        self.assertTrue(pid_alive(worker))

    def test_a_graceful_stop_waits_for_the_task_then_the_worker_exits_0(self):
        """TERM to the master right after the 202 of POST /background?ms=300: the task
        finishes, then the worker exits with code 0 and the master with status 0."""
        master, port, worker = self.start_one_worker("--graceful-timeout", 30)
        connection, response, _, _ = self.post_background(port, 300)
        self.assertEqual(response.status, 202)
        connection.close()  # an idle keep-alive connection would only delay the drain 1 s
        master.send_signal(signal.SIGTERM)

        self.assertEqual(master.wait_exit(10.0), 0)
        log = master.log()
        finished = finished_line(worker, 300).search(log)
        self.assertIsNotNone(finished, "the background task did not finish")
        exited = log.find(f"[INFO] Worker {worker} exited with code 0\n")
        self.assertGreater(exited, finished.start(), "the worker exited before its task finished")
        self.assertLess(log.index("Handling signal: term"), finished.start())
        self.assertNotIn("SIGKILL", log)

    def test_a_task_longer_than_graceful_timeout_is_killed_at_the_timeout(self):
        """--graceful-timeout 0.5, POST /background?ms=5000, TERM: the master kills the worker
        at the stop deadline (SIGKILL, logged), the task never finishes, and the master exits
        0 long before the 5 s the task wanted."""
        master, port, worker = self.start_one_worker("--graceful-timeout", 0.5)
        connection, response, _, _ = self.post_background(port, 5000)
        self.assertEqual(response.status, 202)
        connection.close()
        stopping = time.monotonic()
        master.send_signal(signal.SIGTERM)

        self.assertEqual(master.wait_exit(10.0), 0)
        took = time.monotonic() - stopping
        log = master.log()
        self.assertIn(f"Worker {worker} still running at the stop deadline; sending SIGKILL", log)
        self.assertIn(f"Worker {worker} was killed by signal 9 (SIGKILL)", log)
        self.assertIsNone(finished_line(worker, 5000).search(log))
        self.assertGreaterEqual(took, 0.5, "killed before graceful_timeout")
        self.assertLess(took, 4.0, "the master waited for the task")

    def test_a_reload_lets_the_old_workers_task_finish(self):
        """HUP right after the 202 of POST /background?ms=500: generation 2 takes over, and the
        retired worker finishes its task before it exits 0."""
        master, port, worker = self.start_one_worker("--graceful-timeout", 30)
        connection, response, _, _ = self.post_background(port, 500)
        self.assertEqual(response.status, 202)
        connection.close()
        master.send_signal(signal.SIGHUP)

        master.wait_log(f"Retiring worker {worker} (generation 1)")
        exited = master.wait_log(re.compile(rf"\[INFO\] Worker {worker} exited with code 0\n"),
                                 timeout=10.0)
        finished = finished_line(worker, 500).search(master.log())
        self.assertIsNotNone(finished, "the retired worker exited without finishing its task")
        self.assertLess(finished.start(), exited.start())
        master.wait_log("Reload complete: generation 2 serves with 1 worker")
        master.wait_generation(2, 1)


if __name__ == "__main__":
    unittest.main()
