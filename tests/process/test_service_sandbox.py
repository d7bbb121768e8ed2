"""corral inside the sandbox the shipped unit (systemd/corral.service.in) gives it, made here
with a mount namespace: the whole file system read-only (ProtectSystem=strict), a private
/tmp (PrivateTmp=yes), /run/corral of mode 0750 for root alone (RuntimeDirectory=corral,
RuntimeDirectoryMode=0750), and workers that drop to nobody. Their notify sockets must
still be reachable, the control socket must work, and a reload must succeed."""

import json
import os
import pwd
import shutil
import signal
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for `python3 -m unittest FILE`
from harness import BIN_DIR, CorralTestCase, corral_control, free_port, http_get, wait_until

# Runs in a new mount namespace: the sandbox, then corral in place of this shell.
SANDBOX = """set -e
mount --make-rprivate /
mount --bind "$1" /mnt  # the binaries, out of the test's /tmp directory hidden below
shift
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -m 0750 /run/corral
mount -o remount,bind,ro /
exec "$@"
"""


def uid_of(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("Uid:"):
                return int(line.split()[1])
    return None


@unittest.skipIf(os.geteuid() != 0, "needs root, to make mount namespaces and switch users")
@unittest.skipIf(shutil.which("unshare") is None, "unshare (util-linux) is not installed")
class UnderTheShippedUnitsSandbox(CorralTestCase):

    def test_workers_as_nobody_boot_beat_and_reload_in_the_sandbox(self):
        # The binaries must be reachable by nobody: copy them out of a possibly private tree.
        os.chmod(self.tmp, 0o755)
        installed = os.path.join(self.tmp, "bin")
        os.mkdir(installed)
        for name in ("corral", "corral-worker"):
            shutil.copy2(os.path.join(BIN_DIR, name), installed)
        port = free_port()
        master = self.start_corral(
            "--mount", "--", "/bin/sh", "-c", SANDBOX, "sandbox", installed,
            "/mnt/corral", "-w", 4, "-u", "nobody", "-t", 2,
            "-b", f"127.0.0.1:{port}",
            binary=shutil.which("unshare"), env={"RUNTIME_DIRECTORY": "/run/corral",
                                                 "TMPDIR": "/tmp"})
        master.wait_serving(port)
        first = master.wait_workers(4)
        nobody = pwd.getpwnam("nobody").pw_uid
        # A worker just forked is root until it drops to `user` before exec.
        wait_until(lambda: {uid_of(pid) for pid in first} == {nobody}, 5.0,
                   "every worker to run as nobody")
        control = f"/proc/{master.pid}/root/run/corral/control.sock"
        wait_until(lambda: corral_control("status", "--control", control).returncode == 0, 5.0,
                   "the control socket in /run/corral")

        def all_beat():
            status = json.loads(corral_control("status", "--json", "--control", control).stdout)
            return all(w["heartbeat_age_seconds"] is not None for w in status["workers"])

        wait_until(all_beat, 5.0, "a heartbeat from every worker")
        done = corral_control("reload", "--wait", "--control", control)
        self.assertEqual(done.returncode, 0, done.stderr)
        master.wait_generation(2, 4)
        self.assertEqual(http_get(port)[0], 200)
        self.assertNotIn("timed out", master.log())
        master.send_signal(signal.SIGTERM)
        self.assertEqual(master.wait_exit(), 0)


if __name__ == "__main__":
    unittest.main()
