# SPDX-License-Identifier: Apache-2.0
"""tt-alloc-server --metrics: the page is valid for `promtool check metrics`,
shows exactly what clients hold, and the HTTP side copes with bad, slow and
many clients without holding up the event loop."""
import concurrent.futures
import os
import shutil
import socket
import subprocess

import pytest

from conftest import Server, binary, wait_for
import wire
from metrics_util import (OddProducer, free_port, get, metrics_server, parse, scrape, value)

MIB = 1 << 20
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


@pytest.fixture
def msrv(tmp_path):
    port = free_port()
    srv = metrics_server(tmp_path, port)
    srv.port = port
    yield srv
    assert srv.proc.poll() is None, f"server died:\n{srv.log()}"
    srv.stop()


def promtool_check(text):
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(),
                       capture_output=True, timeout=60)
    return r.returncode, (r.stdout + r.stderr).decode()


def test_promtool_accepts_the_page_with_clients_and_odd_names(msrv):
    odd = OddProducer(msrv.socket, b'we"ird\\na\xff\xc3me')
    plain = wire.ChildProducer(msrv.socket, "plain")
    try:
        assert odd.allocs([(0, wire.DRAM, 0x1000, 3 * MIB), (1, wire.L1, 0x10, 4096)]) == "ok"
        assert plain.allocs([(0, wire.DRAM, 0x9000, MIB), (0, wire.CB, 0x20, 777)]) == "ok"
        status, headers, body = get(msrv.port)
        assert status == 200
        assert headers["content-type"].startswith("text/plain; version=0.0.4")
        rc, out = promtool_check(body)
        assert rc == 0, f"promtool says:\n{out}\n--- page ---\n{body}"

        samples = parse(body)
        comm = 'we"ird\\na\ufffd\ufffdme'     # the two bad bytes each became U+FFFD
        assert value(samples, "ttalloc_process_memory_used_bytes", device=0, type="dram",
                     pid=odd.pid) == 3 * MIB
        assert value(samples, "ttalloc_process_memory_used_bytes", device=0, type="dram",
                     pid=odd.pid, comm=comm) == 3 * MIB
        assert '\\"ird\\\\na' in body          # escaped on the wire
        assert value(samples, "ttalloc_process_memory_used_bytes", device=1, type="l1",
                     pid=odd.pid) == 4096
        assert value(samples, "ttalloc_process_memory_used_bytes", device=0, type="cb",
                     pid=plain.pid, comm="python3") == 777
        assert value(samples, "ttalloc_device_memory_used_bytes", device=0,
                     type="dram") == 4 * MIB
        assert value(samples, "ttalloc_device_memory_peak_bytes", device=0,
                     type="dram") == 4 * MIB
        assert value(samples, "ttalloc_clients") == 2
        assert value(samples, "ttalloc_events_total") == 4
        # every family announced once, by HELP and TYPE
        names = {n for n, _, _ in samples}
        for family in ["ttalloc_device_memory_used_bytes", "ttalloc_process_memory_used_bytes",
                       "ttalloc_device_info", "ttalloc_events_total",
                       "ttalloc_process_exits_total", "ttalloc_client_disconnects_total"]:
            assert family in names
            assert body.count(f"# TYPE {family} ") == 1
            assert body.count(f"# HELP {family} ") == 1
    finally:
        odd.kill()
        plain.close()


def test_top_n_sums_the_rest_as_other(tmp_path):
    port = free_port()
    srv = metrics_server(tmp_path, port, "--metrics-top", "2")
    kids = [wire.ChildProducer(srv.socket, f"p{i}") for i in range(4)]
    try:
        sizes = [10 * MIB, 7 * MIB, 3 * MIB, 1 * MIB]
        for kid, size in zip(kids, sizes):
            assert kid.allocs([(0, wire.DRAM, 0x1000, size)]) == "ok"
        samples = scrape(port)
        shown = {l["pid"] for n, l, _ in samples if n == "ttalloc_process_memory_used_bytes"}
        assert shown == {str(kids[0].pid), str(kids[1].pid), "other"}
        assert value(samples, "ttalloc_process_memory_used_bytes", device=0, type="dram",
                     pid="other", comm="other") == 4 * MIB
        rc, out = promtool_check(get(port)[2])
        assert rc == 0, out

        # the biggest leaves: the third moves up, and nothing is "other" any more
        kids[0].close()
        wait_for(lambda: value(scrape(port), "ttalloc_process_memory_used_bytes", device=0,
                               type="dram", pid=kids[2].pid) == 3 * MIB,
                 what="pid 3 in the top 2")
        samples = scrape(port)
        assert value(samples, "ttalloc_process_memory_used_bytes", pid="other", device=0,
                     type="dram") == 1 * MIB
    finally:
        for kid in kids[1:]:
            kid.close()
        srv.stop()


