# SPDX-License-Identifier: Apache-2.0
"""Unmodified TT-Metal apps (tt-alloc-sim run --shm --no-ttalloc) on Wormhole
nodes (no tt_asic_id) under TT_VISIBLE_DEVICES, so every region's device_id is
a logical id that is not the node's ordinal: tt-smi --json, with and without a
server, must put every byte on the node the region's file stands for. Also a
process that holds a node with no SHM entry and no server figures (memory row
of nulls) and a SIGKILLed one (its PID listed as stale, not as a user).

Real processes: each simulated app is started here and ended by its PID."""
import json
import os
import signal
import subprocess

import pytest

from conftest import SANITIZER_ENV, Server, binary, wait_for

TYPES = ("dram", "l1", "l1_small", "trace", "cb")


def env(**extra):
    return dict(os.environ, **SANITIZER_ENV, **extra)


def node_serial(root, index):
    path = root / "sys/class/tenstorrent" / f"tenstorrent!{index}" / "tt_serial"
    return int(path.read_text().strip(), 16)


def dump(root):
    """The regions as tt-alloc-shm reads them (a file being created may be refused
    for an instant: its status says so)."""
    if not (root / "dev/shm").is_dir():
        return {}
    out = subprocess.run([binary("src/shm/tt-alloc-shm"), "dump", "--json",
                          str(root / "dev/shm")], capture_output=True, text=True, env=env(),
                         timeout=30)
    assert out.returncode in (0, 1), out.stderr
    return {os.path.basename(r["path"]): r for r in json.loads(out.stdout)["regions"]}


def smi_json(root, socket_path):
    r = subprocess.run([binary("src/smi/tt-smi"), "--sysroot", str(root), "--socket",
                        str(socket_path), "--json"], capture_output=True, text=True,
                       env=env(), timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


class Apps:
    def __init__(self, root):
        self.root = root
        self.procs = []

    def start(self, *args, extra_env=None):
        p = subprocess.Popen([binary("src/sim/tt-alloc-sim"), "run", "--sysroot",
                              str(self.root), "--quiet", *args],
                             env=env(**(extra_env or {})), stdout=subprocess.DEVNULL)
        self.procs.append(p)
        return p

    def stop_all(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=30)


@pytest.fixture
def setup(tmp_path):
    root = tmp_path / "root"
    r = subprocess.run([binary("src/sim/tt-alloc-sim"), "sysroot", str(root), "--devices",
                        "n150,n150,n150,p150a"], capture_output=True, text=True, env=env())
    assert r.returncode == 0, r.stderr
    apps = Apps(root)
    yield root, apps
    apps.stop_all()


def in_region(regions, name, pid):
    r = regions.get(name)
    return r is not None and r["status"] == 0 and any(
        p["pid"] == pid and sum(p["bytes"].values()) > 0 for p in r["processes"])


def test_renumbered_apps_land_on_their_nodes(tmp_path, setup):
    root, apps = setup
    assert not (root / "sys/class/tenstorrent/tenstorrent!0/tt_asic_id").exists()
    name = {n: f"tt_device_{node_serial(root, n)}_memory" for n in range(3)}
    # One event step, then a pause far longer than the test: figures hold still.
    slow = ("--shm", "--no-ttalloc", "--profile", "cnn", "--rate", "0.01", "--seed", "7")
    a = apps.start("--visible-devices", "2", *slow)           # node 2 is its logical 0
    b = apps.start("--visible-devices", "0,1", *slow)         # nodes 0, 1 are 0, 1
    wait_for(lambda: in_region(dump(root), name[2], a.pid) and
             in_region(dump(root), name[0], b.pid) and in_region(dump(root), name[1], b.pid),
             timeout=30, what="both apps' regions")
    # It crashes (SIGKILL) on node 1, after B attached: its slot stays behind.
    d = apps.start("--visible-devices", "1", *slow, "--crash-after", "0.5")
    wait_for(lambda: d.poll() is not None, timeout=30, what="the crash")
    # It holds node 3 and reports nothing (no SHM entry, no server figures).
    c = apps.start("--device", "3", "--rate", "0.01", extra_env={"TT_ALLOC_TRACKING": "0"})
    wait_for(lambda: str(c.pid) in (root / "proc/driver/tenstorrent/3/pids").read_text(),
             timeout=30, what="the holder without an entry")

    regions = dump(root)
    assert regions[name[2]]["device_id"] == 0          # a logical id, not the ordinal
    assert regions[name[1]]["device_id"] in (0, 1)     # the last attacher's numbering
    assert any(p["pid"] == d.pid for p in regions[name[1]]["processes"]) is False
    assert regions[name[1]]["stale"] == 1

    def expected_used(n):
        r = regions[name[n]]
        return {t: r["totals"][t] - r["stale_bytes"][t] for t in TYPES}

    def slot(n, pid):
        p = next(p for p in regions[name[n]]["processes"] if p["pid"] == pid)
        return {t: p["bytes"][t] for t in TYPES}

    def check(doc):
        devs = {x["index"]: x for x in doc["devices"]}
        for n in range(3):
            assert devs[n]["shm_match"] == "holders", devs[n]
            assert {t: devs[n]["memory"][t]["used_bytes"] for t in TYPES} == expected_used(n), \
                (n, devs[n], regions[name[n]])
        procs = {p["pid"]: p for p in doc["processes"]}
        rows = {(p, m["device"]): {t: m[f"{t}_bytes"] for t in TYPES}
                for p in procs for m in procs[p]["memory"]}
        assert rows[(a.pid, 2)] == slot(2, a.pid)
        assert rows[(b.pid, 0)] == slot(0, b.pid)
        assert rows[(b.pid, 1)] == slot(1, b.pid)
        assert rows[(c.pid, 3)] == {t: None for t in TYPES}
        assert d.pid not in procs
        assert {"pid": d.pid, "name": "tt-alloc-sim", "device": 1} in doc["stale"]

    check(smi_json(root, tmp_path / "no-server.sock"))
    srv = Server(tmp_path, ["--sysroot", str(root)]).start()
    try:
        check(smi_json(root, srv.socket))
    finally:
        srv.stop()


def test_visible_devices_bad_list(setup):
    root, _ = setup
    r = subprocess.run([binary("src/sim/tt-alloc-sim"), "run", "--sysroot", str(root),
                        "--visible-devices", "9", "--steps", "1"], capture_output=True,
                       text=True, env=env(), timeout=60)
    assert r.returncode == 2
    assert "matches no device" in r.stderr
    r = subprocess.run([binary("src/sim/tt-alloc-sim"), "run", "--sysroot", str(root),
                        "--visible-devices", "0", "--device", "1", "--steps", "1"],
                       capture_output=True, text=True, env=env(), timeout=60)
    assert r.returncode == 2
    assert "leave out --device" in r.stderr
