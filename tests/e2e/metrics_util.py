# SPDX-License-Identifier: Apache-2.0
"""Helpers for the metrics tests: free loopback ports, HTTP against the
server's /metrics, the text format parsed back into samples, and a producer
child whose /proc/<pid>/comm holds odd bytes."""
import http.client
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

from conftest import Server, wait_for
import wire

E2E = Path(__file__).resolve().parent


def free_port():
    """A TCP port free on 127.0.0.1 right now (the kernel picks it)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def get(port, path="/metrics", method="GET", timeout=10.0):
    """(status, headers dict with lower-case names, body text)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path)
        r = conn.getresponse()
        body = r.read().decode("utf-8")
        return r.status, {k.lower(): v for k, v in r.getheaders()}, body
    finally:
        conn.close()


def answers(port):
    try:
        return get(port, timeout=2.0)[0] == 200
    except OSError:
        return False


def metrics_server(tmp_path, port, *extra):
    """A started Server with --metrics on 127.0.0.1:port, its endpoint answering."""
    srv = Server(tmp_path, extra_args=["--metrics", f"127.0.0.1:{port}", *extra]).start()
    wait_for(lambda: answers(port), what="the metrics endpoint")
    return srv


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def _unescape(v):
    return re.sub(r'\\(.)', lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), v)


def parse(text):
    """[(name, {label: value}, float)] of every sample line."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        labels = {k: _unescape(v) for k, v in _LABEL.findall(m.group(3) or "")}
        out.append((m.group(1), labels, float(m.group(4))))
    return out


def value(samples, name, **labels):
    """The value of the one sample of `name` with exactly these labels among its
    labels (others ignored), or None."""
    found = [v for n, l, v in samples
             if n == name and all(l.get(k) == str(want) for k, want in labels.items())]
    assert len(found) <= 1, f"{name}{labels} matches {len(found)} samples"
    return found[0] if found else None


def scrape(port):
    status, _, body = get(port)
    assert status == 200
    return parse(body)


class OddProducer(wire.ChildProducer):
    """A wire.ChildProducer whose process name (comm) is set to `comm` (bytes,
    at most 15) before it connects."""

    def __init__(self, socket_path, comm, timeout=20.0):
        self.timeout = timeout
        code = ("import sys; sys.path.insert(0, sys.argv[1]); "
                "open('/proc/self/comm', 'wb').write(bytes.fromhex(sys.argv[2])); "
                "import wire; wire._child_main(sys.argv[3:])")
        self.proc = subprocess.Popen([sys.executable, "-c", code, str(E2E), comm.hex(),
                                      str(socket_path), ""],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
        self.pid = self.proc.pid
        line = self._readline()
        assert line == f"ready {self.pid}", f"child said {line!r}"