def test_exits_and_disconnects_are_counted(msrv):
    kid = wire.ChildProducer(msrv.socket, "leaky")
    assert kid.allocs([(0, wire.DRAM, 0x1000, MIB)]) == "ok"
    kid.kill()
    wait_for(lambda: value(scrape(msrv.port), "ttalloc_process_exits_total",
                           leaked="true") == 1, what="the leaked exit in the metrics")
    clean = wire.ChildProducer(msrv.socket, "clean")
    assert clean.allocs([(0, wire.DRAM, 0x1000, MIB)]) == "ok"
    assert clean.events([(wire.OP_FREE, 0, wire.DRAM, 0x1000, 0)]) == "ok"
    clean.close()
    wait_for(lambda: value(scrape(msrv.port), "ttalloc_process_exits_total",
                           leaked="false") == 1, what="the clean exit in the metrics")

    # a malformed client: one more disconnect for that reason
    before = value(scrape(msrv.port), "ttalloc_client_disconnects_total", reason="malformed")
    with wire.Client(msrv.socket) as c:
        c.send(b"garbage!")
        c.expect_error()
    wait_for(lambda: value(scrape(msrv.port), "ttalloc_client_disconnects_total",
                           reason="malformed") == before + 1, what="a malformed disconnect")
    samples = scrape(msrv.port)
    assert value(samples, "ttalloc_device_memory_used_bytes", device=0, type="dram") == 0
    assert value(samples, "ttalloc_device_memory_peak_bytes", device=0, type="dram") == MIB
    reasons = {l["reason"] for n, l, _ in samples if n == "ttalloc_client_disconnects_total"}
    assert {"eof", "malformed", "limit", "slow"} <= reasons


