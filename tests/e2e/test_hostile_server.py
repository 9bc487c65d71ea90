# SPDX-License-Identifier: Apache-2.0
"""Hostile clients against the server's socket (docs/SECURITY.md, the
contract on limits and hostile input): the server runs as root, the attacker as uid 65534; whatever
the attacker does costs at most its own connections, and every other user's
clients and figures are untouched."""
import json
import os
import subprocess

import pytest

from conftest import SANITIZER_ENV, Server, binary, wait_for
from hostile_util import NOBODY, UserProducer, end, flood, needs_root, open_dir  # noqa: F401
import wire

pytestmark = needs_root
TIB = 1 << 40


def snapshot(srv):
    with wire.Client(srv.socket, wire.CONSUMER) as c:
        return c.snapshot()


def proc_bytes(snap):
    return {p["pid"]: p["bytes"] for p in snap["processes"]}


def test_connection_cap_per_uid_leaves_others_alone(open_dir):
    srv = Server(open_dir).start()
    try:
        # 1,023 idle connections from one user: 64 are taken, the rest refused.
        attacker, acked, refused = flood(srv.socket, 1023)
        try:
            assert acked == 64 and refused == 1023 - 64
            # Another user (root here) still connects, as often as it likes.
            clients = [wire.Client(srv.socket, wire.CONSUMER) for _ in range(80)]
            for c in clients:
                assert "devices" in c.snapshot()
                c.close()
            assert "uid 65534 has reached its limit of 64 connections" in srv.log()
        finally:
            end(attacker)
        # Once the attacker lets go, it may connect again.
        again, acked, _ = flood(srv.socket, 3)
        end(again)
        assert acked == 3
    finally:
        srv.stop()


def test_log_stays_small_under_a_storm_of_refusals(open_dir):
    srv = Server(open_dir, ["--max-conns-per-uid", "4"]).start()
    try:
        before = srv.log_path.stat().st_size
        holder, acked, _ = flood(srv.socket, 4)
        assert acked == 4
        storm, acked, refused = flood(srv.socket, 3000)
        end(storm)
        end(holder)
        assert acked == 0 and refused == 3000
        grown = srv.log_path.stat().st_size - before
        assert grown < 32 * 1024, f"log grew {grown} bytes for 3000 refusals"
        assert srv.log().count("has reached its limit of 4 connections") <= 25
        # Another user is still served.
        assert "devices" in snapshot(srv)
    finally:
        srv.stop()


def test_live_buffer_cap_per_uid(open_dir):
    srv = Server(open_dir, ["--max-buffers-per-uid", "1000"]).start()
    a = UserProducer(srv.socket, "a")
    b = UserProducer(srv.socket, "b")
    victim = wire.ChildProducer(srv.socket, "victim")
    try:
        assert a.allocs([(0, 0, i * 64, 64) for i in range(600)]) == "ok"
        # Same user, another process: 600 more would make 1,200.
        answer = b.allocs([(0, 0, i * 64, 64) for i in range(600)])
        # (The client may see the ERROR frame or just the close: the log says why.)
        assert answer.startswith("error")
        assert "uid 65534 is over its limit of 1000 live buffers" in srv.log()
        # The first process keeps its 600; root's processes have no cap.
        assert victim.allocs([(0, 0, i * 64, 64) for i in range(2000)]) == "ok"
        snap = snapshot(srv)
        assert proc_bytes(snap)[a.pid] == 600 * 64
        assert proc_bytes(snap)[victim.pid] == 2000 * 64
        assert b.pid not in proc_bytes(snap) or proc_bytes(snap)[b.pid] == 0
    finally:
        for p in (a, b, victim):
            p.kill()
        srv.stop()


def test_device_cap_per_uid(open_dir):
    srv = Server(open_dir, ["--max-devices-per-uid", "4"]).start()
    a = UserProducer(srv.socket, "a")
    victim = wire.ChildProducer(srv.socket, "victim")
    try:
        assert a.allocs([(d, 0, 0, 64) for d in range(4)]) == "ok"
        answer = a.allocs([(4, 0, 0, 64)])
        assert answer.startswith("error")
        assert "device 4 is past uid 65534's limit of 4 devices" in srv.log()
        assert victim.allocs([(d, 0, 0, 64) for d in range(10)]) == "ok"
        assert proc_bytes(snapshot(srv))[victim.pid] == 640
    finally:
        a.kill()
        victim.kill()
        srv.stop()


