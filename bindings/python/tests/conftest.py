# SPDX-License-Identifier: MIT
"""Fixtures: the fake guest program on a private socket, a context, a ready
session.  $FAKE_GUEST names the program (default: tests/fake-guest of this
tree, built by `make tests/fake-guest`).  The in-tree extension is used when
it has been built (./build.sh or make), else the installed package."""

import gc
import glob
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PKG_DIR = os.path.dirname(HERE)
TOP = os.path.dirname(os.path.dirname(PKG_DIR))

# The package next to these tests, when its extension is built: the build
# directory (autotools, out of tree) first, then the source directory.
# UPCALL_PYTHON_INSTALLED=1: test the installed package (a venv) only.
for d in filter(None, [] if os.environ.get("UPCALL_PYTHON_INSTALLED") else
                [os.environ.get("UPCALL_PYTHON_BUILDDIR"), PKG_DIR]):
    if glob.glob(os.path.join(d, "upcall", "_upcall*.so")):
        sys.path.insert(0, d)
        break

import upcall  # noqa: E402

FAKE_GUEST = os.environ.get("FAKE_GUEST",
                            os.path.join(TOP, "tests", "fake-guest"))


class FakeGuest:
    """tests/fake-guest serving a Unix socket; see its --help."""

    def __init__(self, *args, path=None):
        if not os.access(FAKE_GUEST, os.X_OK):
            pytest.fail(f"{FAKE_GUEST} missing: run `make tests/fake-guest` "
                        "at the top, or set FAKE_GUEST")
        self.dir = None
        if path is None:
            # sun_path is short: keep the directory near the root.
            self.dir = tempfile.mkdtemp(prefix="upcall-py.", dir="/tmp")
            path = os.path.join(self.dir, "guest.sock")
        self.path = path
        self.args = args
        self.report = None
        self.proc = subprocess.Popen(
            [FAKE_GUEST, "--socket", self.path, *map(str, args)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            self.proc.kill()
            out, err = self.proc.communicate()
            pytest.fail(f"fake-guest {args} did not start: {line}{out}{err}")

    def stop(self):
        """Stop it; returns (connections, requests, violations)."""
        if self.report is None:
            self.proc.terminate()
            _, err = self.proc.communicate(timeout=10)
            for line in err.splitlines():
                if line.startswith("fake-guest: ") and "violations" in line:
                    w = line.split()
                    self.report = (int(w[1]), int(w[3]), int(w[5]))
            assert self.report is not None, f"no report from fake-guest: {err}"
            self.stderr = err
        return self.report


@pytest.fixture
def fake_guest():
    """A factory: fake_guest("--behavior", "silent", ..., path=None) ->
    FakeGuest (on a new private path unless one is given).
    Every guest it started must have seen no protocol violation."""
    started = []

    def start(*args, path=None):
        g = FakeGuest(*args, path=path)
        started.append(g)
        return g

    yield start
    for g in started:
        _, _, violations = g.stop()
        if g.dir:
            shutil.rmtree(g.dir, ignore_errors=True)
        assert violations == 0, g.stderr


@pytest.fixture
def guest(fake_guest):
    return fake_guest()


@pytest.fixture
def ctx():
    with upcall.Context() as c:
        yield c
    gc.collect()


def open_session(ctx, path, **options):
    options.setdefault("request_timeout", 10)
    options.setdefault("connect_timeout", 5)
    s = ctx.open_unix(path, **options)
    s.wait_ready(timeout=10)
    return s


@pytest.fixture
def session(ctx, guest):
    with open_session(ctx, guest.path) as s:
        yield s
