"""A hostile local user (uid 65534) against a running master, on a busy machine: a flood of
datagrams at every notify socket it can find, and hundreds of idle connections to
metrics_bind under a small descriptor limit. Supervision must not notice: no healthy worker
is killed, a reload succeeds, a killed worker is replaced, `corral status` answers.
Labelled slow (20 s floods); test_endpoint_limits covers the endpoints' rules quickly."""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for `python3 -m unittest FILE`
from harness import (CorralTestCase, corral_control, corral_status, free_port,
                     pid_alive, wait_until)

FLOOD_SECONDS = 20
NOBODY = 65534
# The attacker runs as nobody, who may not reach a python3 under root's home (pyenv).
ATTACKER_PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable

# Sends datagrams for argv[1] seconds at every unix socket in /proc/net/unix whose name
# holds "corral" and the master's pid argv[2] (its notify sockets, whether files or
# abstract names); prints what got through and what not.
NOTIFY_FLOOD = r"""
import errno, socket, sys, time
end = time.monotonic() + float(sys.argv[1])
sent = refused = 0
while time.monotonic() < end:
    with open("/proc/net/unix") as table:
        names = {line.split()[7] for line in table.read().splitlines()[1:]
                 if len(line.split()) > 7 and "corral" in line.split()[7]
                 and sys.argv[2] in line.split()[7]}
    for name in names:
        address = "\0" + name[1:] if name.startswith("@") else name
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.setblocking(False)
        for _ in range(50):
            try:
                s.sendto(b"WATCHDOG=1\nREADY=1\nX_CORRAL_RECYCLE=flood", address)
                sent += 1
            except OSError as error:
                refused += 1
                if error.errno in (errno.EACCES, errno.EPERM, errno.ECONNREFUSED, errno.ENOENT):
                    break
        s.close()
print(f"sent={sent} refused={refused}")
"""

# Keeps argv[3] connections open to 127.0.0.1:argv[2] for argv[1] seconds, sending
# nothing and reopening each one the server closes.
IDLE_FLOOD = r"""
import select, socket, sys, time
end = time.monotonic() + float(sys.argv[1])
port, wanted = int(sys.argv[2]), int(sys.argv[3])
open_sockets, opened = [], 0
while time.monotonic() < end:
    while len(open_sockets) < wanted:
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        open_sockets.append(s)
        opened += 1
    readable, _, _ = select.select(open_sockets, [], [], 0.2)
    for s in readable:
        try:
            data = s.recv(1)
        except OSError:
            data = b""
        if not data:
            open_sockets.remove(s)
            s.close()
print(f"opened={opened}")
"""

# Burns a CPU for argv[1] seconds: the machine is busy with other work.
CPU_HOG = "import sys, time\nend = time.monotonic() + float(sys.argv[1])\nwhile time.monotonic() < end: pass\n"


def as_nobody():
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


def cpu_seconds(pid):
    """User + system CPU time of `pid` so far, in seconds."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@unittest.skipIf(os.geteuid() != 0, "needs root, to run the attacker as uid 65534")
class HostileNeighbour(CorralTestCase):

    def start_attacker(self, script, *args):
        process = subprocess.Popen([ATTACKER_PYTHON, "-c", script, *(str(a) for a in args)],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                   preexec_fn=as_nobody, cwd="/")
        self.addCleanup(lambda: process.poll() is None and process.kill())
        return process

    def busy_machine(self):
        for _ in range(2):
            self.start_attacker(CPU_HOG, FLOOD_SECONDS)

    def still_running_after(self, attacker, seconds):
        """Wait `seconds` for `attacker` to end; fail if it does: it must still be attacking."""
        with self.assertRaises(subprocess.TimeoutExpired, msg="the attack ended early"):
            attacker.wait(timeout=seconds)

    def finish(self, attacker):
        output, _ = attacker.communicate(timeout=FLOOD_SECONDS + 30)
        return dict(item.split("=") for item in output.split())

    def test_a_notify_flood_from_another_user_kills_no_worker_and_a_reload_succeeds(self):
        port = free_port()
        pidfile = os.path.join(self.tmp, "corral.pid")
        master = self.start_corral("-w", 4, "-b", f"127.0.0.1:{port}", "-p", pidfile, "-t", 3)
        master.wait_log("Control socket:")
        first = master.wait_generation(1, 4, timeout=10.0)
        self.busy_machine()
        flood = self.start_attacker(NOTIFY_FLOOD, FLOOD_SECONDS, master.pid)
        self.still_running_after(flood, FLOOD_SECONDS / 2)  # a heartbeat timeout is 3 s
        self.assertEqual(master.worker_pids(), first, "a worker was replaced during the flood")
        done = corral_control("reload", "--wait", "--pid", pidfile, timeout=FLOOD_SECONDS)
        self.assertEqual(done.returncode, 0, done.stderr)
        result = self.finish(flood)
        self.assertEqual(int(result["sent"]), 0, f"the flood reached a notify socket: {result}")
        self.assertGreater(int(result["refused"]), 0, "the flood found no socket to try")
        master.wait_generation(2, 4, timeout=10.0)
        self.assertNotIn("timed out", master.log())
        self.assertNotIn("asks to be replaced", master.log())

    @unittest.skipIf(shutil.which("prlimit") is None, "prlimit (util-linux) is not installed")
    def test_idle_connections_to_metrics_under_a_small_fd_limit_do_not_disturb_supervision(self):
        port, metrics_port = free_port(), free_port()
        pidfile = os.path.join(self.tmp, "corral.pid")
        master = self.start_under_fd_limit(256, "-w", 2, "-b", f"127.0.0.1:{port}", "-p", pidfile,
                                           "--metrics-bind", f"127.0.0.1:{metrics_port}")
        master.wait_log("Control socket:")
        master.wait_workers(2, timeout=10.0)
        self.busy_machine()
        flood = self.start_attacker(IDLE_FLOOD, FLOOD_SECONDS, metrics_port, 400)
        master.wait_log("connections open, the most allowed; others wait", timeout=10.0)
        cpu_before, started = cpu_seconds(master.pid), time.monotonic()

        victim = sorted(master.worker_pids())[0]
        os.kill(victim, signal.SIGKILL)
        replaced = wait_until(lambda: len(ready_workers(pidfile) - {victim}) == 2 and
                              ready_workers(pidfile), 10.0, "a ready replacement")
        self.assertNotIn(victim, replaced)
        while flood.poll() is None:  # status answers all through the flood
            self.assertEqual(corral_control("status", "--pid", pidfile, timeout=10).returncode, 0)
            with contextlib.suppress(subprocess.TimeoutExpired):
                flood.wait(timeout=0.5)
        cpu = (cpu_seconds(master.pid) - cpu_before) / (time.monotonic() - started)
        result = self.finish(flood)
        self.assertGreater(int(result["opened"]), 400)
        self.assertLess(cpu, 0.25, f"the master used {cpu:.0%} of a CPU during the flood")
        self.assertNotIn("Too many open files", master.log())
        self.assertTrue(pid_alive(master.pid))


def ready_workers(pidfile):
    return {w["pid"] for w in corral_status(pidfile)["workers"] if w["state"] == "ready"}


if __name__ == "__main__":
    unittest.main()
