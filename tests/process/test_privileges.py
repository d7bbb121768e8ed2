"""Privileges: workers run as `user`/`group` while the master stays root; unix sockets get
`socket_mode` and `socket_owner`; the error log stays writable for the workers; `umask`."""

import grp
import os
import shutil
import pwd
import signal
import stat
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for `python3 -m unittest FILE`
from harness import BIN_DIR, CorralTestCase, free_port, http_get, read_text, wait_until

NOT_ROOT = os.geteuid() != 0
NEEDS_ROOT = "needs root: only root can run workers as another user or give files away"


def process_ids(pid):
    """(uids, gids, supplementary groups, umask) of `pid` from /proc/PID/status."""
    fields = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            fields[key] = value.split()
    return ([int(uid) for uid in fields["Uid"]], [int(gid) for gid in fields["Gid"]],
            sorted(int(group) for group in fields["Groups"]), int(fields["Umask"][0], 8))



def nobody():
    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        raise unittest.SkipTest("there is no user nobody") from None


class Privileges(CorralTestCase):

    def start_corral(self, *args, **kwargs):
        """As CorralTestCase's, but a worker that drops to another user runs from a copy in
        the (world-traversable) test directory: the build tree may sit under a directory
        that user cannot enter, as a CI checkout in a private temporary directory does."""
        if ("-u" in args or "-g" in args) and "--" not in args:
            os.chmod(self.tmp, 0o755)
            worker = os.path.join(self.tmp, "corral-worker")
            if not os.path.exists(worker):
                shutil.copy2(os.path.join(BIN_DIR, "corral-worker"), worker)
            args = (*args, "--", worker)
        return super().start_corral(*args, **kwargs)

    def start_serving(self, *extra, workers=1):
        self.port = free_port()
        master = self.start_corral("-w", workers, "-b", f"127.0.0.1:{self.port}", *extra)
        master.wait_serving(self.port)
        return master

    @unittest.skipIf(NOT_ROOT, NEEDS_ROOT)
    def test_workers_run_as_the_user_with_its_groups(self):
        """-u nobody: workers have nobody's uid, gid and groups (getgrouplist); the master
        stays root; no warning about root workers."""
        user = nobody()
        master = self.start_serving("-u", "nobody", workers=2)
        expected_groups = sorted(set(os.getgrouplist("nobody", user.pw_gid)))
        for worker in master.wait_generation(1, 2):
            uids, gids, groups, _ = process_ids(worker)
            self.assertEqual(uids, [user.pw_uid] * 4)
            self.assertEqual(gids, [user.pw_gid] * 4)
            self.assertEqual(groups, expected_groups)
        uids, gids, _, _ = process_ids(master.pid)
        self.assertEqual((uids, gids), ([0] * 4, [0] * 4))
        self.assertNotIn("Workers will run as root", master.log())

    def other_groups(self):
        """(group as given to -g, its gid): adm if it exists, and a gid without a name."""
        groups = []
        if _group_exists_named("adm"):
            groups.append(("adm", grp.getgrnam("adm").gr_gid))
        unnamed = next(gid for gid in range(4242, 5000) if not _group_exists(gid))
        groups.append((str(unnamed), unnamed))
        return groups

    @unittest.skipIf(NOT_ROOT, NEEDS_ROOT)
    def test_the_group_replaces_the_users_primary_group(self):
        """-u nobody -g adm (or a gid without a name): workers have nobody's uid and that
        gid (real, effective, saved and filesystem)."""
        user = nobody()
        for group, gid in self.other_groups():
            with self.subTest(group=group):
                master = self.start_serving("-u", "nobody", "-g", group)
                (worker,) = master.wait_generation(1, 1)
                uids, gids, _, _ = process_ids(worker)
                self.assertEqual((uids, gids), ([user.pw_uid] * 4, [gid] * 4))
                master.stop()

    @unittest.skipIf(NOT_ROOT, NEEDS_ROOT)
    def test_supplementary_groups_follow_the_group(self):
        """-u nobody -g adm (or a gid without a name): the supplementary groups are
        getgrouplist("nobody", that gid), as initgroups() and systemd's User=/Group= make
        them; nobody's primary group (nogroup), which -g replaced, is not kept."""
        nobody()
        for group, gid in self.other_groups():
            with self.subTest(group=group):
                master = self.start_serving("-u", "nobody", "-g", group)
                (worker,) = master.wait_generation(1, 1)
                groups = process_ids(worker)[2]
                self.assertEqual(groups, sorted(set(os.getgrouplist("nobody", gid))))
                master.stop()

    @unittest.skipIf(NOT_ROOT, NEEDS_ROOT)
    def test_a_numeric_user_without_a_name(self):
        """-u 4321 (no such passwd entry): workers run with uid, gid and groups 4321."""
        uid = next(uid for uid in range(4321, 5000) if not _user_exists(uid))
        master = self.start_serving("-u", uid)
        (worker,) = master.wait_generation(1, 1)
        uids, gids, groups, _ = process_ids(worker)
        self.assertEqual((uids, gids, groups), ([uid] * 4, [uid] * 4, [uid]))

    @unittest.skipIf(NOT_ROOT, NEEDS_ROOT)
    def test_root_workers_are_warned_about(self):
        """As root without `user`: the warning; workers run as root."""
        master = self.start_serving()
        self.assertIn("[WARNING] Workers will run as root: set `user`", master.log())
        (worker,) = master.wait_generation(1, 1)
        self.assertEqual(process_ids(worker)[0], [0] * 4)

    @unittest.skipIf(NOT_ROOT, NEEDS_ROOT)
    def test_a_group_alone_still_warns_that_workers_run_as_root(self):
        """-g nogroup without `user`: workers get the group but still run as root, so the
        warning is still due."""
        gid = grp.getgrnam("nogroup").gr_gid if _group_exists_named("nogroup") else 65534
        master = self.start_serving("-g", gid)
        (worker,) = master.wait_generation(1, 1)
        uids, gids, _, _ = process_ids(worker)
        self.assertEqual((uids, gids), ([0] * 4, [gid] * 4))
        self.assertIn("[WARNING] Workers will run as root: set `user`", master.log())

    def test_an_unknown_user_or_group_stops_corral(self):
        """-u NAME that does not exist: exit 1 with `user: unknown user "NAME"`; same for -g."""
        port = free_port()
        master = self.run_corral("-b", f"127.0.0.1:{port}", "-u", "corral-test-no-such-user")
        self.assertEqual(master.returncode, 1)
        self.assertIn('user: unknown user "corral-test-no-such-user"', master.log())
        self.assertNotIn("Booting worker", master.log())
        master = self.run_corral("-b", f"127.0.0.1:{port}", "-g", "corral-test-no-such-group")
        self.assertEqual(master.returncode, 1)
        self.assertIn('group: unknown group "corral-test-no-such-group"', master.log())

    @unittest.skipIf(NOT_ROOT, "needs root to start corral as another user")
    @unittest.skipUnless(shutil.which("setpriv"), "setpriv is not installed")
    def test_a_master_that_cannot_switch_users_says_so_naming_user(self):
        """corral run as nobody with -u nobody: --check-config exits 2 and the start exits 1,
        both naming `user` and CAP_SETGID. The start used to fork workers whose setgroups()
        failed: `cannot execute worker command ...: Operation not permitted`."""
        user = nobody()
        os.chmod(self.tmp, 0o755)
        for program in ("corral", "corral-worker"):  # the build tree may be closed to nobody
            shutil.copy2(os.path.join(BIN_DIR, program), os.path.join(self.tmp, program))
        as_nobody = (f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups",
                     os.path.join(self.tmp, "corral"), "-b", f"127.0.0.1:{free_port()}",
                     "-u", "nobody")
        message = ("user: the master cannot run workers as another user or group without "
                   f"CAP_SETGID (it runs as uid {user.pw_uid})")

        checked = super().start_corral(*as_nobody, "--check-config", binary=shutil.which("setpriv"))
        self.assertEqual(checked.wait_exit(), 2)
        self.assertIn(f"corral: error: {message}", checked.log())

        started = super().start_corral(*as_nobody, binary=shutil.which("setpriv"))
        self.assertEqual(started.wait_exit(), 1)
        self.assertIn(f"[CRITICAL] {message}", started.log())
        self.assertNotIn("Booting worker", started.log())

    @unittest.skipIf(NOT_ROOT, NEEDS_ROOT)
    def test_unix_socket_mode_and_owner(self):
        """-b unix:PATH --socket-mode 0o660 --socket-owner nobody:nogroup: the socket file
        has mode 0660 and owner 65534:65534, and serves."""
        user = nobody()
        group = grp.getgrnam("nogroup").gr_gid if _group_exists_named("nogroup") else user.pw_gid
        group_name = grp.getgrgid(group).gr_name
        path = os.path.join(self.tmp, "corral.sock")
        master = self.start_corral("-w", 1, "-b", f"unix:{path}", "--socket-mode", "0o660",
                                   "--socket-owner", f"nobody:{group_name}")
        master.wait_serving(f"unix:{path}")
        info = os.stat(path)
        self.assertTrue(stat.S_ISSOCK(info.st_mode))
        self.assertEqual(oct(stat.S_IMODE(info.st_mode)), oct(0o660))
        self.assertEqual((info.st_uid, info.st_gid), (user.pw_uid, group))

    @unittest.skipIf(NOT_ROOT, NEEDS_ROOT)
    def test_socket_owner_without_a_group_takes_the_users(self):
        """--socket-owner nobody: the socket's group is nobody's primary group."""
        user = nobody()
        path = os.path.join(self.tmp, "corral.sock")
        master = self.start_corral("-w", 1, "-b", f"unix:{path}", "--socket-owner", "nobody")
        master.wait_serving(f"unix:{path}")
        info = os.stat(path)
        self.assertEqual((info.st_uid, info.st_gid), (user.pw_uid, user.pw_gid))
        self.assertEqual(oct(stat.S_IMODE(info.st_mode)), oct(0o755), "umask 022 made it")

    @unittest.skipIf(NOT_ROOT, NEEDS_ROOT)
    def test_the_error_log_belongs_to_the_user_even_after_rotation(self):
        """--error-logfile FILE -u nobody: FILE is nobody's; renamed and USR1, the new FILE is
        nobody's too and the workers (nobody) reopen it and write there."""
        user = nobody()
        os.chmod(self.tmp, 0o755)  # the workers reopen the file by its path
        path = os.path.join(self.tmp, "corral.log")
        master = self.start_serving("-u", "nobody", "--error-logfile", path)
        wait_until(lambda: "ready in" in read_text(path), 5.0, f"the worker's READY in {path}")
        info = os.stat(path)
        self.assertEqual((info.st_uid, info.st_gid), (user.pw_uid, user.pw_gid))

        os.rename(path, path + ".1")
        master.send_signal(signal.SIGUSR1)
        wait_until(lambda: "Worker reopened its log files" in read_text(path), 5.0,
                   f"the worker to reopen {path}: {read_text(path + '.1')[-400:]}")
        info = os.stat(path)
        self.assertEqual((info.st_uid, info.st_gid), (user.pw_uid, user.pw_gid))
        self.assertNotIn("still writing to the old file", read_text(path) + read_text(path + ".1"))

    def test_umask_applies_to_the_master_and_the_workers(self):
        """--umask 0o077: the pidfile has mode 0600 and the workers' umask is 0077."""
        pidfile = os.path.join(self.tmp, "corral.pid")
        master = self.start_serving("--umask", "0o077", "-p", pidfile)
        wait_until(lambda: os.path.exists(pidfile), 5.0, "the pidfile")
        self.assertEqual(oct(stat.S_IMODE(os.stat(pidfile).st_mode)), oct(0o600))
        (worker,) = master.wait_generation(1, 1)
        self.assertEqual(oct(process_ids(worker)[3]), oct(0o077))
        self.assertEqual(oct(process_ids(master.pid)[3]), oct(0o077))
        self.assertEqual(http_get(self.port)[0], 200)


def _user_exists(uid):
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return False
    return True


def _group_exists(gid):
    try:
        grp.getgrgid(gid)
    except KeyError:
        return False
    return True


def _group_exists_named(name):
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


if __name__ == "__main__":
    unittest.main()
