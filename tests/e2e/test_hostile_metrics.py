# SPDX-License-Identifier: Apache-2.0
"""Hostile HTTP clients against /metrics: an idle-connection flood past
libmicrohttpd's connection limit, slowloris, and a second server on the same
port. The endpoint keeps answering other addresses during the flood, is back
at once when the flood ends, and closes idle connections within 10 s."""
import os
import socket
import subprocess
import time

from conftest import SANITIZER_ENV, binary, wait_for
from hostile_util import needs_root, open_dir  # noqa: F401
from metrics_util import free_port, get, metrics_server

pytestmark = needs_root


def connect_from(source, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((source, 0))
    s.settimeout(5)
    s.connect(("127.0.0.1", port))
    return s


def flood_from(sources, port, per_source):
    """Idle connections (nothing sent) from each 127.0.0.x source address."""
    held = []
    for src in sources:
        for _ in range(per_source):
            try:
                held.append(connect_from(src, port))
            except OSError:
                pass
    return held


def test_idle_flood_then_metrics_answers_at_once(open_dir):
    port = free_port()
    srv = metrics_server(open_dir, port)
    try:
        # From one address: the per-address cap keeps the flood from the others.
        held = flood_from(["127.0.0.2"], port, 300)
        status, _, body = get(port, timeout=5)
        assert status == 200 and "ttalloc_device_memory_used_bytes" in body
        for s in held:
            s.close()
        # From many addresses, past the connection limit (128) of the whole endpoint.
        held = flood_from([f"127.0.0.{i}" for i in range(2, 12)], port, 40)
        assert len(held) >= 128
        for s in held:
            s.close()
        # Back at once (the listener re-armed), not after a timeout.
        start = time.monotonic()
        wait_for(lambda: _answers(port), timeout=5, what="/metrics after the flood")
        assert time.monotonic() - start < 3
        assert srv.proc.poll() is None
    finally:
        srv.stop()


def _answers(port):
    try:
        return get(port, timeout=1)[0] == 200
    except OSError:
        return False


def test_slowloris_does_not_block_and_idle_connections_time_out(open_dir):
    port = free_port()
    srv = metrics_server(open_dir, port)
    try:
        slow = flood_from(["127.0.0.3"], port, 20)
        for s in slow:
            try:
                s.send(b"GET /metrics HTTP/1.1\r\nX-a: ")
            except OSError:
                pass
        # Trickling a byte at a time does not stop others being served.
        for _ in range(3):
            for s in slow:
                try:
                    s.send(b"a")
                except OSError:
                    pass
            assert get(port, timeout=5)[0] == 200
        # An idle connection is closed by the server within its 10 s timeout.
        idle = connect_from("127.0.0.4", port)
        idle.settimeout(20)
        start = time.monotonic()
        assert idle.recv(1) == b""
        assert time.monotonic() - start <= 13
        idle.close()
        for s in slow:
            s.close()
        assert get(port, timeout=5)[0] == 200
    finally:
        srv.stop()


def test_second_server_on_the_same_port_is_refused(open_dir, tmp_path):
    port = free_port()
    first = metrics_server(open_dir, port)
    try:
        r = subprocess.run([binary("src/server/tt-alloc-server"), "--socket",
                            str(tmp_path / "second.sock"), "--metrics", f"127.0.0.1:{port}"],
                           capture_output=True, text=True, timeout=30,
                           env=dict(os.environ, **SANITIZER_ENV))
        assert r.returncode == 1
        assert f"port {port} is already in use" in r.stderr
        assert get(port)[0] == 200
    finally:
        first.stop()
