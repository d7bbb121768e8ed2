"""Binding: IPv4 beside IPv6, unix socket files, inherited descriptors, and bind errors."""

import os
import re
import signal
import socket
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for `python3 -m unittest FILE`
from harness import (CorralTestCase, accepts_connections, corral_status, free_port, http_get,
                     ipv6_loopback_available, wait_until)


class Listeners(CorralTestCase):

    @unittest.skipUnless(ipv6_loopback_available(), "this machine has no IPv6 loopback")
    def test_ipv4_and_ipv6_wildcards_bind_the_same_port(self):
        """-b 0.0.0.0:P -b [::]:P works: the IPv6 socket is IPV6_V6ONLY."""
        port = free_port()
        master = self.start_corral("-b", f"0.0.0.0:{port}", "-b", f"[::]:{port}")
        master.wait_serving(port)
        master.wait_serving(("::1", port))

    def test_a_stale_unix_socket_file_is_replaced(self):
        """A socket file nobody listens on (left by a crash) is removed and bound again."""
        path = os.path.join(self.tmp, "stale.sock")
        leftover = socket.socket(socket.AF_UNIX)
        leftover.bind(path)
        leftover.close()  # the file stays, and connecting to it is refused
        master = self.start_corral("-b", f"unix:{path}")
        master.wait_serving(f"unix:{path}")
        self.assertIn(f"Removed stale socket file {path}", master.log())

    def test_a_unix_socket_in_use_is_not_taken_over(self):
        """If something answers on the socket file, corral exits 1 and leaves it alone."""
        path = os.path.join(self.tmp, "busy.sock")
        with socket.socket(socket.AF_UNIX) as owner:
            owner.bind(path)
            owner.listen()
            master = self.run_corral("-b", f"unix:{path}")
            self.assertEqual(master.returncode, 1)
            self.assertIn(f"cannot bind unix:{path}: another process is listening on it",
                          master.log())
            self.assertTrue(os.path.exists(path))

    def test_a_file_that_is_not_a_socket_is_never_replaced(self):
        path = self.write_file("precious.txt", "data\n")
        master = self.run_corral("-b", f"unix:{path}")
        self.assertEqual(master.returncode, 1)
        self.assertIn("the file exists and is not a socket; refusing to replace it", master.log())
        with open(path) as file:
            self.assertEqual(file.read(), "data\n")

    def test_the_unix_socket_file_is_removed_at_a_clean_stop(self):
        path = os.path.join(self.tmp, "app.sock")
        master = self.start_corral("-b", f"unix:{path}")
        master.wait_serving(f"unix:{path}")
        master.send_signal(signal.SIGTERM)
        self.assertEqual(master.wait_exit(), 0)
        self.assertFalse(os.path.exists(path))

    def test_a_port_in_use_is_a_runtime_failure_naming_the_address(self):
        """bind() failing exits 1 before any worker starts, with the call and the address."""
        with socket.socket() as squatter:
            squatter.bind(("127.0.0.1", 0))
            squatter.listen()
            port = squatter.getsockname()[1]
            master = self.run_corral("-b", f"127.0.0.1:{port}")
        self.assertEqual(master.returncode, 1)
        self.assertIn(f"bind() failed while binding http://127.0.0.1:{port}: Address already in use",
                      master.log())
        self.assertNotIn("Booting worker", master.log())

    def test_an_inherited_listening_socket_is_adopted_with_fd_n(self):
        """-b fd://N serves on a socket the parent already bound."""
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        fd = listener.fileno()
        os.set_inheritable(fd, True)
        master = self.start_corral("-b", f"fd://{fd}", pass_fds=(fd,))
        listener.close()  # only corral holds it now
        master.wait_serving(port)
        # The address the kernel reports, not the fd:// text: what an operator looks for.
        self.assertIn(f"Listening at: http://127.0.0.1:{port} (fd ", master.log())

    def test_port_0_logs_and_reports_the_port_the_kernel_chose(self):
        """-b 127.0.0.1:0: the log and `corral status` give the bound port, where it serves."""
        pidfile = os.path.join(self.tmp, "corral.pid")
        master = self.start_corral("-w", 1, "-b", "127.0.0.1:0", "-p", pidfile)
        found = master.wait_log(re.compile(r"Listening at: http://127\.0\.0\.1:(\d+) \(fd "))
        port = int(found.group(1))
        self.assertNotEqual(port, 0)
        master.wait_serving(port)
        self.assertEqual(corral_status(pidfile)["listeners"][0]["address"],
                         f"http://127.0.0.1:{port}")

    def test_an_inherited_descriptor_that_is_not_a_listener_is_refused(self):
        reader, writer = os.pipe()
        self.addCleanup(os.close, reader)
        self.addCleanup(os.close, writer)
        master = self.run_corral("-b", f"fd://{reader}", pass_fds=(reader,))
        self.assertEqual(master.returncode, 1)
        self.assertIn(f"fd://{reader}", master.log())


if __name__ == "__main__":
    unittest.main()
