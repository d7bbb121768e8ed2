"""Runs the process tests of one file, as ctest does: `python3 run_test.py FILE`.

Under CI=true nothing may skip: a test that would skip (a missing tool, package, privilege
or ../shared) fails instead, with its reason, so a CI machine that lacks something shows
it rather than passing with less tested."""

import os
import sys
import unittest


class NoSkipsUnderCI(unittest.TextTestResult):

    def addSkip(self, test, reason):
        if os.environ.get("CI") != "true":
            super().addSkip(test, reason)
            return
        try:
            raise AssertionError(f"skipped under CI=true, where nothing may skip: {reason}")
        except AssertionError:
            self.addFailure(test, sys.exc_info())


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: run_test.py tests/process/test_NAME.py")
    path = os.path.abspath(sys.argv[1])
    sys.path.insert(0, os.path.dirname(path))
    suite = unittest.defaultTestLoader.discover(os.path.dirname(path),
                                                pattern=os.path.basename(path))
    runner = unittest.TextTestRunner(verbosity=2, resultclass=NoSkipsUnderCI)
    result = runner.run(suite)
    sys.exit(0 if result.wasSuccessful() and result.testsRun > 0 else 1)


if __name__ == "__main__":
    main()
