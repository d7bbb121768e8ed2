"""A reload applies the master's own settings too (pidfile, metrics_bind, control_socket,
chdir, umask, errorlog, backlog), logs each change, and warns about those that need a
restart; a reload that cannot apply one changes nothing."""

import os
import signal
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for `python3 -m unittest FILE`
from harness import (CorralTestCase, accepts_connections, corral_control, free_port, http_get,
                     read_text, wait_until)


def listen_backlog(port):
    """The accept queue length a listening socket on 127.0.0.1:`port` was given (ss's
    Send-Q), the largest of its shards."""
    out = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True,
                         check=True).stdout
    return max(int(line.split()[2]) for line in out.splitlines())


def process_umask(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    return None


class ReloadingTheMastersSettings(CorralTestCase):

    def test_a_reload_moves_the_pidfile_endpoints_and_backlog_and_logs_each_change(self):
        port, metrics, moved_metrics = free_port(), free_port(), free_port()
        one_sock, two_sock = (os.path.join(self.tmp, name) for name in ("one.sock", "two.sock"))
        common = f'bind = ["127.0.0.1:{port}"]\n'
        self.write_file("corral.toml", common + f'pidfile = "one.pid"\ncontrol_socket = '
                        f'"{one_sock}"\nbacklog = 100\nmetrics_bind = "127.0.0.1:{metrics}"\n')
        master = self.start_corral()
        master.wait_serving(port)
        master.wait_log("Control socket:")
        self.assertEqual(listen_backlog(port), 100)

        self.write_file("corral.toml", common + f'pidfile = "two.pid"\ncontrol_socket = '
                        f'"{two_sock}"\nbacklog = 200\nmetrics_bind = "127.0.0.1:{moved_metrics}"'
                        '\ntimeout = 10\numask = 0o027\nworker_tmp_dir = "/tmp"\n')
        done = corral_control("reload", "--wait", "--control", one_sock)
        self.assertEqual(done.returncode, 0, done.stderr)

        log = master.log()
        self.assertIn("Reload: timeout = 10 (was 30)", log)
        self.assertIn('Reload: pidfile = "two.pid" (was "one.pid")', log)
        self.assertIn("Reload: backlog = 200 (was 100)", log)
        self.assertIn("Reload: worker_tmp_dir takes effect at the next start or binary upgrade",
                      log)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "one.pid")))
        self.assertEqual(read_text(os.path.join(self.tmp, "two.pid")).strip(), str(master.pid))
        self.assertFalse(os.path.exists(one_sock))
        status = corral_control("status", "--control", two_sock)
        self.assertEqual(status.returncode, 0, status.stderr)
        self.assertEqual(http_get(moved_metrics, "/metrics")[0], 200)
        self.assertFalse(accepts_connections(metrics))
        self.assertEqual(listen_backlog(port), 200)
        self.assertEqual(process_umask(master.pid), 0o027)
        [worker] = master.wait_generation(2, 1)
        self.assertEqual(process_umask(worker), 0o027)

    def test_a_reload_follows_chdir_and_reads_the_same_config_file(self):
        """-c with a relative path and chdir to another directory: later reloads still read
        the file given at start, and the master works in the new chdir."""
        port = free_port()
        elsewhere = os.path.join(self.tmp, "app")
        os.mkdir(elsewhere)
        self.write_file("app.toml", f'bind = ["127.0.0.1:{port}"]\nchdir = "{elsewhere}"\n')
        master = self.start_corral("-c", "app.toml")
        master.wait_serving(port)
        self.assertEqual(os.readlink(f"/proc/{master.pid}/cwd"), elsewhere)
        self.write_file("app.toml", f'bind = ["127.0.0.1:{port}"]\nworkers = 2\n')
        master.send_signal(signal.SIGHUP)
        master.wait_log("Reload complete: generation 2 serves with 2 workers")
        self.assertEqual(os.readlink(f"/proc/{master.pid}/cwd"), os.path.realpath(self.tmp))
        self.assertIn(f'Reload: chdir = "" (was "{elsewhere}")', master.log())
        # Back and forth twice more: the way back to the old directory is not kept open.
        directories = [d for d in os.listdir(f"/proc/{master.pid}/fd")
                       if os.path.isdir(f"/proc/{master.pid}/fd/{d}")]
        for generation, chdir in ((3, f'chdir = "{elsewhere}"\n'), (4, "")):
            self.write_file("app.toml", f'bind = ["127.0.0.1:{port}"]\nworkers = 2\n{chdir}')
            master.send_signal(signal.SIGHUP)
            master.wait_log(f"Reload complete: generation {generation} serves")
        self.assertEqual(len([d for d in os.listdir(f"/proc/{master.pid}/fd")
                              if os.path.isdir(f"/proc/{master.pid}/fd/{d}")]), len(directories))

    def test_a_reloaded_errorlog_that_cannot_be_opened_is_retried_on_usr1(self):
        """errorlog changed by a reload to a missing directory: an ERROR, the old log goes
        on; once the directory exists, USR1 opens the new file."""
        port = free_port()
        first = os.path.join(self.tmp, "first.log")
        wanted = os.path.join(self.tmp, "logs", "corral.log")
        self.write_file("corral.toml", f'bind = ["127.0.0.1:{port}"]\nerrorlog = "{first}"\n')
        master = self.start_corral()
        master.wait_serving(port)
        self.write_file("corral.toml", f'bind = ["127.0.0.1:{port}"]\nerrorlog = "{wanted}"\n')
        master.send_signal(signal.SIGHUP)
        wait_until(lambda: "still logging to the old file until it can be opened" in
                   read_text(first), 5.0, "the ERROR in the old log")
        os.mkdir(os.path.dirname(wanted))
        master.send_signal(signal.SIGUSR1)
        wait_until(lambda: f"Reopened the error log {wanted}" in read_text(wanted), 5.0,
                   "USR1 to open the new errorlog")

    def test_a_reload_to_a_missing_chdir_is_refused_and_changes_nothing(self):
        port = free_port()
        self.write_file("corral.toml", f'bind = ["127.0.0.1:{port}"]\n')
        master = self.start_corral()
        master.wait_serving(port)
        workers = master.wait_workers(1)
        self.write_file("corral.toml", f'bind = ["127.0.0.1:{port}"]\nchdir = "/nonexistent"\n'
                                       "timeout = 10\n")
        master.send_signal(signal.SIGHUP)
        master.wait_log("Reload failed: chdir: chdir() failed while changing to /nonexistent")
        self.assertNotIn("Reload: timeout", master.log())
        self.assertEqual(os.readlink(f"/proc/{master.pid}/cwd"), os.path.realpath(self.tmp))
        self.assertEqual(master.worker_pids(), workers)
        self.assertEqual(http_get(port)[0], 200)


if __name__ == "__main__":
    unittest.main()
