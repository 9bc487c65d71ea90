# SPDX-License-Identifier: Apache-2.0
"""tt-smi shows peaks: devices[].memory.<type>.peak_bytes (since the server
started) and processes[].memory[].<type>_peak_bytes (since the process started
or its last RESET_PEAK), `null` without a server; `-q` prints them."""
import json
import os
import re
import time

import wire
from test_smi_server import make_root, smi

MIB = 1 << 20
PID = os.getpid()
TYPES = ("dram", "l1", "l1_small", "trace", "cb")


def mine(doc):
    return {p["pid"]: p for p in doc["processes"]}[PID]


def test_json_and_q_show_peaks(server, tmp_path):
    root = make_root(tmp_path, "n150,n150")
    c = wire.Client(server.socket, wire.PRODUCER)
    try:
        t = time.monotonic_ns()
        c.send_events([wire.event(wire.OP_ALLOC, 0, wire.DRAM, 0x1, 3 * MIB, t + 1),
                       wire.event(wire.OP_FREE, 0, wire.DRAM, 0x1, 0, t + 2),
                       wire.event(wire.OP_ALLOC, 0, wire.DRAM, 0x2, MIB, t + 3),
                       wire.event(wire.OP_ALLOC, 0, wire.L1, 0x3, 4096, t + 4),
                       wire.event(wire.OP_ALLOC, 1, wire.CB, 0x4, 777, t + 5),
                       wire.event(wire.OP_FREE, 1, wire.CB, 0x4, 0, t + 6)])
        c.flush()
        doc = json.loads(smi(server, root, "--json"))
        d0, d1 = doc["devices"]
        assert d0["memory"]["dram"] == {"used_bytes": MIB, "total_bytes": 12 << 30,
                                        "peak_bytes": 3 * MIB}
        assert d0["memory"]["l1"]["peak_bytes"] == 4096
        assert d1["memory"]["cb"] == {"used_bytes": 0, "total_bytes": None, "peak_bytes": 777}
        assert all(d1["memory"][t]["peak_bytes"] == 0 for t in TYPES if t != "cb")
        p = mine(doc)
        assert p["memory"] == [
            {"device": 0, "dram_bytes": MIB, "l1_bytes": 4096, "l1_small_bytes": 0,
             "trace_bytes": 0, "cb_bytes": 0, "dram_peak_bytes": 3 * MIB,
             "l1_peak_bytes": 4096, "l1_small_peak_bytes": 0, "trace_peak_bytes": 0,
             "cb_peak_bytes": 0},
            {"device": 1, "dram_bytes": 0, "l1_bytes": 0, "l1_small_bytes": 0,
             "trace_bytes": 0, "cb_bytes": 0, "dram_peak_bytes": 0, "l1_peak_bytes": 0,
             "l1_small_peak_bytes": 0, "trace_peak_bytes": 0, "cb_peak_bytes": 777}]

        q = smi(server, root, "-q", "-i", "0")
        # the device's peak, after its Used and Free
        assert re.search(r"DRAM\n( {12}\S.*\n)*? {12}Peak +: 3 MiB \(3145728 B\)\n", q), q
        assert re.search(r" {12}DRAM Peak +: 3 MiB \(3145728 B\)\n", q), q
        assert re.search(r" {12}L1 Peak +: 0 MiB \(4096 B\)\n", q), q

        # A reset: this process's peaks become what it holds; the device keeps its own.
        c.send_events([wire.reset_peak(t + 7)])
        c.flush(2)
        doc = json.loads(smi(server, root, "--json"))
        p = mine(doc)
        assert p["memory"][0]["dram_peak_bytes"] == MIB
        assert p["memory"][0]["l1_peak_bytes"] == 4096
        assert p["memory"][1]["cb_peak_bytes"] == 0
        assert doc["devices"][0]["memory"]["dram"]["peak_bytes"] == 3 * MIB
        assert doc["devices"][1]["memory"]["cb"]["peak_bytes"] == 777
        assert re.search(r" {12}DRAM Peak +: 1 MiB \(1048576 B\)\n",
                         smi(server, root, "-q", "-i", "0")), q
    finally:
        c.close()


def test_no_server_no_peaks(tmp_path):
    root = make_root(tmp_path, "n150")
    import subprocess
    from conftest import SANITIZER_ENV, binary
    env = dict(os.environ, **SANITIZER_ENV)
    r = subprocess.run([binary("src/smi/tt-smi"), "--sysroot", str(root), "--socket",
                        str(tmp_path / "none.sock"), "--json"], capture_output=True,
                       text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["tracking"]["server"] is False
    assert all(doc["devices"][0]["memory"][t]["peak_bytes"] is None for t in TYPES)
    r = subprocess.run([binary("src/smi/tt-smi"), "--sysroot", str(root), "--socket",
                        str(tmp_path / "none.sock"), "-q"], capture_output=True,
                       text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert re.search(r" {12}Peak +: N/A\n", r.stdout), r.stdout
