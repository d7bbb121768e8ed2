"""HTTP/1.1 conformance: the worker's request parsing against Gunicorn's request corpus.

Every valid/*.http of the corpus must be accepted and parsed as expected.json says, every
invalid/*.http rejected with the status expectations.tsv hints (or, for an incomplete request,
closed without an answer). Requests go to corral-echo-worker, which answers what it parsed as
JSON; one corral runs per combination of settings (settings.tsv's limits and header_map map to
corral flags; a case needing another Gunicorn setting is a difference without being sent).

docs/http.md lists the accepted differences, one table row per file (`| valid/012.http | why |`).
The test fails on a difference that is not listed, and on a listed file that now conforms.
It skips when the corpus is absent (see conformance_corpus.corpus_dir).
"""

import concurrent.futures
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for `python3 -m unittest FILE`
import conformance_corpus as corpus
from harness import BIN_DIR, REPO_ROOT, CorralTestCase, free_port, wait_until

ECHO_WORKER = os.path.join(BIN_DIR, "corral-echo-worker")
KNOWN_DIFFERENCES = os.path.join(REPO_ROOT, "docs", "http.md")
PARALLEL_CONNECTIONS = 8


def wait_answering(master, port, timeout=10.0):
    """Wait until a worker behind `master` answers a bare HTTP/1.0 GET on `port`, whatever
    the status: with tight limits, any header (even Host) may make it a 431."""
    def answers():
        master.assert_running()
        try:
            return corpus.exchange(port, b"GET / HTTP/1.0\r\n\r\n", bool).responses
        except OSError:
            return None

    wait_until(answers, timeout, f"a worker to answer on port {port}")


class HttpConformance(CorralTestCase):

    def differences(self, cases):
        """{file: what differs} for the cases that do not behave as the corpus expects."""
        differences = {}
        groups = {}
        for case in cases:
            unsupported = case.unsupported_settings()
            if unsupported:
                noun = "setting" if len(unsupported) == 1 else "settings"
                differences[case.file] = f"{noun} {', '.join(unsupported)} not supported"
            else:
                groups.setdefault(case.flags(), []).append(case)
        ports = {}
        for flags in groups:  # all masters boot at once
            ports[flags] = free_port()
            self.start_corral("-w", 1, "-b", f"127.0.0.1:{ports[flags]}", *flags,
                              "--", ECHO_WORKER)
        for master, port in zip(self.masters, ports.values()):
            wait_answering(master, port)
        runs = [(case, ports[flags]) for flags, group in groups.items() for case in group]
        with concurrent.futures.ThreadPoolExecutor(PARALLEL_CONNECTIONS) as pool:
            outcomes = pool.map(lambda run: corpus.run_case(*run), runs)
            for (case, _), problem in zip(runs, outcomes):
                if problem:
                    differences[case.file] = problem
        return differences

    def test_the_gunicorn_request_corpus(self):
        """Each file is parsed or rejected as the corpus says, unless docs/http.md lists it."""
        cases = corpus.load_cases(corpus.corpus_dir())
        self.assertTrue(os.access(ECHO_WORKER, os.X_OK),
                        f"{ECHO_WORKER} not found: build corral-echo-worker or set CORRAL_BIN_DIR")
        differences = self.differences(cases)
        listed = corpus.known_differences(KNOWN_DIFFERENCES)
        files = {case.file for case in cases}

        unlisted = sorted(file for file in differences if file not in listed)
        conforming = sorted(file for file in listed if file in files and file not in differences)
        unknown = sorted(file for file in listed if file not in files)
        report = []
        if unlisted:
            report.append(f"{len(unlisted)} corpus files differ and are not listed in "
                          f"docs/http.md; fix them or add these rows to its table:")
            report += [corpus.table_row(file, differences[file]) for file in unlisted]
        if conforming:
            report.append(f"{len(conforming)} files listed in docs/http.md now conform; "
                          f"remove their rows:")
            report += [corpus.table_row(file, listed[file]) for file in conforming]
        if unknown:
            report.append(f"{len(unknown)} files listed in docs/http.md are not in the corpus:")
            report += [corpus.table_row(file, listed[file]) for file in unknown]
        if report:
            summary = (f"{len(cases)} corpus files: {len(cases) - len(differences)} conform, "
                       f"{len(differences)} differ ({len(differences) - len(unlisted)} listed)")
            self.fail("\n".join([summary, *report]))


if __name__ == "__main__":
    unittest.main()
