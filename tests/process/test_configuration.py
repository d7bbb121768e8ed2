"""How corral reads its settings: config file, environment, command line, and their errors."""

import os
import re
import shutil
import socket
import subprocess
import sys
import tomllib
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for `python3 -m unittest FILE`
from harness import CORRAL, CorralTestCase, accepts_connections, free_port


class BadConfigFiles(CorralTestCase):

    def assert_config_error(self, master, path, line, key):
        self.assertEqual(master.returncode, 2)
        self.assertRegex(master.log(), rf"corral: error: {re.escape(path)}:{line}:\d+: .*\b{key}\b")

    def test_a_value_of_the_wrong_type_names_file_line_and_key_and_binds_nothing(self):
        """workers = "lots" on line 3: exit 2, an error naming FILE:3 and workers, no listener."""
        port = free_port()
        path = self.write_file("corral.toml", "# workers cannot be a word\n"
                                              f'bind = ["127.0.0.1:{port}"]\n'
                                              'workers = "lots"\n')

        master = self.run_corral("-c", path)

        self.assert_config_error(master, path, 3, "workers")
        self.assertFalse(accepts_connections(port))

    def test_an_unknown_key_names_file_line_and_key_and_binds_nothing(self):
        """wrokers = 3 on line 2: exit 2, an error naming FILE:2 and wrokers, no listener."""
        port = free_port()
        path = self.write_file("corral.toml", f'bind = ["127.0.0.1:{port}"]\nwrokers = 3\n')

        master = self.run_corral("-c", path)

        self.assert_config_error(master, path, 2, "wrokers")
        self.assertFalse(accepts_connections(port))


class NotANumber(CorralTestCase):

    def test_nan_and_inf_are_refused_in_the_file_the_environment_and_on_the_command_line(self):
        """timeout = nan (which would turn hang detection off), inf, -inf: exit 2, no listener."""
        port = free_port()
        bind = ("-b", f"127.0.0.1:{port}")
        path = self.write_file("nan.toml", "timeout = nan\n")
        inf_path = self.write_file("inf.toml", "\nkeepalive = +inf\n")
        cases = [
            ("nan in the file", ["-c", path], {},
             rf"{re.escape(path)}:1:11: timeout: expected a number of seconds from 0\.1 to 86400,"
             r" got number nan"),
            ("inf in the file", ["-c", inf_path], {},
             rf"{re.escape(inf_path)}:2:13: keepalive: expected .* got number inf"),
            ("nan in the environment", [], {"CORRAL_TIMEOUT": "nan"},
             r"environment variable CORRAL_TIMEOUT: timeout: expected .* got number nan"),
            ("-inf on the command line", ["--graceful-timeout", "-inf"], {},
             r"option --graceful-timeout: graceful_timeout: expected .* got number -inf"),
            ("nan on the command line", ["--timeout", "nan"], {},
             r"option --timeout: timeout: expected .* got number nan"),
        ]
        for name, args, env, message in cases:
            for action in (["--check-config"], []):
                with self.subTest(name, action=action):
                    master = self.run_corral(*bind, *args, *action, env=env)

                    self.assertEqual(master.returncode, 2)
                    self.assertRegex(master.log(), rf"corral: error: {message}")
                    self.assertFalse(accepts_connections(port))


class TheConfigFileMustBeAFile(CorralTestCase):

    def test_a_directory_or_a_missing_file_given_to_c_is_an_error_naming_it(self):
        """-c DIRECTORY used to run on the defaults; -c on a directory, a device or a missing
        file exits 2 naming the path and why."""
        missing = os.path.join(self.tmp, "missing.toml")
        cases = [
            ("a directory", self.tmp, "it is a directory"),
            ("a device", "/dev/null", "it is not a regular file"),
            ("a missing file", missing, "No such file or directory"),
        ]
        for name, path, why in cases:
            for action in (["--check-config"], []):
                with self.subTest(name, action=action):
                    master = self.run_corral("-c", path, *action)

                    self.assertEqual(master.returncode, 2)
                    self.assertIn(f"corral: error: cannot read config file {path}: {why}",
                                  master.log())
                    self.assertNotIn("configuration OK", master.output())


