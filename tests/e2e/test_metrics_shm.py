# SPDX-License-Identifier: Apache-2.0
"""tt-alloc-server --metrics shows what TT-Metal's SHM statistics report, as
snapshots do: processes that never link libttalloc (hand-built regions and
`tt-alloc-sim run --shm --no-ttalloc`) appear in
ttalloc_process_memory_used_bytes with their exact bytes and the region's
name, their bytes are in ttalloc_device_memory_used_bytes, and a process that
reports through both libttalloc and SHM is counted once (from libttalloc).

Live PIDs in the images are real processes this test starts (and kills by
PID); region images and the fake sysroot come from test_shm_integration."""
import os
import signal
import subprocess

import pytest

from conftest import SANITIZER_ENV, binary, wait_for
import wire
from metrics_util import free_port, get, metrics_server, parse, scrape, value
from test_shm_integration import (TYPES, Sleepers, asic_id, dead_pid, make_root, query, region,
                                  shm_dump)

MIB = 1 << 20
WIRE_TYPES = {"dram": wire.DRAM, "l1": wire.L1, "l1_small": wire.L1_SMALL,
              "trace": wire.TRACE, "cb": wire.CB}


@pytest.fixture
def sleepers():
    s = Sleepers()
    yield s
    s.kill_all()


def promtool_check(text):
    r = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                       capture_output=True, timeout=60)
    return r.returncode, (r.stdout + r.stderr).decode()


def device_used(samples, device):
    return {t: value(samples, "ttalloc_device_memory_used_bytes", device=device, type=t)
            for t in TYPES}


def process_used(samples, pid, device):
    """{type: bytes} of pid on device, or None when the page has no series for it."""
    got = {t: value(samples, "ttalloc_process_memory_used_bytes", device=device, type=t, pid=pid)
           for t in TYPES}
    return None if all(v is None for v in got.values()) else got


def process_pids(samples):
    return {l["pid"] for n, l, _ in samples if n == "ttalloc_process_memory_used_bytes"}


def full(by):
    return {t: by.get(t, 0) for t in TYPES}


