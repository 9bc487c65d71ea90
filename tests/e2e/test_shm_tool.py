# SPDX-License-Identifier: Apache-2.0
"""tt-alloc-shm end to end: real writer processes that attach like TT-Metal,
are killed with SIGKILL or detach cleanly, and the reader's view of them
(text and JSON), refused files, and the region-to-device mapping over a
hand-built sysroot."""
import json
import os
import signal
import struct
import subprocess

import pytest

from conftest import SANITIZER_ENV, binary, wait_for

TOOL = "src/shm/tt-alloc-shm"
REGION_SIZE = 8576


def env():
    return dict(os.environ, **SANITIZER_ENV)


class Writer:
    """A `tt-alloc-shm write` process driven line by line over its stdin."""

    def __init__(self, shm_dir, chip_id, device=0, *extra):
        self.proc = subprocess.Popen(
            [binary(TOOL), "write", "--dir", str(shm_dir), "--chip-id", str(chip_id),
             "--device", str(device), *extra],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env=env())
        line = self.proc.stdout.readline()
        assert line.startswith("ready "), (line, self.proc.stderr.read())
        self.pid = int(line.split()[1])
        assert self.pid == self.proc.pid

    def cmd(self, text):
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def detach(self):
        self.proc.stdin.close()
        assert self.proc.wait(timeout=20) == 0, self.proc.stderr.read()
        self.proc.stdout.close()
        self.proc.stderr.close()

    def kill9(self):
        self.proc.kill()
        self.proc.wait(timeout=20)
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            f.close()


def dump(*paths, expect_rc=0):
    out = subprocess.run([binary(TOOL), "dump", "--json", *map(str, paths)],
                         capture_output=True, text=True, env=env(), timeout=30)
    assert out.returncode == expect_rc, out.stderr
    return json.loads(out.stdout)["regions"]


def test_writers_seen_exactly_then_killed_then_reaped(tmp_path):
    a = Writer(tmp_path, 4242, 0, "--alloc", "dram:1048576", "--alloc", "l1:4096")
    b = Writer(tmp_path, 4242, 0)
    try:
        assert b.cmd("alloc trace 777") == "ok"
        assert b.cmd("chip 9 remote") == "ok"
        assert b.cmd("alloc cb 100 9") == "ok"
        assert b.cmd("free trace 7") == "ok"
        assert b.cmd("alloc bogus 1") == "error Invalid argument"
        [r] = dump(tmp_path)
        assert r["status"] == 0 and r["version"] == 4 and r["chip_unique_id"] == 4242
        assert r["totals"] == {"dram": 1048576, "l1": 4096, "l1_small": 0, "trace": 770,
                               "cb": 100}
        procs = {p["pid"]: p for p in r["processes"]}
        assert set(procs) == {a.pid, b.pid}
        assert procs[a.pid]["bytes"]["dram"] == 1048576
        assert procs[b.pid]["bytes"] == {"dram": 0, "l1": 0, "l1_small": 0, "trace": 770,
                                         "cb": 100}
        assert procs[a.pid]["name"] == "tt-alloc-shm"
        chips = {c["chip_id"]: c for c in r["chips"]}
        assert chips[9]["is_remote"] and chips[9]["bytes"]["cb"] == 100
        assert chips[0]["bytes"]["dram"] == 1048576

        a.kill9()
        [r] = dump(tmp_path)
        assert [p["pid"] for p in r["processes"]] == [b.pid]
        assert r["stale"] == 1
        assert r["stale_bytes"]["dram"] == 1048576
        assert r["totals"]["dram"] == 1048576   # TT-Metal leaves it until a reap
    finally:
        if a.proc.poll() is None:
            a.kill9()
    b.detach()   # a clean detach reaps the dead slot and zeroes the idle region
    [r] = dump(tmp_path)
    assert r["processes"] == [] and r["stale"] == 0
    assert sum(r["totals"].values()) == 0


def test_sigterm_detaches_cleanly(tmp_path):
    w = Writer(tmp_path, 1, 0, "--alloc", "l1_small:64")
    [r] = dump(tmp_path)
    assert r["totals"]["l1_small"] == 64
    w.proc.send_signal(signal.SIGTERM)
    assert w.proc.wait(timeout=20) == 0
    for f in (w.proc.stdin, w.proc.stdout, w.proc.stderr):
        f.close()
    [r] = dump(tmp_path)
    assert r["processes"] == [] and r["stale"] == 0 and r["reference_count"] == 0


