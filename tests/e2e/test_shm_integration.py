# SPDX-License-Identifier: Apache-2.0
"""TT-Metal's SHM statistics as a source: regions written by hand (byte images
of v2 to v5, half-initialised, version 1, truncated, garbage alone and behind a
valid header, dead PIDs, a holder without an entry, Wormhole without asic id,
64 processes, several chips) and by `tt-alloc-sim run --shm`, read by tt-smi
without a server and by tt-alloc-server (through tt-smi and ttalloc-query).

Live PIDs in the images are real processes this test starts (and kills by
PID); dead PIDs are processes that have exited and been reaped."""
import json
import os
import signal
import struct
import subprocess

import pytest

from conftest import SANITIZER_ENV, Server, binary, wait_for

REGION_SIZE = 8576
REDY = 0x52454459
TYPES = ("dram", "l1", "l1_small", "trace", "cb")
PROCESS_CONNECTED = 0x1
PROCESS_SHM = 0x2
DEVICE_REMOTE = 0x2


def env():
    return dict(os.environ, **SANITIZER_ENV)


def make_root(tmp_path, devices):
    root = tmp_path / "root"
    r = subprocess.run([binary("src/sim/tt-alloc-sim"), "sysroot", str(root), "--devices",
                        devices], capture_output=True, text=True, env=env())
    assert r.returncode == 0, r.stderr
    return root


def asic_id(root, index):
    """UMD's chip_unique_id of node `index`: tt-kmd's tt_asic_id where it shows one
    (Blackhole); on Wormhole a board id that sysfs does not show as tt_asic_id (the
    simulator names it after tt_serial), so the region matches by other means."""
    d = root / "sys/class/tenstorrent" / f"tenstorrent!{index}"
    path = d / "tt_asic_id"
    if not path.exists():
        path = d / "tt_serial"
    return int(path.read_text().strip(), 16)


def region(version, asic, device_id, processes=(), chips=None, init_state=REDY):
    """A DeviceMemoryRegion image as TT-Metal lays it out (docs/tt-metal-shm.md).
    processes: (pid, name, {type: bytes}); chips: (chip_id, is_remote, {type: bytes});
    totals are the sum of the processes, chip 0 entry is the region's own chip."""
    b = bytearray(REGION_SIZE)
    totals = {t: sum(p[2].get(t, 0) for p in processes) for t in TYPES}
    struct.pack_into("<IIQI", b, 0, version, len(processes), 1_000_000, len(processes))
    struct.pack_into("<QQI", b, 24, 0, asic, device_id)
    struct.pack_into("<5Q", b, 48, *(totals[t] for t in TYPES))
    if chips is None:
        chips = [(device_id, 0, totals)]
    for i in range(16):
        struct.pack_into("<II5Q", b, 88 + 48 * i, 0xFFFFFFFF, 0, 0, 0, 0, 0, 0)
    for i, (chip, remote, by) in enumerate(chips):
        struct.pack_into("<II5Q", b, 88 + 48 * i, chip, remote, *(by.get(t, 0) for t in TYPES))
    for i, (pid, name, by) in enumerate(processes):
        off = 856 + 120 * i
        struct.pack_into("<i4x5QQ", b, off, pid, *(by.get(t, 0) for t in TYPES), 1_000_000)
        b[off + 56:off + 56 + len(name)] = name.encode()
    if version >= 4:
        struct.pack_into("<I", b, 8536, init_state)
    return bytes(b)


