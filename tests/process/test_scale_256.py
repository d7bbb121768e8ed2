"""256 workers started at once all become ready, and a `reload --wait` of 256 succeeds, on a
stock kernel (net.unix.max_dgram_qlen 10). Labelled slow: run once, not under the
sanitizers, where test_scale covers the same with fewer workers."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for `python3 -m unittest FILE`
import test_scale


class TwoHundredFiftySixWorkers(test_scale.ManyWorkers):
    workers = 256


if __name__ == "__main__":
    unittest.main()