def test_telemetry_from_the_sysroot(tmp_path):
    """A simulated tt-kmd tree: device info and telemetry in base units."""
    root = tmp_path / "root"
    r = subprocess.run([binary("src/sim/tt-alloc-sim"), "sysroot", str(root), "--devices",
                        "n150,3:p150a"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    port = free_port()
    srv = metrics_server(tmp_path, port, "--sysroot", str(root))
    try:
        body = get(port)[2]
        samples = parse(body)
        infos = {l["device"]: l for n, l, _ in samples if n == "ttalloc_device_info"}
        assert sorted(infos) == ["0", "3"], body     # sparse ordinals as tt-kmd has them
        assert infos["0"]["board_type"] == "n150" and infos["0"]["arch"] == "wormhole"
        assert infos["3"]["board_type"] == "p150a" and infos["3"]["arch"] == "blackhole"
        assert all(i["bus_id"] and i["serial"] for i in infos.values()), infos
        temps = [v for n, _, v in samples if n == "ttalloc_device_temperature_celsius"]
        assert temps and all(0 < t < 150 for t in temps), temps
        clocks = [v for n, _, v in samples if n == "ttalloc_device_aiclk_hertz"]
        assert all(c >= 1e8 for c in clocks), clocks
        totals = [v for n, l, v in samples
                  if n == "ttalloc_device_memory_total_bytes" and l["type"] == "dram"]
        assert totals == [12 << 30, 8 * 4278190080], totals
        rc, out = promtool_check(body)
        assert rc == 0, out
    finally:
        srv.stop()


def test_http_errors(msrv):
    assert get(msrv.port, "/nope")[0] == 404
    assert get(msrv.port, "/metrics/x")[0] == 404
    for method in ["POST", "PUT", "DELETE", "OPTIONS"]:
        status, headers, _ = get(msrv.port, method=method)
        assert status == 405, method
        assert headers["allow"] == "GET, HEAD"
    status, headers, body = get(msrv.port, method="HEAD")
    assert status == 200 and body == ""
    assert headers["content-type"].startswith("text/plain; version=0.0.4")


def raw_exchange(port, data, timeout=15.0):
    """Send raw bytes, read until the server closes; the reply bytes."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        try:
            s.sendall(data)
        except OSError:
            pass    # the server may close before taking it all
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
        return out
    finally:
        s.close()


def test_malformed_and_huge_requests(msrv):
    garbage = raw_exchange(msrv.port, b"\x00\xff\x01 this is not http\r\n\r\n")
    assert garbage == b"" or garbage.startswith(b"HTTP/1.1 400"), garbage[:100]
    huge = raw_exchange(msrv.port, b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " +
                        b"a" * 200000 + b"\r\n\r\n")
    assert huge == b"" or huge.split(b" ")[1] in (b"413", b"414", b"431", b"400"), huge[:100]
    long_url = raw_exchange(msrv.port, b"GET /" + b"m" * 100000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert long_url == b"" or long_url.split(b" ")[1] in (b"413", b"414", b"431", b"400")
    bad_version = raw_exchange(msrv.port, b"GET /metrics HTTP/9.9\r\nHost: x\r\n\r\n")
    assert not bad_version.startswith(b"HTTP/1.1 200")
    # and it still answers properly
    assert get(msrv.port)[0] == 200


def test_slow_client_does_not_hold_up_the_loop(msrv):
    """A client that sends half a request and waits: producers are still served,
    scrapes still answered; MHD closes the idle connection after its timeout."""
    slow = socket.create_connection(("127.0.0.1", msrv.port), timeout=60)
    slow.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    kid = wire.ChildProducer(msrv.socket, "busy")
    try:
        # events + FLUSH round trip through the loop while `slow` is held open
        assert kid.allocs([(0, wire.DRAM, 0x1000, 5 * MIB)]) == "ok"
        assert kid.events([(wire.OP_FREE, 0, wire.DRAM, 0x1000, 0),
                           (wire.OP_ALLOC, 0, wire.L1, 0x20, 123)]) == "ok"
        samples = scrape(msrv.port)
        assert value(samples, "ttalloc_process_memory_used_bytes", pid=kid.pid, device=0,
                     type="l1") == 123
        # the held connection is closed by the server (its idle timeout), not by us
        slow.settimeout(60)
        try:
            rest = slow.recv(4096)
        except ConnectionResetError:
            rest = b""
        assert rest == b"" or rest.startswith(b"HTTP/1.1 4"), rest[:100]
        assert kid.events([(wire.OP_ALLOC, 0, wire.L1, 0x40, 1)]) == "ok"
    finally:
        slow.close()
        kid.close()


def test_many_concurrent_scrapes(msrv):
    kid = wire.ChildProducer(msrv.socket, "held")
    try:
        assert kid.allocs([(2, wire.TRACE, 0x1000, 999)]) == "ok"

        def one(_):
            samples = scrape(msrv.port)
            return value(samples, "ttalloc_process_memory_used_bytes", pid=kid.pid, device=2,
                         type="trace")

        with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
            results = list(pool.map(one, range(200)))
        assert results == [999.0] * 200
        # a producer still gets through after the storm
        assert kid.allocs([(2, wire.TRACE, 0x2000, 1)]) == "ok"
    finally:
        kid.close()


def test_bad_metrics_flags(tmp_path):
    exe = binary("src/server/tt-alloc-server")
    for bad in ["9464", "localhost:9464", "127.0.0.1:0", "127.0.0.1:99999", "[::1:5"]:
        r = subprocess.run([exe, "--socket", str(tmp_path / "s"), "--metrics", bad],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 2, (bad, r.stderr)
        assert "--metrics" in r.stderr
    r = subprocess.run([exe, "--socket", str(tmp_path / "s"), "--metrics-top", "x"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2

    # the port is taken: one message, exit 1, and no socket left behind
    taken = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        port = taken.getsockname()[1]
        r = subprocess.run([exe, "--socket", str(tmp_path / "s2"), "--metrics",
                            f"127.0.0.1:{port}"], capture_output=True, text=True, timeout=30)
        assert r.returncode == 1, r.stderr
        assert f"127.0.0.1:{port}" in r.stderr
        assert not os.path.exists(tmp_path / "s2")
    finally:
        taken.close()


def test_ipv6_loopback(tmp_path):
    try:
        probe = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        probe.bind(("::1", 0))
        port = probe.getsockname()[1]
        probe.close()
    except OSError:
        pytest.skip("no IPv6 loopback here")
    srv = Server(tmp_path, extra_args=["--metrics", f"[::1]:{port}"]).start()
    try:
        def fetch():
            try:
                s = socket.create_connection(("::1", port), timeout=5)
            except OSError:
                return None
            with s:
                s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
                out = b""
                while chunk := s.recv(65536):
                    out += chunk
                return out
        reply = wait_for(fetch, what="the metrics endpoint on [::1]")
        assert reply.startswith(b"HTTP/1.")
        assert b" 200 " in reply.split(b"\r\n")[0]
        assert b"ttalloc_clients " in reply
    finally:
        srv.stop()