class Sleepers:
    """Real live processes whose PIDs the images name."""

    def __init__(self):
        self.procs = []

    def spawn(self, n=1):
        new = [subprocess.Popen(["sleep", "600"]) for _ in range(n)]
        self.procs += new
        return [p.pid for p in new]

    def kill_all(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
            p.wait(timeout=20)


@pytest.fixture
def sleepers():
    s = Sleepers()
    yield s
    s.kill_all()


def dead_pid():
    p = subprocess.Popen(["true"])
    p.wait(timeout=20)
    return p.pid


def smi_json(root, socket_path):
    r = subprocess.run([binary("src/smi/tt-smi"), "--sysroot", str(root), "--socket",
                        str(socket_path), "--json"], capture_output=True, text=True,
                       env=env(), timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def smi_table(root, socket_path):
    r = subprocess.run([binary("src/smi/tt-smi"), "--sysroot", str(root), "--socket",
                        str(socket_path)], capture_output=True, text=True, env=env(),
                       timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def query(srv):
    r = subprocess.run([binary("tests/tools/ttalloc-query"), "--socket", srv.socket, "snapshot"],
                       capture_output=True, text=True, env=srv.client_env(), timeout=30)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def memory_view(doc):
    """What tt-smi says about memory: per device used bytes, per process entries."""
    devices = {d["index"]: {t: d["memory"][t]["used_bytes"] for t in TYPES}
               for d in doc["devices"]}
    procs = {p["pid"]: sorted((m["device"], tuple(m[f"{t}_bytes"] for t in TYPES))
                              for m in p["memory"])
             for p in doc["processes"] if p["memory"]}
    return devices, procs


def shm_peaks_are_null(doc):
    """SHM statistics carry no peak: every *_peak_bytes of an SHM-only process is
    null, never a made-up figure. Returns how many memory entries were checked."""
    n = 0
    for p in doc["processes"]:
        for m in p["memory"]:
            assert all(m[f"{t}_peak_bytes"] is None for t in TYPES), p
            n += 1
    return n


def expected_view(per_device):
    """per_device: {ordinal: [(pid, {type: bytes}), ...]} -> memory_view's shape."""
    devices = {dev: {t: sum(b.get(t, 0) for _, b in procs) for t in TYPES}
               for dev, procs in per_device.items()}
    procs = {}
    for dev, plist in per_device.items():
        for pid, b in plist:
            procs.setdefault(pid, []).append((dev, tuple(b.get(t, 0) for t in TYPES)))
    return devices, {pid: sorted(v) for pid, v in procs.items()}


def null_row(device):
    return (device, (None,) * len(TYPES))


def test_hand_built_regions_with_and_without_server(tmp_path, sleepers):
    root = make_root(tmp_path, "n150,p150a")
    shm = root / "dev/shm"
    shm.mkdir(parents=True)
    a, b, c, d = sleepers.spawn(4)
    dead = dead_pid()
    pa = {"dram": 1048576, "l1": 4096, "trace": 12345}
    pb = {"dram": 3 << 30, "cb": 777, "l1_small": 64}
    pc = {"dram": 5, "l1": 7}
    # Device 0 is a Wormhole: no tt_asic_id in sysfs, so its v4 region is matched
    # by the node its processes hold (the pids file). A dead PID's slot must not count.
    (root / "proc/driver/tenstorrent/0/pids").write_text(f"{a}\n{b}\n{b}\n")
    (shm / f"tt_device_{asic_id(root, 0)}_memory").write_bytes(region(
        4, asic_id(root, 0), 0,
        [(a, "model_a", pa), (dead, "crashed", {"dram": 999 << 20}), (b, "model_b", pb)]))
    # Device 1, a Blackhole: a v2 region matched by its asic id. Process d holds
    # device 1 but has no entry (TT_METAL_SHM_TRACKING_DISABLED): unknown, not 0.
    (root / "proc/driver/tenstorrent/1/pids").write_text(f"{c}\n{d}\n")
    (shm / f"tt_device_{asic_id(root, 1)}_memory").write_bytes(region(
        2, asic_id(root, 1), 1, [(c, "small", pc)]))
    # Refused: version 1, truncated, garbage, half-initialised v4.
    (shm / "tt_device_11_memory").write_bytes(region(1, 11, 0))
    (shm / "tt_device_12_memory").write_bytes(region(4, 12, 0)[:4000])
    (shm / "tt_device_13_memory").write_bytes(os.urandom(100))
    (shm / "tt_device_14_memory").write_bytes(region(4, 14, 0, init_state=0))
    # A v5 header with random bytes behind it: read, found implausible, no phantom.
    junk = bytearray(region(5, 15, 0))
    junk[48:8536] = os.urandom(8536 - 48)
    (shm / "tt_device_15_memory").write_bytes(bytes(junk))
    devices, procs = expected_view({0: [(a, pa), (b, pb)], 1: [(c, pc)]})
    procs[d] = [null_row(1)]
    expected = (devices, procs)

    def check(doc):
        assert memory_view(doc) == expected
        assert {x["index"]: x["shm_match"] for x in doc["devices"]} == {0: "holders",
                                                                          1: "asic_id"}
        assert dead not in {p["pid"] for p in doc["processes"]}
        assert doc["stale"] == [{"pid": dead, "name": "crashed", "device": 0}]

    nosock = tmp_path / "no-server.sock"
    doc = smi_json(root, nosock)
    assert doc["tracking"]["server"] is False
    assert doc["tracking"]["sources"][0] == "shm"
    check(doc)
    assert shm_peaks_are_null(doc) == 4
    assert all(d["memory"][t]["peak_bytes"] is None for d in doc["devices"] for t in TYPES)
    assert "Memory: unknown" not in smi_table(root, nosock)
    q = subprocess.run([binary("src/smi/tt-smi"), "--sysroot", str(root), "--socket",
                        str(nosock), "-q"], capture_output=True, text=True, env=env(),
                       timeout=60).stdout
    stale_part = q.split("Stale SHM Entries")[1]
    assert str(dead) in stale_part and "stale (no longer runs)" in stale_part
    assert "SHM Match" in q and "holders" in q

    srv = Server(tmp_path, ["--sysroot", str(root)]).start()
    try:
        doc = smi_json(root, srv.socket)
        assert doc["tracking"]["server"] is True
        assert doc["tracking"]["sources"][:2] == ["server", "shm"]
        check(doc)
        assert shm_peaks_are_null(doc) == 4
        snap = query(srv)
        procs = {p["pid"]: p for p in snap["processes"]}
        assert set(procs) == {a, b, c}
        assert all(p["flags"] == PROCESS_SHM for p in procs.values())
        assert procs[a]["name"] == "model_a"   # the region's name
        assert procs[a]["bytes"] == sum(pa.values())

        # A counter update raises no inotify event: the timer tick must see it.
        pa2 = dict(pa, dram=2 * pa["dram"])
        (shm / f"tt_device_{asic_id(root, 0)}_memory").write_bytes(region(
            4, asic_id(root, 0), 0, [(a, "model_a", pa2), (b, "model_b", pb)]))
        wait_for(lambda: {d["device"]: d for d in query(srv)["devices"]}[0]["used"]["dram"]
                 == pa2["dram"] + pb["dram"], what="the rewritten region in the snapshot")
        # Several ticks later still one line per refused or implausible file.
        wait_for(lambda: srv.log().count("TT-Metal SHM") >= 5, what="the refusals logged")
        log = srv.log()
        for name in ("tt_device_11_memory", "tt_device_12_memory", "tt_device_13_memory"):
            lines = [l for l in log.splitlines() if "ignoring a TT-Metal SHM file" in l
                     and name in l]
            assert len(lines) == 1, log
        assert "version 1 has another layout" in log
        lines = [l for l in log.splitlines() if "tt_device_14_memory" in l]
        assert len(lines) == 1 and "not ready yet" in lines[0], log
        lines = [l for l in log.splitlines() if "tt_device_15_memory" in l]
        assert len(lines) == 1 and "figures unknown" in lines[0], log
    finally:
        srv.stop()


def test_64_processes_and_a_remote_chip(tmp_path, sleepers):
    root = make_root(tmp_path, "n150,n300")
    shm = root / "dev/shm"
    shm.mkdir(parents=True)
    pids = sleepers.spawn(64)
    many = [(pid, f"worker{i}", {"dram": 1000 + i, "l1": 10 * i}) for i, pid in enumerate(pids)]
    (shm / f"tt_device_{asic_id(root, 0)}_memory").write_bytes(region(4, asic_id(root, 0), 0,
                                                                      many))
    # n300: the gateway chip (device 1, the node) and its remote chip 7; the
    # process's bytes cover both, chip 7's entry says how much is on chip 7.
    own, remote = {"dram": 4096, "trace": 100}, {"dram": 8192, "cb": 50}
    both = {t: own.get(t, 0) + remote.get(t, 0) for t in TYPES}
    [g] = sleepers.spawn(1)
    (shm / f"tt_device_{asic_id(root, 1)}_memory").write_bytes(region(
        4, asic_id(root, 1), 1, [(g, "gateway_app", both)],
        chips=[(1, 0, own), (7, 1, remote)]))

    per_device = {0: [(pid, b) for pid, _, b in many], 1: [(g, both)]}
    exp_devices, exp_procs = expected_view(per_device)
    exp_devices[1] = {t: own.get(t, 0) for t in TYPES}   # chip 7's bytes are not on the node

    doc = smi_json(root, tmp_path / "none.sock")
    devices, procs = memory_view(doc)
    assert devices == exp_devices and procs == exp_procs
    assert len(procs) == 65

    srv = Server(tmp_path, ["--sysroot", str(root)]).start()
    try:
        assert memory_view(smi_json(root, srv.socket)) == (exp_devices, exp_procs)
        snap = query(srv)
        devs = {d["device"]: d for d in snap["devices"]}
        assert devs[0]["processes"] == 64
        assert devs[7]["flags"] & DEVICE_REMOTE
        assert {t: devs[7]["used"][t] for t in TYPES} == {t: remote.get(t, 0) for t in TYPES}
        assert {t: devs[1]["used"][t] for t in TYPES} == exp_devices[1]
        usage = {(u["pid"], u["device"]) for u in snap["usage"]}
        assert (g, 1) in usage and len(usage) == 65
    finally:
        srv.stop()


def sim_run(root, srv, *args):
    return subprocess.Popen(
        [binary("src/sim/tt-alloc-sim"), "run", "--sysroot", str(root), "--socket", srv.socket,
         "--profile", "llm", "--rate", "500", "--seed", "7", "--quiet", "--shm", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())


def shm_dump(root):
    r = subprocess.run([binary("src/shm/tt-alloc-shm"), "dump", "--json", "--sysroot", str(root)],
                       capture_output=True, text=True, env=env(), timeout=30)
    return json.loads(r.stdout)["regions"]


def test_libttalloc_and_shm_counted_once(tmp_path):
    root = make_root(tmp_path, "n150")
    srv = Server(tmp_path, ["--sysroot", str(root)]).start()
    sim = sim_run(root, srv, "--device", "0", "--duration", "60")
    try:
        # It writes its region (the pid is in it) and reports through libttalloc.
        wait_for(lambda: any(p["pid"] == sim.pid for r in shm_dump(root) if r["status"] == 0
                             for p in r["processes"]), what="the simulator's SHM slot")
        [r] = shm_dump(root)
        assert r["chip_unique_id"] == asic_id(root, 0)
        snap = wait_for(lambda: (lambda s: s if [d for d in s["devices"]
                                                 if d["device"] == 0 and d["used"]["dram"] > 0]
                                 else None)(query(srv)), what="memory in use on device 0")
        mine = [p for p in snap["processes"] if p["pid"] == sim.pid]
        assert len(mine) == 1
        assert mine[0]["flags"] == PROCESS_CONNECTED     # libttalloc's figures, not SHM's
        [d0] = [d for d in snap["devices"] if d["device"] == 0]
        usage = [u for u in snap["usage"] if u["device"] == 0]
        assert [u["pid"] for u in usage] == [sim.pid]
        assert d0["used"] == usage[0]["bytes"]           # not twice
        assert d0["processes"] == 1
    finally:
        sim.send_signal(signal.SIGTERM)
        out, err = sim.communicate(timeout=30)
        srv.stop()
    assert sim.returncode == 0, err
    # The clean end detached: the slot is gone.
    [r] = shm_dump(root)
    assert r["processes"] == [] and r["stale"] == 0


def test_sigkilled_shm_writer_is_not_a_user(tmp_path):
    root = make_root(tmp_path, "n150")
    # No dev/shm yet: the server must pick it up once the writer creates it.
    srv = Server(tmp_path, ["--sysroot", str(root)]).start()
    sim = sim_run(root, srv, "--device", "0", "--no-ttalloc", "--crash-after", "60")
    try:
        snap = wait_for(lambda: (lambda s: s if any(p["pid"] == sim.pid for p in s["processes"])
                                 else None)(query(srv)), what="the SHM-only simulator")
        [p] = [p for p in snap["processes"] if p["pid"] == sim.pid]
        assert p["flags"] == PROCESS_SHM and p["name"] == "tt-alloc-sim"
        sim.send_signal(signal.SIGKILL)
        sim.wait(timeout=20)
        sim.stdout.close()
        sim.stderr.close()
        [r] = shm_dump(root)
        assert r["stale"] == 1                   # the slot stays, as TT-Metal leaves it
        wait_for(lambda: all(p["pid"] != sim.pid for p in query(srv)["processes"]),
                 what="the killed writer gone from the snapshot")
        [d0] = [d for d in query(srv)["devices"] if d["device"] == 0]
        assert sum(d0["used"].values()) == 0 and d0["processes"] == 0
        doc = smi_json(root, tmp_path / "none.sock")
        assert all(p["pid"] != sim.pid for p in doc["processes"])
        assert sum(doc["devices"][0]["memory"][t]["used_bytes"] for t in TYPES) == 0
    finally:
        if sim.poll() is None:
            sim.kill()
            sim.wait(timeout=20)
        srv.stop()
