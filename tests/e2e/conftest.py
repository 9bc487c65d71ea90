# SPDX-License-Identifier: Apache-2.0
"""Shared fixtures for the end-to-end tests: real binaries from the build under
test (TTALLOC_BUILD, default build-check/), real Unix sockets, real processes.

Waiting is always for a condition with a deadline (wait_for), never a bare sleep.
"""
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("TTALLOC_BUILD", ROOT / "build-check"))

# Sanitizer settings for every child we start: fail loudly, and LeakSanitizer
# at exit (detect_leaks is on by default on x86_64; halt_on_error makes a
# report a non-zero exit the test can see).
SANITIZER_ENV = {
    "ASAN_OPTIONS": "abort_on_error=0:halt_on_error=1:detect_leaks=1",
    "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1",
}


def binary(relpath):
    """Path of a built program, e.g. binary('src/server/tt-alloc-server')."""
    path = BUILD / relpath
    if not path.exists():
        pytest.fail(f"{path} is not built (run `make check`, or set TTALLOC_BUILD)")
    return str(path)


def wait_for(predicate, timeout=10.0, interval=0.005, what="condition"):
    """Poll predicate() until it returns a truthy value; fail after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def socket_answers(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        s.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        s.close()


class Server:
    """A tt-alloc-server on a private socket; restartable; its log kept."""

    def __init__(self, tmp_path, extra_args=()):
        self.dir = tmp_path
        self.socket = str(tmp_path / "tt-alloc.sock")
        self.log_path = tmp_path / "server.log"
        self.extra_args = list(extra_args)
        self.proc = None
        self.env = dict(os.environ, **SANITIZER_ENV, TT_ALLOC_SOCKET=self.socket)

    def start(self, *args):
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            [binary("src/server/tt-alloc-server"), "--socket", self.socket, "-v",
             *self.extra_args, *args],
            stdout=log, stderr=subprocess.STDOUT, env=self.env)
        log.close()
        wait_for(lambda: self.proc.poll() is not None or socket_answers(self.socket),
                 what="the server's socket")
        assert self.proc.poll() is None, f"server exited early:\n{self.log()}"
        return self

    def stop(self):
        """SIGTERM, and check it ended cleanly (sanitizers report via exit code)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            rc = self.proc.wait(timeout=20)
            assert rc == 0, f"server exited with {rc}:\n{self.log()}"
        self.proc = None

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=20)
        self.proc = None

    def log(self):
        return self.log_path.read_text() if self.log_path.exists() else ""

    def client_env(self, **extra):
        return dict(self.env, **extra)


@pytest.fixture
def server(tmp_path):
    srv = Server(tmp_path).start()
    yield srv
    if srv.proc is not None and srv.proc.poll() is not None:
        pytest.fail(f"server died during the test (rc={srv.proc.returncode}):\n{srv.log()}")
    srv.stop()
