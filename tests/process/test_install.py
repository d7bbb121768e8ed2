"""`cmake --install` into a staging prefix gives a working corral: the binaries, a valid
config, systemd units that `systemd-analyze verify` accepts and that name the staged paths,
and the logrotate snippet."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for `python3 -m unittest FILE`
from harness import REPO_ROOT, CorralTestCase, free_port

BUILD_DIR = os.environ.get("CORRAL_BUILD_DIR", os.path.join(REPO_ROOT, "build"))
CMAKE = shutil.which("cmake")
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")


@unittest.skipIf(CMAKE is None, "cmake is not installed")
@unittest.skipUnless(os.path.exists(os.path.join(BUILD_DIR, "CMakeCache.txt")),
                     f"no configured build in {BUILD_DIR} (CMakeCache.txt is missing)")
class StagedInstall(CorralTestCase):

    @classmethod
    def setUpClass(cls):
        """Install once for the whole class: `cmake --install` only copies files."""
        cls.staging = tempfile.mkdtemp(prefix="corral-install-")
        cls.prefix = os.path.join(cls.staging, "stage")
        cls.install = subprocess.run([CMAKE, "--install", BUILD_DIR, "--prefix", cls.prefix],
                                     capture_output=True, text=True, timeout=60)
        cls.units = os.path.join(cls.prefix, "lib", "systemd", "system")
        cls.config = os.path.join(cls.prefix, "etc", "corral", "corral.toml")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.staging, ignore_errors=True)

    def setUp(self):
        super().setUp()
        self.assertEqual(self.install.returncode, 0,
                         f"cmake --install failed:\n{self.install.stdout}{self.install.stderr}")

    def staged(self, *parts):
        return os.path.join(self.prefix, *parts)

    @unittest.skipIf(shutil.which("cpack") is None or shutil.which("dpkg-deb") is None,
                     "cpack or dpkg-deb is not installed")
    def test_cpack_builds_a_deb_that_declares_its_dependencies(self):
        """`cpack` makes a .deb for /usr that depends on the runtime libraries and keeps the
        admin's config as conffiles."""
        out = os.path.join(self.staging, "package")
        run = subprocess.run(["cpack", "--config", os.path.join(BUILD_DIR, "CPackConfig.cmake"),
                              "-B", out], capture_output=True, text=True, timeout=300)
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        [deb] = [os.path.join(out, name) for name in os.listdir(out) if name.endswith(".deb")]
        info = subprocess.run(["dpkg-deb", "-I", deb], capture_output=True, text=True).stdout
        for library in ("libboost-filesystem1.81.0", "libfmt9", "libtomlplusplus3"):
            self.assertIn(library, info)
        files = subprocess.run(["dpkg-deb", "-c", deb], capture_output=True, text=True).stdout
        for path in ("./usr/bin/corral", "./usr/bin/corral-worker",
                     "./usr/lib/systemd/system/corral.service", "./etc/corral/corral.toml"):
            self.assertIn(path, files)
        control = os.path.join(self.staging, "control")
        subprocess.run(["dpkg-deb", "-e", deb, control], check=True)
        with open(os.path.join(control, "conffiles")) as conffiles:
            self.assertEqual(conffiles.read().split(), ["/etc/corral/corral.toml",
                                                        "/etc/logrotate.d/corral"])

    def test_the_staged_binary_runs(self):
        """bin/corral --version exits 0 and names corral; bin/corral-worker is beside it."""
        done = subprocess.run([self.staged("bin", "corral"), "--version"],
                              capture_output=True, text=True, timeout=10)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertTrue(done.stdout.startswith("corral "), done.stdout)
        self.assertTrue(os.access(self.staged("bin", "corral-worker"), os.X_OK))

    def test_the_staged_config_is_valid(self):
        """--check-config -c etc/corral/corral.toml exits 0."""
        done = subprocess.run([self.staged("bin", "corral"), "--check-config", "-c", self.config],
                              capture_output=True, text=True, timeout=10, cwd=self.tmp)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        self.assertIn("configuration OK", done.stdout)

    def test_the_logrotate_snippet_is_installed(self):
        """etc/logrotate.d/corral exists and reopens logs (USR1 or `corral reopen-logs`)."""
        path = self.staged("etc", "logrotate.d", "corral")
        self.assertTrue(os.path.isfile(path), path)
        with open(path) as snippet:
            text = snippet.read()
        self.assertTrue("USR1" in text or "reopen-logs" in text, text)

    def test_the_units_name_the_staged_paths(self):
        """ExecStart and ExecReload of corral.service run the staged binary with the staged
        config; so does the template, with %i.toml."""
        with open(os.path.join(self.units, "corral.service")) as unit:
            text = unit.read()
        corral = self.staged("bin", "corral")
        self.assertIn(f"\nExecStart={corral} -c {self.config}\n", text)
        self.assertIn(f"\nExecReload={corral} reload --wait -c {self.config}\n", text)
        self.assertNotIn("@CORRAL_", text)
        with open(os.path.join(self.units, "corral@.service")) as unit:
            template = unit.read()
        self.assertIn(f"\nExecStart={corral} -c {self.staged('etc', 'corral', '%i.toml')}\n",
                      template)
        self.assertNotIn("@CORRAL_", template)

    @unittest.skipIf(SYSTEMD_ANALYZE is None, "systemd-analyze is not installed")
    def test_systemd_analyze_verify_accepts_the_units(self):
        """systemd-analyze verify: corral.service, corral.socket and corral@demo.service."""
        instances = os.path.join(self.tmp, "instances")
        os.mkdir(instances)
        demo = os.path.join(instances, "corral@demo.service")
        os.symlink(os.path.join(self.units, "corral@.service"), demo)
        for path in (os.path.join(self.units, "corral.service"),
                     os.path.join(self.units, "corral.socket"), demo):
            with self.subTest(unit=os.path.basename(path)):
                done = subprocess.run([SYSTEMD_ANALYZE, "verify", path], capture_output=True,
                                      text=True, timeout=30, cwd=self.tmp)
                output = done.stdout + done.stderr
                self.assertEqual(done.returncode, 0, output)
                self.assertNotRegex(output, re.compile("failed|not executable", re.IGNORECASE))

    def test_the_staged_corral_serves_with_the_staged_config(self):
        """bin/corral -c etc/corral/corral.toml (on a free port, not 8000) serves with the
        config's 2 workers, the staged corral-worker beside it."""
        port = free_port()
        master = self.start_corral("-c", self.config, "-b", f"127.0.0.1:{port}",
                                   binary=self.staged("bin", "corral"))
        status, _, _ = master.wait_serving(port)
        self.assertEqual(status, 200)
        master.wait_workers(2)
        self.assertIn(f"Using worker: {self.staged('bin', 'corral-worker')}\n", master.log())
        self.assertNotIn("127.0.0.1:8000", master.log())


if __name__ == "__main__":
    unittest.main()
