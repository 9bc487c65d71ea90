# SPDX-License-Identifier: Apache-2.0
"""examples/: the C program, the C++ RAII wrapper and the Python script, each
run against a real server; what they hold shows up in queries, exactly."""
import json
import subprocess
import sys

import pytest

from conftest import ROOT, binary
from ttalloc_pyenv import pyenv, query, run_python

MiB = 1 << 20
KiB = 1 << 10


class Example:
    """An example program that prints "ready <pid>", then waits for a line."""

    def __init__(self, argv, env):
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env)
        self.pid = self.proc.pid
        self.expect(f"ready {self.pid}")

    def expect(self, want):
        line = self.proc.stdout.readline().strip()
        if line != want:
            self.proc.kill()
            out, err = self.proc.communicate()
            pytest.fail(f"expected {want!r}, got {line!r}:\n{out}\n{err}")

    def go_on(self):
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()

    def finish(self):
        out, err = self.proc.communicate(timeout=60)
        assert self.proc.returncode == 0, f"rc={self.proc.returncode}:\n{out}\n{err}"
        assert err == "", err   # no flush failure, no sanitizer report
        return out


def buffers_of(server, pid):
    return [(b["device"], b["type"], b["address"], b["size"])
            for b in query(server, "buffers", pid)]


def test_c_example(server):
    ex = Example([binary("examples/record_c")], server.client_env())
    assert buffers_of(server, ex.pid) == [
        (0, "dram", 0x10000000, MiB),      # largest first; 0x10100000 was freed
        (0, "dram", 0x10200000, MiB),
        (0, "l1", 0x20000, 64 * KiB),
        (0, "l1", 0x30000, 64 * KiB)]
    snap = query(server, "snapshot")
    dev0 = [d for d in snap["devices"] if d["index"] == 0][0]
    assert dev0["board_type"] == "n150" and dev0["arch"] == "wormhole"
    # three 1 MiB buffers were live at once before one was freed
    assert dev0["memory"]["dram"] == {"used_bytes": 2 * MiB, "total_bytes": 12 << 30,
                                      "peak_bytes": 3 * MiB}
    mine = [p for p in snap["processes"] if p["pid"] == ex.pid][0]
    assert mine["name"] == "record_c"
    assert mine["memory"] == [{"device": 0, "dram_bytes": 2 * MiB, "l1_bytes": 128 * KiB,
                               "l1_small_bytes": 0, "trace_bytes": 0, "cb_bytes": 0,
                               "dram_peak_bytes": 3 * MiB, "l1_peak_bytes": 128 * KiB,
                               "l1_small_peak_bytes": 0, "trace_peak_bytes": 0,
                               "cb_peak_bytes": 0}]
    ex.go_on()
    ex.expect("freed")
    assert ex.finish() == ""
    assert buffers_of(server, ex.pid) == []
    assert [e for e in query(server, "exits") if e["pid"] == ex.pid] == []


def test_cpp_raii_example(server):
    ex = Example([binary("examples/raii_cpp")], server.client_env())
    # two live handles; the scratch buffer died with its scope, the move recorded nothing
    assert buffers_of(server, ex.pid) == [(0, "dram", 0x40001000, 8192),
                                          (0, "dram", 0x40000000, 4096)]
    ex.go_on()
    ex.expect("freed")
    assert buffers_of(server, ex.pid) == []   # still running: the destructors did it
    ex.go_on()
    assert ex.finish() == ""
    assert [e for e in query(server, "exits") if e["pid"] == ex.pid] == []


def test_python_example(server):
    r = run_python([str(ROOT / "examples" / "python_tensors.py")], pyenv(server.client_env()))
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == ("LeakError: 1 device buffer (8192 bytes, 8.0 KiB) allocated during "
                        "the leaky block is still live:")
    assert lines[1].split() == ["device", "0", "l1", "8192", "bytes", "(8.0", "KiB)", "at",
                                "0x120000"]
    me = json.loads(lines[2])
    assert me["name"] == "python3" or me["name"] == sys.executable.rsplit("/", 1)[-1][:15]
    # the clean block held two 64 KiB L1 tensors at once: the L1 peak
    assert me["memory"] == [{"device": 0, "dram_bytes": 4 * 2 * MiB, "l1_bytes": 8192,
                             "l1_small_bytes": 0, "trace_bytes": 0, "cb_bytes": 0,
                             "dram_peak_bytes": 4 * 2 * MiB, "l1_peak_bytes": 128 * KiB,
                             "l1_small_peak_bytes": 0, "trace_peak_bytes": 0,
                             "cb_peak_bytes": 0}]
    assert len(lines) == 3