class CheckConfigFindsWhatWouldStopTheStart(CorralTestCase):

    def assert_refused(self, master, message):
        self.assertEqual(master.returncode, 2)
        self.assertIn(f"corral: error: {message}", master.log())
        self.assertNotIn("configuration OK", master.output())

    def test_each_problem_exits_2_naming_its_setting(self):
        """--check-config used to say OK to all of these, which then stopped the start."""
        long_directory = os.path.join(self.tmp, "d" * 100)
        os.mkdir(long_directory)
        long_socket = f"{long_directory}/app.sock"
        cases = [
            ("unknown user", ["-u", "corral-test-no-such-user"],
             'user: unknown user "corral-test-no-such-user"'),
            ("unknown group", ["-g", "corral-test-no-such-group"],
             'group: unknown group "corral-test-no-such-group"'),
            ("too long a unix socket path", ["-b", f"unix:{long_socket}"],
             f'option --bind: bind: invalid address "unix:{long_socket}": the path is '
             f"{len(long_socket)} bytes long; a unix socket path can be at most 107 bytes"),
            ("too long a control socket path made from the pidfile",
             ["-p", f"{long_directory}/corral.pid"],
             f"control_socket: the control socket would be {long_directory}/corral.pid.sock"),
            ("metrics_bind without a port", ["--metrics-bind", "localhost"],
             'option --metrics-bind: metrics_bind: invalid address "localhost": the port is '
             "missing"),
            ("metrics_bind that is not HOST:PORT", ["--metrics-bind", "unix:/tmp/m.sock"],
             'option --metrics-bind: metrics_bind: invalid address "unix:/tmp/m.sock": expected '
             "HOST:PORT"),
            ("metrics_bind host that does not resolve", ["--metrics-bind", "nohost.invalid:9100"],
             'metrics_bind: cannot resolve host "nohost.invalid"'),
            ("missing worker command", ["--", "/nonexistent/app"],
             "worker_command: cannot execute worker command /nonexistent/app: no such file"),
            ("missing chdir", ["--chdir", "/nonexistent"],
             "chdir: cannot change to /nonexistent: No such file or directory"),
            ("too long a worker_tmp_dir", ["--worker-tmp-dir", long_directory],
             f"worker_tmp_dir: {long_directory} is too long for the workers' notify sockets"),
            ("missing worker_tmp_dir", ["--worker-tmp-dir", "/nonexistent"],
             "worker_tmp_dir: /nonexistent: No such file or directory"),
        ]
        if os.geteuid() == 0:
            os.chmod(self.tmp, 0o755)  # only the last directory on the way is private
            private = os.path.join(self.tmp, "private")
            os.mkdir(private, 0o700)
            cases.append(("worker_tmp_dir the workers' user cannot reach",
                          ["-u", "nobody", "--worker-tmp-dir", private],
                          f"worker_tmp_dir: workers running as nobody could not reach their "
                          f"notify sockets in {private}: {private} (mode 0700, owner 0:0) is not "
                          "searchable by user nobody"))
        for name, args, message in cases:
            with self.subTest(name):
                args = list(args)
                worker = args[args.index("--"):] if "--" in args else []
                flags = args[:len(args) - len(worker)]
                self.assert_refused(self.run_corral(*flags, "--check-config", *worker), message)

    def test_worker_command_from_the_file_is_named_with_its_setting(self):
        """worker_command = ["/nonexistent/app"] in the file: the error names worker_command."""
        path = self.write_file("corral.toml", 'worker_command = ["/nonexistent/app"]\n')

        master = self.run_corral("-c", path, "--check-config")

        self.assert_refused(master, "worker_command: cannot execute worker command /nonexistent/app")

    def test_at_start_the_same_problems_name_their_setting(self):
        """Without --check-config these stop the master with status 1, naming the setting."""
        cases = [
            ("unknown user", ["-u", "corral-test-no-such-user"],
             'user: unknown user "corral-test-no-such-user"'),
            ("metrics_bind host that does not resolve", ["--metrics-bind", "nohost.invalid:9100"],
             'metrics_bind: cannot resolve host "nohost.invalid"'),
            ("missing worker command", ["--", "/nonexistent/app"],
             "worker_command: cannot execute worker command /nonexistent/app: no such file"),
            ("missing worker_tmp_dir", ["--worker-tmp-dir", "/nonexistent"],
             "worker_tmp_dir: /nonexistent: No such file or directory"),
        ]
        for name, args, message in cases:
            with self.subTest(name):
                master = self.run_corral("-b", f"127.0.0.1:{free_port()}", *args)

                self.assertEqual(master.returncode, 1)
                self.assertRegex(master.log(), rf"\[CRITICAL\] {re.escape(message)}")
                self.assertNotIn("Booting worker", master.log())

    def test_a_metrics_port_in_use_at_start_names_metrics_bind(self):
        """metrics_bind on a port another socket holds: exit 1 with a line naming metrics_bind."""
        with socket.socket() as holder:
            holder.bind(("127.0.0.1", 0))
            holder.listen()
            busy = f"127.0.0.1:{holder.getsockname()[1]}"

            master = self.run_corral("-b", f"127.0.0.1:{free_port()}", "--metrics-bind", busy)

            self.assertEqual(master.returncode, 1)
            self.assertIn(f"[CRITICAL] metrics_bind: bind() failed while binding {busy}: "
                          "Address already in use", master.log())


