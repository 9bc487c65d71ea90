# SPDX-License-Identifier: Apache-2.0
"""tt-alloc-server's figures against the truth: real child processes with
known allocation sets, kill -9, many producers at once, resync, buffer lists,
exit records, limits, and subscriptions (including a slow one)."""
import os
import random
import signal

import pytest

from conftest import Server, wait_for
import wire
from wire import Client, ChildProducer

GIB = 1 << 30
MIB = 1 << 20


def snapshot(server):
    with Client(server.socket, wire.CONSUMER) as c:
        return c.snapshot()


def test_kill_9_frees_bytes_and_leaves_an_exit_record(server):
    child = ChildProducer(server.socket, "victim")
    allocs = [(0, wire.DRAM, 0x1000, GIB), (0, wire.DRAM, 0x2000, GIB // 2),
              (0, wire.L1, 0x10, 4096), (3, wire.CB, 0x10, 777)]
    assert child.allocs(allocs) == "ok"
    assert child.events([(wire.OP_FREE, 0, wire.L1, 0x10, 0)]) == "ok"
    snap = snapshot(server)
    assert wire.process_bytes(snap, child.pid) == GIB + GIB // 2 + 777
    assert wire.device_used(snap, 0)[wire.DRAM] == GIB + GIB // 2
    exits_before = snap["exits_total"]

    child.kill()    # SIGKILL: no goodbye
    wait_for(lambda: wire.process_bytes(snapshot(server), child.pid) is None,
             what="the killed process to leave the snapshot")
    snap = snapshot(server)
    assert wire.device_used(snap, 0) == [0] * wire.NUM_TYPES
    assert wire.device_used(snap, 3) == [0] * wire.NUM_TYPES
    assert snap["exits_total"] == exits_before + 1
    assert snap["leaked_exits_total"] == 1
    # peaks remember
    dev0 = [d for d in snap["devices"] if d["device"] == 0][0]
    assert dev0["peak"][wire.DRAM] == GIB + GIB // 2

    with Client(server.socket, wire.CONSUMER) as c:
        exits = c.exits()
    mine = [e for e in exits if e["pid"] == child.pid]
    assert [e["device"] for e in mine] == [0, 3]
    assert mine[0]["bytes"][wire.DRAM] == GIB + GIB // 2
    assert mine[0]["buffers"][wire.DRAM] == 2
    assert mine[0]["bytes"][wire.L1] == 0
    assert mine[1]["bytes"][wire.CB] == 777
    assert mine[0]["name"] == "python3" or mine[0]["name"].startswith("python")
    assert mine[0]["uid"] == os.getuid()
    assert f"pid {child.pid} ({mine[0]['name']}) exited holding 3 buffers, 1.50 GiB on " \
           f"device 0, 777 B on device 3" in server.log()


def test_clean_exit_leaves_no_exit_record(server):
    child = ChildProducer(server.socket)
    assert child.allocs([(0, wire.DRAM, 1, 100)]) == "ok"
    assert child.events([(wire.OP_FREE, 0, wire.DRAM, 1, 0)]) == "ok"
    child.close()
    wait_for(lambda: wire.process_bytes(snapshot(server), child.pid) is None,
             what="the process to leave")
    snap = snapshot(server)
    assert snap["exits_total"] == 1
    assert snap["leaked_exits_total"] == 0
    with Client(server.socket, wire.CONSUMER) as c:
        assert c.exits() == []


def test_process_stays_after_disconnect_until_it_dies(server):
    """EOF on the socket is not death: the buffers stay until the pidfd fires."""
    import subprocess
    import sys
    script = ("import sys, time; sys.path.insert(0, %r); import wire\n"
              "c = wire.Client(sys.argv[1], wire.PRODUCER)\n"
              "c.send_events([wire.alloc(0, wire.DRAM, 1, 5000)]); c.flush(); c.close()\n"
              "print('closed', flush=True); sys.stdin.read()\n"
              % os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.Popen([sys.executable, "-c", script, server.socket],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "closed"
        wait_for(lambda: "client disconnected: pid %d" % proc.pid in server.log(),
                 what="the disconnect")
        snap = snapshot(server)
        assert wire.process_bytes(snap, proc.pid) == 5000
        info = [p for p in snap["processes"] if p["pid"] == proc.pid][0]
        assert info["flags"] == 0   # not connected
    finally:
        proc.stdin.close()
        proc.wait(timeout=20)
        proc.stdout.close()
    wait_for(lambda: wire.process_bytes(snapshot(server), proc.pid) is None,
             what="the exit")
    assert snapshot(server)["leaked_exits_total"] == 1


def test_many_concurrent_producers_exact(server):
    rng = random.Random(1234)
    children, truth = [], {}
    try:
        for i in range(32):
            children.append(ChildProducer(server.socket, f"job{i}"))
        per_device = {}
        for child in children:
            live = {}
            for _ in range(3):
                batch = []
                for _ in range(rng.randint(1, 300)):
                    key = (rng.randint(0, 3), rng.choice([0, 1, 3, 4, 5]), rng.randint(0, 500) * 64)
                    if key in live and rng.random() < 0.5:
                        batch.append((wire.OP_FREE, *key, 0))
                        del live[key]
                    else:
                        size = rng.randint(1, 1 << 32)
                        batch.append((wire.OP_ALLOC, *key, size))
                        live[key] = size
                assert child.events(batch) == "ok"
            truth[child.pid] = live
            for (dev, typ, _), size in live.items():
                per_device.setdefault(dev, [0] * wire.NUM_TYPES)[typ] += size
        snap = snapshot(server)
        for pid, live in truth.items():
            assert wire.process_bytes(snap, pid) == sum(live.values())
            info = [p for p in snap["processes"] if p["pid"] == pid][0]
            assert info["buffers"] == len(live)
        for dev, used in per_device.items():
            assert wire.device_used(snap, dev) == used
        usage = {(u["pid"], u["device"]): u for u in snap["usage"]}
        for pid, live in truth.items():
            for dev in range(4):
                want = [0] * wire.NUM_TYPES
                for (d, typ, _), size in live.items():
                    if d == dev:
                        want[typ] += size
                if (pid, dev) in usage:
                    assert usage[(pid, dev)]["bytes"] == want
                else:
                    assert want == [0] * wire.NUM_TYPES
        pids = [p["pid"] for p in snap["processes"]]
        assert pids == sorted(pids)
        assert len(set(truth) & set(pids)) == 32
    finally:
        for child in children:
            child.kill()
    wait_for(lambda: all(wire.process_bytes(snapshot(server), pid) is None for pid in truth),
             what="every producer's exit")
    snap = snapshot(server)
    assert all(d["used"] == [0] * wire.NUM_TYPES for d in snap["devices"])
    assert all(d["buffers"] == 0 and d["processes"] == 0 for d in snap["devices"])


def test_buffers_largest_first(server):
    child = ChildProducer(server.socket)
    sizes = list(range(1, 6001))
    random.Random(5).shuffle(sizes)
    assert child.allocs([(i % 2, wire.L1, i * 64, s) for i, s in enumerate(sizes)]) == "ok"
    with Client(server.socket, wire.CONSUMER) as c:
        top = c.buffers(child.pid, 10)
        assert [b["size"] for b in top] == list(range(6000, 5990, -1))
        everything = c.buffers(child.pid, 0)
        assert len(everything) == 6000          # several BUFFERS frames
        assert [b["size"] for b in everything] == list(range(6000, 0, -1))
        b = top[0]
        i = sizes.index(6000)
        assert (b["address"], b["device"], b["type"]) == (i * 64, i % 2, wire.L1)
        assert c.buffers(999999999, 10) == []   # no such process
        assert c.buffers(-1, 10) == []
    child.close()


def test_resync_replaces_the_process_view(server):
    with Client(server.socket, wire.PRODUCER) as p:
        p.send_events([wire.alloc(0, wire.DRAM, a, 100) for a in range(10)])
        p.flush()
        p.send(wire.frame(wire.RESYNC_BEGIN))
        p.send_events([wire.alloc(0, wire.DRAM, 1, 7), wire.alloc(1, wire.L1, 2, 8)])
        p.send(wire.resync_end(2, 15))
        p.flush()
        snap = snapshot(server)
        assert wire.process_bytes(snap, os.getpid()) == 15
        assert wire.device_used(snap, 0)[wire.DRAM] == 7
        assert "resync mismatch" not in server.log()
        # A lying RESYNC_END is logged, not fatal.
        p.send(wire.frame(wire.RESYNC_BEGIN))
        p.send_events([wire.alloc(0, wire.DRAM, 1, 7)])
        p.send(wire.resync_end(5, 99))
        p.flush()
        assert wire.process_bytes(snapshot(server), os.getpid()) == 7
    assert "resync mismatch: client sent 5 buffers, 99 bytes; server has 1 buffers, 7 bytes" \
        in server.log()


def test_reconnect_same_pid_keeps_and_resyncs(server):
    with Client(server.socket, wire.PRODUCER) as p:
        p.send_events([wire.alloc(0, wire.DRAM, 1, 100)])
        p.flush()
    # Same process, new connection: the entry (and its buffers) is still there.
    with Client(server.socket, wire.PRODUCER) as p:
        assert wire.process_bytes(snapshot(server), os.getpid()) == 100
        p.send(wire.frame(wire.RESYNC_BEGIN))
        p.send_events([wire.alloc(0, wire.DRAM, 2, 30)])
        p.send(wire.resync_end(1, 30))
        p.flush()
        assert wire.process_bytes(snapshot(server), os.getpid()) == 30


def test_unknown_frees_and_live_reallocs_are_tolerated(server):
    with Client(server.socket, wire.PRODUCER) as p:
        p.send_events([wire.free(0, wire.DRAM, 5), wire.alloc(0, wire.DRAM, 5, 10),
                       wire.alloc(0, wire.DRAM, 5, 25), wire.free(0, wire.DRAM, 5),
                       wire.free(0, wire.DRAM, 5), wire.alloc(0, wire.L1, 6, 3)])
        p.flush()
        snap = snapshot(server)
    assert wire.device_used(snap, 0)[wire.DRAM] == 0
    assert wire.device_used(snap, 0)[wire.L1] == 3
    assert "2 free(s) of buffers that were not live" in server.log()
    assert "1 alloc(s) of buffers already live" in server.log()


def test_device_desc_shows_in_snapshot(server):
    with Client(server.socket, wire.PRODUCER) as p:
        cap = (12 * GIB, 72 * 1499136, 0, 0, 0, 0)
        p.send(wire.device_desc(4, serial=0xABC, asic_id=0xDEF, capacity=cap, remote=1,
                                board_type=b"n300"))
        p.flush()
        dev = [d for d in snapshot(server)["devices"] if d["device"] == 4][0]
    assert dev["total"] == list(cap)
    assert dev["board_serial"] == 0xABC and dev["asic_id"] == 0xDEF
    assert dev["flags"] == 0x1 | 0x2
    assert dev["board_type"] == "n300"


def test_max_buffers_limit_kicks_and_drops(tmp_path):
    srv = Server(tmp_path, extra_args=["--max-buffers", "100"]).start()
    try:
        witness = ChildProducer(srv.socket)
        assert witness.allocs([(0, wire.DRAM, a, 10) for a in range(100)]) == "ok"
        greedy = ChildProducer(srv.socket)
        answer = greedy.allocs([(0, wire.DRAM, a, 10) for a in range(101)])
        assert answer.startswith("error"), answer
        wait_for(lambda: "over the limit of 100 live buffers" in srv.log(), what="the log")
        assert f"pid {greedy.pid}" in srv.log()
        snap = snapshot(srv)
        assert wire.process_bytes(snap, witness.pid) == 1000
        assert wire.process_bytes(snap, greedy.pid) == 0   # dropped
        assert wire.device_used(snap, 0)[wire.DRAM] == 1000
        with Client(srv.socket, wire.PRODUCER) as c:
            c.send_events([wire.alloc(0, 0, a, 1) for a in range(101)])
            code, text = c.expect_closed()
        assert code == wire.ERR_LIMIT and "--max-buffers" in text
        witness.close()
        greedy.close()
    finally:
        srv.stop()


def test_max_clients_limit(tmp_path):
    srv = Server(tmp_path, extra_args=["--max-clients", "3"]).start()
    try:
        clients = [Client(srv.socket, wire.CONSUMER) for _ in range(3)]
        extra = Client(srv.socket)
        code, text = extra.expect_error()
        assert code == wire.ERR_LIMIT and "--max-clients" in text
        extra.close()
        clients.pop().close()
        # A slot is free again once the server has seen the close.
        def connects():
            c = Client(srv.socket)
            c.send(wire.hello(wire.CONSUMER))
            try:
                c.recv_frame()
                return c
            except (wire.ServerError, EOFError):
                c.close()
                return None
        clients.append(wait_for(connects, what="a free slot"))
        assert clients[0].snapshot()["clients"] == 3
        for c in clients:
            c.close()
    finally:
        srv.stop()


def test_subscription_pushes_snapshots(server):
    child = ChildProducer(server.socket)
    with Client(server.socket, wire.CONSUMER) as c:
        c.send(wire.subscribe(10))
        first = c.read_snapshot()
        assert child.allocs([(0, wire.DRAM, 1, 4242)]) == "ok"
        snap = wait_for(lambda: (lambda s: s if wire.process_bytes(s, child.pid) == 4242
                                 else None)(c.read_snapshot()), what="a pushed snapshot")
        assert snap["seq"] > first["seq"]
        c.send(wire.subscribe(0))
        # After the stop, pushes end: drain what was in flight, then silence.
        with pytest.raises(TimeoutError):
            while True:
                c.read_snapshot(timeout=0.5)
    child.close()


def test_slow_subscriber_dropped_other_keeps_receiving(tmp_path):
    srv = Server(tmp_path, extra_args=["--max-queue", "65536"]).start()
    try:
        child = ChildProducer(srv.socket)
        # Bulk the snapshot up: many devices make each snapshot ~10 KiB.
        assert child.allocs([(d, wire.DRAM, 1, 10) for d in range(50)]) == "ok"
        slow = Client(srv.socket, wire.CONSUMER)
        slow.send(wire.subscribe(10))       # and never reads
        fast = Client(srv.socket, wire.CONSUMER)
        fast.send(wire.subscribe(10))
        seen = 0

        def dropped():
            nonlocal seen
            fast.read_snapshot()    # keep reading: the fast one must not be dropped
            seen += 1
            return "dropping slow client" in srv.log()
        wait_for(dropped, timeout=60, interval=0, what="the slow subscriber's drop")
        assert seen > 1
        # The fast one keeps getting snapshots after the drop.
        seq = fast.read_snapshot()["seq"]
        assert fast.read_snapshot()["seq"] > seq
        # The slow one: what was sent, then the end (no ERROR: it is not read).
        assert slow.expect_closed(timeout=10) is None
        assert srv.log().count("dropping slow client") == 1
        slow.close()
        fast.close()
        child.close()
    finally:
        srv.stop()


OTHER_USER_SCRIPT = r"""
import json, sys
sys.path.insert(0, %r)
import wire
c = wire.Client(sys.argv[1], wire.CONSUMER)
pid = int(sys.argv[2])
print(json.dumps({"uid": c.ack["peer_uid"], "buffers": len(c.buffers(pid, 0)),
                  "bytes": wire.process_bytes(c.snapshot(), pid)}))
""" % os.path.dirname(os.path.abspath(__file__))


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to act as another user")
def test_buffer_lists_only_for_root_and_owner():
    import json
    import shutil
    import subprocess
    import sys
    import tempfile
    from pathlib import Path
    d = tempfile.mkdtemp(prefix="ttalloc-uid-")
    os.chmod(d, 0o755)     # so the other user can reach the socket
    srv = Server(Path(d)).start()
    try:
        child = ChildProducer(srv.socket)
        assert child.allocs([(0, wire.DRAM, a, 10) for a in range(5)]) == "ok"
        with Client(srv.socket, wire.CONSUMER) as c:
            assert len(c.buffers(child.pid, 0)) == 5      # root sees them
        r = subprocess.run([sys.executable, "-c", OTHER_USER_SCRIPT, srv.socket,
                            str(child.pid)], capture_output=True, text=True, timeout=60,
                           preexec_fn=lambda: (os.setgid(65534), os.setuid(65534)))
        assert r.returncode == 0, r.stderr
        seen = json.loads(r.stdout)
        assert seen["uid"] == 65534
        assert seen["buffers"] == 0     # not root, not the owner
        assert seen["bytes"] == 50      # totals are for everyone
        child.close()
    finally:
        srv.stop()
        shutil.rmtree(d)
