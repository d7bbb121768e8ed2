"""A worker that records what it received from the master, then serves like fd3_server.

It writes {"pid", "fds", "environment", "fd_kinds"} as JSON to $PROBE_OUTPUT before it
sends READY=1, so a test can check the worker protocol from the worker's side.
"""

import json
import os
import stat
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fd3_server


def open_fds():
    """Every open descriptor of this process, by fstat over the whole range."""
    fds = []
    for fd in range(0, 1024):
        try:
            os.fstat(fd)
        except OSError:
            continue
        fds.append(fd)
    return fds


def fd_kind(fd):
    mode = os.fstat(fd).st_mode
    return "socket" if stat.S_ISSOCK(mode) else "other"


def main():
    fds = open_fds()
    record = {"pid": os.getpid(), "fds": fds, "environment": dict(os.environ),
              "fd_kinds": {str(fd): fd_kind(fd) for fd in fds}}
    path = os.environ["PROBE_OUTPUT"]
    with open(path + ".tmp", "w") as output:
        json.dump(record, output)
    os.rename(path + ".tmp", path)
    fd3_server.main()


if __name__ == "__main__":
    main()