def write_region(path, *args, **kwargs):
    """Replace a region file at once (as a new file: one inotify event, no torn read)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(region(*args, **kwargs))
    os.replace(tmp, path)


def test_shm_only_processes_in_metrics(tmp_path, sleepers):
    root = make_root(tmp_path, "n150,p150a")
    shm = root / "dev/shm"
    shm.mkdir(parents=True)
    a, b, c = sleepers.spawn(3)
    dead = dead_pid()
    pa = {"dram": 3 * MIB, "l1": 4096, "cb": 777}
    pb = {"dram": 1 * MIB, "trace": 12345, "l1_small": 64}
    pc = {"dram": 5, "l1": 7}
    region0 = shm / f"tt_device_{asic_id(root, 0)}_memory"
    write_region(region0, 4, asic_id(root, 0), 0,
                 [(a, "model_a", pa), (dead, "crashed", {"dram": 999 * MIB}),
                  (b, "model\"b", pb)])
    write_region(shm / f"tt_device_{asic_id(root, 1)}_memory", 3, asic_id(root, 1), 1,
                 [(c, "small", pc)])

    port = free_port()
    srv = metrics_server(tmp_path, port, "--sysroot", str(root))
    try:
        samples = wait_for(lambda: (lambda s: s if process_pids(s) == {str(a), str(b), str(c)}
                                    else None)(scrape(port)),
                           what="the SHM-only processes on the page")
        # exactly the regions' bytes, per process and per device, for every type
        assert process_used(samples, a, 0) == full(pa)
        assert process_used(samples, b, 0) == full(pb)
        assert process_used(samples, c, 1) == full(pc)
        assert process_used(samples, a, 1) is None and process_used(samples, c, 0) is None
        assert process_used(samples, dead, 0) is None          # a dead PID's slot is no user
        assert device_used(samples, 0) == {t: pa.get(t, 0) + pb.get(t, 0) for t in TYPES}
        assert device_used(samples, 1) == full(pc)
        # labelled like any process: pid and comm, the name from the region
        assert value(samples, "ttalloc_process_memory_used_bytes", device=0, type="dram",
                     pid=a, comm="model_a") == pa["dram"]
        assert value(samples, "ttalloc_process_memory_used_bytes", device=0, type="dram",
                     pid=b, comm='model"b') == pb["dram"]
        assert value(samples, "ttalloc_processes") == 3
        # SHM statistics have no peak: no series rather than a made-up one
        assert not [l for n, l, _ in samples if n == "ttalloc_process_memory_peak_bytes"]
        assert value(samples, "ttalloc_buffers") == 0
        assert value(samples, "ttalloc_events_total") == 0
        for t in TYPES:
            assert value(samples, "ttalloc_device_memory_peak_bytes", device=0,
                         type=t) >= device_used(samples, 0)[t]
        # the same figures a snapshot has
        snap = query(srv)
        for d in snap["devices"]:
            assert device_used(samples, d["device"]) == {t: d["used"][t] for t in TYPES}
        body = get(port)[2]
        rc, out = promtool_check(body)
        assert rc == 0, f"promtool says:\n{out}\n--- page ---\n{body}"

        # a counter update (no inotify event for it): the page follows the region
        pa2 = dict(pa, dram=2 * pa["dram"])
        write_region(region0, 4, asic_id(root, 0), 0, [(a, "model_a", pa2), (b, "model\"b", pb)])
        wait_for(lambda: process_used(scrape(port), a, 0) == full(pa2),
                 what="the rewritten region on the page")
        samples = scrape(port)
        assert device_used(samples, 0) == {t: pa2.get(t, 0) + pb.get(t, 0) for t in TYPES}

        # the region goes, and so do its processes
        region0.unlink()
        wait_for(lambda: process_pids(scrape(port)) == {str(c)},
                 what="the removed region's processes gone from the page")
        samples = scrape(port)
        assert device_used(samples, 0) == full({})
        assert process_used(samples, c, 1) == full(pc)
    finally:
        srv.stop()


@pytest.mark.parametrize("top", [20, 1])
def test_process_in_libttalloc_and_shm_counted_once(tmp_path, sleepers, top):
    """A producer that the ledger knows is also in a region, with other figures:
    the page counts it once, from the ledger; an SHM-only neighbour adds its
    own. With --metrics-top 1 the bigger neighbour is shown and the producer is
    summed as "other", once."""
    root = make_root(tmp_path, "n150")
    shm = root / "dev/shm"
    shm.mkdir(parents=True)
    port = free_port()
    srv = metrics_server(tmp_path, port, "--sysroot", str(root), "--metrics-top", str(top))
    producer = wire.ChildProducer(srv.socket, "both")
    try:
        mine = {"dram": 2 * MIB, "l1": 8192, "cb": 300}
        assert producer.allocs([(0, WIRE_TYPES[t], 0x1000 * (i + 1), size)
                                for i, (t, size) in enumerate(mine.items())]) == "ok"
        [s] = sleepers.spawn(1)
        in_shm = {"dram": 5 * MIB, "l1": 1, "trace": 99}     # what the producer's slot says
        other = {"dram": 7 * MIB, "l1_small": 128}
        write_region(shm / f"tt_device_{asic_id(root, 0)}_memory", 4, asic_id(root, 0), 0,
                     [(producer.pid, "python3", in_shm), (s, "shm_only", other)])

        samples = wait_for(lambda: (lambda x: x if str(s) in process_pids(x) else None)(
            scrape(port)), what="the SHM-only neighbour on the page")
        # value() fails if a (device, type, pid) has more than one series
        shown = producer.pid if top > 1 else "other"
        assert process_pids(samples) == {str(s), str(shown)}
        assert process_used(samples, shown, 0) == full(mine)
        assert process_used(samples, s, 0) == full(other)
        assert value(samples, "ttalloc_process_memory_used_bytes", device=0, type="dram",
                     pid=s, comm="shm_only") == other["dram"]
        assert device_used(samples, 0) == {t: mine.get(t, 0) + other.get(t, 0) for t in TYPES}
        assert value(samples, "ttalloc_processes") == 2
        assert value(samples, "ttalloc_buffers") == len(mine)
        assert value(samples, "ttalloc_events_total") == len(mine)
    finally:
        producer.kill()
        srv.stop()


def sim_run(root, srv, *args):
    return subprocess.Popen(
        [binary("src/sim/tt-alloc-sim"), "run", "--sysroot", str(root), "--socket", srv.socket,
         "--profile", "llm", "--rate", "500", "--seed", "7", "--quiet", "--shm", "--device", "0",
         *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, **SANITIZER_ENV))


def stop_sim(sim):
    if sim.poll() is None:
        sim.send_signal(signal.SIGTERM)
    out, err = sim.communicate(timeout=30)
    return sim.returncode, err


@pytest.mark.parametrize("no_ttalloc", [True, False], ids=["shm-only", "libttalloc-and-shm"])
def test_simulator_on_the_page(tmp_path, no_ttalloc):
    """tt-alloc-sim writing its SHM region, with or without libttalloc: one
    series per (device, type) for it, named tt-alloc-sim, and the device's
    bytes are its bytes (it is alone on the device) in the same page."""
    root = make_root(tmp_path, "n150")
    port = free_port()
    srv = metrics_server(tmp_path, port, "--sysroot", str(root))
    sim = sim_run(root, srv, *(["--no-ttalloc"] if no_ttalloc else []))
    try:
        def busy_page():
            s = scrape(port)
            mine = process_used(s, sim.pid, 0)
            return s if mine is not None and mine["dram"] > 0 else None
        samples = wait_for(busy_page, what="the simulator's memory on the page")
        assert process_pids(samples) == {str(sim.pid)}
        assert value(samples, "ttalloc_process_memory_used_bytes", device=0, type="dram",
                     pid=sim.pid, comm="tt-alloc-sim") > 0
        assert device_used(samples, 0) == process_used(samples, sim.pid, 0)   # not twice
        assert value(samples, "ttalloc_processes") == 1
        if no_ttalloc:
            assert value(samples, "ttalloc_events_total") == 0
            assert value(samples, "ttalloc_buffers") == 0
        # it is in its region either way (what makes "counted once" a real check)
        assert any(p["pid"] == sim.pid for r in shm_dump(root) if r["status"] == 0
                   for p in r["processes"])
        rc, err = stop_sim(sim)
        assert rc == 0, err
        # a clean end detaches (and, with libttalloc, disconnects): nothing left
        wait_for(lambda: (lambda s: not process_pids(s) and
                          device_used(s, 0) == full({}))(scrape(port)),
                 what="the simulator gone from the page")
    finally:
        if sim.poll() is None:
            sim.kill()
            sim.wait(timeout=20)
        srv.stop()