class CheckingAndPrintingTheConfig(CorralTestCase):

    def test_check_config_accepts_a_valid_file(self):
        """--check-config on a valid file exits 0."""
        path = self.write_file("corral.toml", f'workers = 2\nbind = ["127.0.0.1:{free_port()}"]\n')

        self.assertEqual(self.run_corral("-c", path, "--check-config").returncode, 0)

    @unittest.skipUnless(shutil.which("taskset"), "taskset is not installed")
    def test_workers_auto_counts_the_cpus_corral_may_run_on(self):
        """-w auto under `taskset -c 0` is 1 worker: the affinity mask counts, not the machine."""
        pinned = subprocess.run(["taskset", "-c", "0", CORRAL, "-w", "auto", "--print-config"],
                                capture_output=True, text=True, timeout=10, cwd=self.tmp)
        self.assertEqual(pinned.returncode, 0, pinned.stderr)
        self.assertEqual(tomllib.loads(pinned.stdout)["workers"], 1)
        free = self.run_corral("-w", "auto", "--print-config")
        self.assertEqual(tomllib.loads(free.output())["workers"], len(os.sched_getaffinity(0)))

    def test_print_config_prints_toml_with_the_settings_given(self):
        """--print-config with -w 3 prints TOML in which workers = 3."""
        master = self.run_corral("-w", 3, "--print-config")

        self.assertEqual(master.returncode, 0)
        self.assertEqual(tomllib.loads(master.output())["workers"], 3)

    def test_the_command_line_beats_the_environment_which_beats_the_config_file(self):
        """workers = 2 in the file, CORRAL_WORKERS=3, -w 4: each later source wins."""
        path = self.write_file("corral.toml", "workers = 2\n")
        cases = [
            ("config file alone", {}, [], 2),
            ("environment over config file", {"CORRAL_WORKERS": "3"}, [], 3),
            ("command line over both", {"CORRAL_WORKERS": "3"}, ["-w", 4], 4),
        ]
        for name, env, flags, expected_workers in cases:
            with self.subTest(name):
                master = self.run_corral("-c", path, *flags, "--print-config", env=env)

                self.assertEqual(master.returncode, 0)
                self.assertEqual(tomllib.loads(master.output())["workers"], expected_workers)


class CommandLine(CorralTestCase):

    def test_version_exits_0(self):
        """--version prints something and exits 0."""
        master = self.run_corral("--version")

        self.assertEqual(master.returncode, 0)
        self.assertNotEqual(master.output().strip(), "")

    def test_an_unknown_flag_exits_2(self):
        """--no-such-flag is a usage error: exit 2."""
        master = self.run_corral("--no-such-flag")

        self.assertEqual(master.returncode, 2)
        self.assertIn("--no-such-flag", master.log())


if __name__ == "__main__":
    unittest.main()
