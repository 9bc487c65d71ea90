# SPDX-License-Identifier: Apache-2.0
"""tt-alloc-server with a simulated tt-kmd tree: every sysfs device is in the
snapshot (board type, serial, asic id, board capacities), an app's
description overrides the capacities per type, and devices added later are
picked up by the periodic rescan."""
import json
import os
import subprocess

import pytest

from conftest import SANITIZER_ENV, Server, binary, wait_for

GIB = 1 << 30
DEVICE_SYSFS = 0x4
DEVICE_DESCRIBED = 0x1
# The board capacity table (docs/tt-alloc-server.md), per chip.
N150 = {"dram": 12 * GIB, "l1": 72 * 1499136}
P150A = {"dram": 8 * 4278190080, "l1": 140 * 1572864}


def make_root(tmp_path, devices, name="root"):
    root = tmp_path / name
    r = subprocess.run([binary("src/sim/tt-alloc-sim"), "sysroot", str(root), "--devices",
                        devices], capture_output=True, text=True,
                       env=dict(os.environ, **SANITIZER_ENV))
    assert r.returncode == 0, r.stderr
    return root


def attr(root, index, name):
    return (root / "sys/class/tenstorrent" / f"tenstorrent!{index}" / name).read_text().strip()


def query(srv):
    r = subprocess.run([binary("tests/tools/ttalloc-query"), "--socket", srv.socket, "snapshot"],
                       capture_output=True, text=True, env=srv.client_env(), timeout=30)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.fixture
def sysfs_server(tmp_path):
    root = make_root(tmp_path, "n150,3:p150a")
    srv = Server(tmp_path, ["--sysroot", str(root)]).start()
    yield srv, root
    srv.stop()


def test_sysfs_devices_in_snapshot(sysfs_server):
    srv, root = sysfs_server
    snap = query(srv)
    devs = {d["device"]: d for d in snap["devices"]}
    assert sorted(devs) == [0, 3]      # sparse ordinals kept, nothing invented
    for index, board, cap in ((0, "n150", N150), (3, "p150a", P150A)):
        d = devs[index]
        assert d["flags"] & DEVICE_SYSFS
        assert not d["flags"] & DEVICE_DESCRIBED
        assert d["board_type"] == board == attr(root, index, "tt_card_type")
        assert d["board_serial"] == int(attr(root, index, "tt_serial"), 16)
        if board == "n150":   # tt-kmd shows no tt_asic_id on Wormhole
            assert d["asic_id"] == 0
        else:
            assert d["asic_id"] == int(attr(root, index, "tt_asic_id"), 16)
        assert d["total"]["dram"] == cap["dram"]
        assert d["total"]["l1"] == cap["l1"]
        assert d["total"]["trace"] == 0 and d["total"]["cb"] == 0   # unknown, not guessed
        assert sum(d["used"].values()) == 0 and d["processes"] == 0
    assert snap["processes"] == [] and snap["usage"] == []


def test_description_overrides_per_type(sysfs_server):
    srv, root = sysfs_server
    c = subprocess.Popen([binary("tests/tools/ttalloc-testclient")], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True, env=srv.client_env())

    def cmd(line):
        c.stdin.write(line + "\n")
        c.stdin.flush()
        return c.stdout.readline().strip()

    try:
        # Only a process that has /dev/tenstorrent/0 open may describe it
        # (tt-kmd's pids file says who does).
        pid = int(cmd("print-pid").split()[1])
        (root / "proc/driver/tenstorrent/0/pids").write_text(f"{pid}\n")
        # DRAM and TRACE given, L1 not: L1 stays the board's figure.
        assert cmd("describe 0 board=n150 dram=1000000 trace=4096") == "ok"
        assert cmd("alloc 0 dram 0x1000 777") == "ok"
        assert cmd("flush") == "flush 0"
        d = {d["device"]: d for d in query(srv)["devices"]}[0]
        assert d["flags"] & DEVICE_SYSFS and d["flags"] & DEVICE_DESCRIBED
        assert d["total"]["dram"] == 1000000
        assert d["total"]["trace"] == 4096
        assert d["total"]["l1"] == N150["l1"]
        assert d["used"]["dram"] == 777
        assert d["board_serial"] == int(attr(root, 0, "tt_serial"), 16)
        # A device only the app knows (a remote chip, say), described with its
        # board: the board table fills what the description left out.
        assert cmd("describe 9 board=n150 remote=1 dram=2000000") == "ok"
        assert cmd("alloc 9 l1 0x1000 64") == "ok"
        assert cmd("flush") == "flush 0"
        d9 = {d["device"]: d for d in query(srv)["devices"]}[9]
        assert not d9["flags"] & DEVICE_SYSFS and d9["flags"] & DEVICE_DESCRIBED
        assert d9["total"]["dram"] == 2000000
        assert d9["total"]["l1"] == N150["l1"]
        assert d9["total"]["cb"] == 0
    finally:
        c.stdin.close()
        c.wait(timeout=20)


def test_device_added_later_is_picked_up(tmp_path):
    root = make_root(tmp_path, "n150")
    srv = Server(tmp_path, ["--sysroot", str(root)]).start()
    try:
        assert [d["device"] for d in query(srv)["devices"]] == [0]
        # The same tree rebuilt with a second card (as a hot-plug would add it).
        make_root(tmp_path, "n150,p150a")
        devs = wait_for(lambda: [d for d in query(srv)["devices"] if d["device"] == 1],
                        what="device 1 in the snapshot")
        assert devs[0]["board_type"] == "p150a"
        assert devs[0]["total"]["dram"] == P150A["dram"]
    finally:
        srv.stop()
