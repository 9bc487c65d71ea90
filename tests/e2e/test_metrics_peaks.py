# SPDX-License-Identifier: Apache-2.0
"""/metrics shows exact peaks: ttalloc_process_memory_peak_bytes per process,
device and type (since the process started or its last RESET_PEAK), beside
ttalloc_device_memory_peak_bytes (since the server started); the page stays
valid for `promtool check metrics`."""
import os
import shutil
import subprocess
import time

import pytest

from conftest import wait_for
import wire
from metrics_util import free_port, get, metrics_server, parse, value

MIB = 1 << 20
PID = os.getpid()
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


@pytest.fixture
def msrv(tmp_path):
    port = free_port()
    srv = metrics_server(tmp_path, port)
    yield srv, port
    assert srv.proc.poll() is None, f"server died:\n{srv.log()}"
    srv.stop()


def page(port):
    status, _, body = get(port)
    assert status == 200
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=body.encode(),
                       capture_output=True, timeout=60)
    assert r.returncode == 0, f"promtool says:\n{(r.stdout + r.stderr).decode()}\n{body}"
    return parse(body)


def process_peak(samples, pid, device, mtype):
    return value(samples, "ttalloc_process_memory_peak_bytes", pid=pid, device=device,
                 type=mtype)


def test_process_and_device_peaks(msrv):
    srv, port = msrv
    c = wire.Client(srv.socket, wire.PRODUCER)
    other = wire.ChildProducer(srv.socket, "other")
    try:
        t = time.monotonic_ns()
        # 1 MiB held, a 3 MiB buffer come and gone, then 1 MiB more: peak 4 MiB.
        c.send_events([wire.event(wire.OP_ALLOC, 0, wire.DRAM, 0x1, MIB, t + 1),
                       wire.event(wire.OP_ALLOC, 0, wire.DRAM, 0x2, 3 * MIB, t + 2),
                       wire.event(wire.OP_FREE, 0, wire.DRAM, 0x2, 0, t + 3),
                       wire.event(wire.OP_ALLOC, 0, wire.DRAM, 0x3, MIB, t + 4),
                       wire.event(wire.OP_ALLOC, 1, wire.L1, 0x3, 4096, t + 5)])
        c.flush()
        # Another process after it: the device peak is the 4 MiB this one reached.
        assert other.allocs([(0, wire.DRAM, 0x1, 2 * MIB)]) == "ok"
        samples = page(port)
        assert process_peak(samples, PID, 0, "dram") == 4 * MIB
        assert process_peak(samples, PID, 0, "l1") == 0
        assert process_peak(samples, PID, 1, "l1") == 4096
        assert process_peak(samples, other.pid, 0, "dram") == 2 * MIB
        assert value(samples, "ttalloc_process_memory_used_bytes", pid=PID, device=0,
                     type="dram") == 2 * MIB
        assert value(samples, "ttalloc_device_memory_peak_bytes", device=0,
                     type="dram") == 4 * MIB

        # RESET_PEAK: this process's peaks become what it holds; nothing else moves.
        c.send_events([wire.reset_peak(t + 6)])
        c.flush(2)
        samples = page(port)
        assert process_peak(samples, PID, 0, "dram") == 2 * MIB
        assert process_peak(samples, PID, 1, "l1") == 4096
        assert process_peak(samples, other.pid, 0, "dram") == 2 * MIB
        assert value(samples, "ttalloc_device_memory_peak_bytes", device=0,
                     type="dram") == 4 * MIB

        # The process ends: its series go, the device peak stays.
        c.close()
        other.kill()
        wait_for(lambda: process_peak(page(port), other.pid, 0, "dram") is None,
                 what="the ended process's peak series to go")
        assert value(page(port), "ttalloc_device_memory_peak_bytes", device=0,
                     type="dram") == 4 * MIB
    finally:
        c.close()
        other.kill()
