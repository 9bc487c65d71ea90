# SPDX-License-Identifier: Apache-2.0
"""Helpers for the hostile-client tests (test_hostile_*.py): the server runs as
root, attackers run as another user (uid 65534, "nobody"), the way a user of a
shared host would attack it. Everything an attacker needs must be reachable by
that user: the socket lives in a world-searchable directory of its own."""
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import wire

E2E = Path(__file__).resolve().parent
NOBODY = 65534

needs_root = pytest.mark.skipif(
    os.geteuid() != 0,
    reason="hostile-client tests run the server as root and drop attackers to uid 65534; "
           "run them as root (CI does)")


@pytest.fixture
def open_dir():
    """A directory every user can search (pytest's tmp_path is 0700)."""
    d = Path(tempfile.mkdtemp(prefix="tt-alloc-hostile-"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def as_user(uid=NOBODY):
    """Popen keyword arguments that run the child as uid (and its group)."""
    return {"user": uid, "group": uid, "extra_groups": []}


def child_env(extra=None):
    env = dict(os.environ, PYTHONPATH=str(E2E))
    env.update(extra or {})
    return env


class UserProducer(wire.ChildProducer):
    """wire.py's child producer, run as another user."""

    def __init__(self, socket_path, label="", uid=NOBODY, timeout=20.0):
        self.timeout = timeout
        self.proc = subprocess.Popen([sys.executable, str(E2E / "wire.py"), "producer",
                                      str(socket_path), label],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0,
                                     env=child_env(), **as_user(uid))
        self.pid = self.proc.pid
        line = self._readline()
        assert line == f"ready {self.pid}", f"child said {line!r}"


# A connection flood, run as an attacker: opens N consumer connections and
# prints "acked A refused R", then holds them until stdin closes.
FLOOD = r'''
import socket, sys, wire
path, n = sys.argv[1], int(sys.argv[2])
held, acked, refused = [], 0, 0
for _ in range(n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        s.connect(path)
        s.send(wire.hello(wire.CONSUMER))
        s.settimeout(10)
        data = s.recv(wire.MAX_FRAME)
        mtype, _, _ = wire.HEADER.unpack_from(data)
        if mtype == wire.HELLO_ACK:
            acked += 1
            held.append(s)
            continue
        refused += 1
    except OSError:
        refused += 1
    s.close()
print(f"acked {acked} refused {refused}", flush=True)
sys.stdin.read()
'''


def flood(socket_path, n, uid=NOBODY):
    """Start a connection flood as uid; returns (process, acked, refused)."""
    p = subprocess.Popen([sys.executable, "-c", FLOOD, str(socket_path), str(n)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                         env=child_env(), **as_user(uid))
    words = p.stdout.readline().split()
    assert len(words) == 4, f"flood said {words!r}"
    return p, int(words[1]), int(words[3])


def end(p):
    if p.stdin:
        p.stdin.close()
    p.wait(timeout=30)