def test_device_table_exhaustion_and_recovery(open_dir):
    # No per-uid device cap: one user can fill the whole 256-entry table.
    srv = Server(open_dir, ["--max-devices-per-uid", "0"]).start()
    hog = UserProducer(srv.socket, "hog")
    victim = wire.ChildProducer(srv.socket, "victim")
    try:
        for base in range(0, 256, 64):
            assert hog.allocs([(1000 + d, 0, 0, 64) for d in range(base, base + 64)]) == "ok"
        # Full while the hog holds a buffer on every device.
        answer = victim.allocs([(7, 0, 0, 64)])
        assert answer.startswith("error")
        assert "device 7 would exceed the server's 256 devices" in srv.log()
        victim.kill()
        # The hog frees its buffers but stays: the table no longer stays full.
        assert hog.events([(wire.OP_FREE, 1000 + d, 0, 0, 0) for d in range(256)]) == "ok"
        victim = wire.ChildProducer(srv.socket, "victim")
        assert victim.allocs([(7, 0, 0, 64)]) == "ok"
        # Filled again, then the hog is killed: its entries go with it.
        assert hog.allocs([(2000 + d, 0, 0, 64) for d in range(255)]) == "ok"
        hog.kill()
        wire.wait_pid_gone(hog.pid)
        assert victim.allocs([(3000 + d, 0, 0, 64) for d in range(200)]) == "ok"
        assert proc_bytes(snapshot(srv))[victim.pid] == 201 * 64
    finally:
        hog.kill()
        victim.kill()
        srv.stop()


def test_overflow_by_one_uid_costs_only_its_sender(open_dir):
    srv = Server(open_dir).start()
    victim = wire.ChildProducer(srv.socket, "victim")
    attacker = UserProducer(srv.socket, "attacker")
    try:
        assert victim.allocs([(0, 0, 0x1000, 4096)]) == "ok"
        before = proc_bytes(snapshot(srv))[victim.pid]
        # The attacker fills every type of device 0 to the bound...
        assert attacker.allocs([(0, t, 0, TIB) for t in range(wire.NUM_TYPES)]) == "ok"
        # ...and one byte more is refused: it alone is disconnected.
        answer = attacker.allocs([(0, 0, 8, 1)])
        assert answer.startswith("error")
        assert f"pid {attacker.pid} (python3): malformed event (type 0, op 1" in srv.log()
        # A size that would wrap 64 bits outright: refused the same way.
        other = UserProducer(srv.socket, "other")
        assert other.allocs([(0, 0, 0, (1 << 64) - 1)]).startswith("error")
        other.kill()
        # The victim is still connected, its figure unchanged, and it can allocate.
        snap = snapshot(srv)
        assert proc_bytes(snap)[victim.pid] == before
        assert victim.allocs([(0, 0, 0x2000, 4096)]) == "ok"
        snap = snapshot(srv)
        assert proc_bytes(snap)[victim.pid] == before + 4096
        assert wire.device_used(snap, 0)[0] == before + 4096
    finally:
        victim.kill()
        attacker.kill()
        srv.stop()


def make_root(path, devices):
    r = subprocess.run([binary("src/sim/tt-alloc-sim"), "sysroot", str(path), "--devices",
                        devices], capture_output=True, text=True,
                       env=dict(os.environ, **SANITIZER_ENV))
    assert r.returncode == 0, r.stderr
    return path


def test_description_spoofing_changes_nothing_for_others(open_dir):
    root = make_root(open_dir / "root", "n150")
    serial = int((root / "sys/class/tenstorrent/tenstorrent!0/tt_serial").read_text(), 16)
    srv = Server(open_dir, ["--sysroot", str(root)]).start()
    attacker = UserProducer(srv.socket, "attacker")
    holder = wire.ChildProducer(srv.socket, "holder")
    try:
        def dev0():
            return [d for d in snapshot(srv)["devices"] if d["device"] == 0][0]
        truth = dev0()
        spoof = wire.device_desc(0, serial=0xBAD, asic_id=0xBAD, capacity=(1,) * wire.NUM_TYPES,
                                 board_type=b"p150a")
        assert attacker.command({"raw": spoof.hex()}) == "ok"
        # The same card named by its serial under another id: no better.
        by_serial = wire.device_desc(5, serial=serial, capacity=(1,) * wire.NUM_TYPES)
        assert attacker.command({"raw": by_serial.hex()}) == "ok"
        now = dev0()
        for key in ("board_serial", "asic_id", "board_type", "total", "flags"):
            assert now[key] == truth[key], key
        assert "description of device 0 not applied" in srv.log()
        # A process that has /dev/tenstorrent/0 open (tt-kmd's pids file) may describe it.
        (root / "proc/driver/tenstorrent/0/pids").write_text(f"{holder.pid}\n")
        real = wire.device_desc(0, serial=serial, capacity=(1000,) + (0,) * (wire.NUM_TYPES - 1))
        assert holder.command({"raw": real.hex()}) == "ok"
        assert dev0()["total"][0] == 1000
    finally:
        attacker.kill()
        holder.kill()
        srv.stop()