def test_v3_region(tmp_path):
    w = Writer(tmp_path, 33, 2, "--version", "3", "--alloc", "dram:5")
    try:
        [r] = dump(tmp_path)
        assert r["version"] == 3 and r["device_id"] == 2 and r["totals"]["dram"] == 5
    finally:
        w.detach()


def test_refused_files_one_message_each(tmp_path):
    good = Writer(tmp_path, 10, 0, "--alloc", "dram:1")
    try:
        future = bytearray(REGION_SIZE)
        struct.pack_into("<I", future, 0, 1)   # v1: another layout
        (tmp_path / "tt_device_11_memory").write_bytes(bytes(future))
        (tmp_path / "tt_device_12_memory").write_bytes(b"")
        (tmp_path / "tt_device_13_memory").write_bytes(os.urandom(100))
        half = bytearray(REGION_SIZE)
        struct.pack_into("<I", half, 0, 4)   # v4, init_state still 0
        (tmp_path / "tt_device_14_memory").write_bytes(bytes(half))
        (tmp_path / "unrelated_file").write_bytes(b"x")
        regions = dump(tmp_path, expect_rc=1)
        by_name = {os.path.basename(r["path"]): r for r in regions}
        assert set(by_name) == {f"tt_device_{i}_memory" for i in (10, 11, 12, 13, 14)}
        assert by_name["tt_device_10_memory"]["status"] == 0
        assert "version 1 has another layout" in by_name["tt_device_11_memory"]["error"]
        assert "empty" in by_name["tt_device_12_memory"]["error"]
        assert "truncated" in by_name["tt_device_13_memory"]["error"]
        assert "not initialised" in by_name["tt_device_14_memory"]["error"]

        text = subprocess.run([binary(TOOL), "dump", str(tmp_path)], capture_output=True,
                              text=True, env=env(), timeout=30)
        assert text.returncode == 1
        assert text.stdout.count(": refused (") == 4
        assert text.stdout.count("version 1") == 1
    finally:
        good.detach()


def test_map_over_sysroot(tmp_path):
    """Node 0 matched by asic_id, node 1 by device_id, a remote chip without one."""
    for idx, asic in ((0, "00000000000000AB"), (1, "")):
        d = tmp_path / "sys/class/tenstorrent" / f"tenstorrent!{idx}"
        d.mkdir(parents=True)
        (d / "tt_card_type").write_text("n300\n")
        if asic:
            (d / "tt_asic_id").write_text(asic + "\n")
    shm = tmp_path / "dev/shm"
    shm.mkdir(parents=True)
    w0 = Writer(shm, 0xAB, 5, "--alloc", "dram:100")          # device_id 5, asic matches node 0
    w1 = Writer(shm, 999, 1, "--alloc", "l1:200")             # device_id 1 -> node 1
    w2 = Writer(shm, 1000, 2, "--chip", "2:remote", "--alloc", "cb:300")  # remote: no node
    try:
        out = subprocess.run([binary(TOOL), "map", "--json", "--sysroot", str(tmp_path)],
                             capture_output=True, text=True, env=env(), timeout=30)
        assert out.returncode == 0, out.stderr
        rows = json.loads(out.stdout)["rows"]
        assert [(r["node"], r["match"], r["device"]) for r in rows] == [
            (0, "asic_id", 0), (1, "device_id", 1), (-1, None, 2)]
        assert rows[0]["bytes"]["dram"] == 100 and rows[0]["processes"] == 1
        assert rows[1]["bytes"]["l1"] == 200
        assert rows[2]["remote"] and rows[2]["bytes"]["cb"] == 300
    finally:
        for w in (w0, w1, w2):
            w.detach()


def test_bad_usage(tmp_path):
    for args in (["write", "--dir", str(tmp_path)], ["write", "--dir", str(tmp_path),
                 "--chip-id", "1", "--version", "5"], ["nope"], []):
        out = subprocess.run([binary(TOOL), *args], capture_output=True, text=True,
                             env=env(), timeout=30)
        assert out.returncode == 2, args
    assert not list(tmp_path.iterdir())
