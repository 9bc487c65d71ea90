# SPDX-License-Identifier: Apache-2.0
"""Order and peaks on the raw wire: one process's events are applied in
timestamp order whatever connection carried them, so churn never inflates a
peak; RESET_PEAK resets at its place in the stream; PEAKS in a resync raise
only the sender's own peaks; garbage timestamps change only the sender's
figures and never hold up another process."""
import os
import time

import pytest

from conftest import Server, wait_for
import wire
from wire import Client, ChildProducer

MIB = 1 << 20
PID = os.getpid()


@pytest.fixture
def long_hold(tmp_path):
    """A server whose merge waits up to 60 s for a process's other
    connections, so the order seen is the merge's, never the hold's."""
    srv = Server(tmp_path, ["--order-hold", "60000"]).start()
    yield srv
    assert srv.proc.poll() is None, f"server died:\n{srv.log()}"
    srv.stop()


def snapshot(server):
    with Client(server.socket, wire.CONSUMER) as c:
        return c.snapshot()


def usage_of(snap, pid, device=0):
    for u in snap["usage"]:
        if u["pid"] == pid and u["device"] == device:
            return u
    return None


def process_of(snap, pid):
    for p in snap["processes"]:
        if p["pid"] == pid:
            return p
    return None


def device_of(snap, device=0):
    for d in snap["devices"]:
        if d["device"] == device:
            return d
    return None


def ev(op, address, size, ts, device=0, mtype=wire.DRAM):
    return wire.event(op, device, mtype, address, size, timestamp_ns=ts)


def start_streams(server, n=2):
    """n producer connections of this process, each with a first event (a free
    of nothing, all at one timestamp), so each holds the merge back from then
    on. A FLUSH is answered once every event its connection sent is applied,
    which waits for the other connections (or the hold): so a test's last
    step is a later event on one connection and a FLUSH on the other."""
    streams = [Client(server.socket, wire.PRODUCER) for _ in range(n)]
    t0 = time.monotonic_ns()
    for i, s in enumerate(streams):
        s.send_events([ev(wire.OP_FREE, 0xdead0000 + i, 0, t0)])
    for s in streams:
        s.flush()
    return streams


def marker(ts):
    """An event that changes nothing (a free of nothing): moves its stream on."""
    return wire.frame(wire.EVENTS, ev(wire.OP_FREE, 0xdeadbeef, 0, ts))


def test_two_connections_are_applied_in_timestamp_order(long_hold):
    a, b = start_streams(long_hold)
    t = time.monotonic_ns()
    # The app's order: X alloc, X free, Y alloc, Y free, Z alloc: never two
    # buffers at once. Arrival order puts Y's alloc before X's free.
    a.send(wire.frame(wire.EVENTS, ev(wire.OP_ALLOC, 0x1, MIB, t + 1)))
    b.send(wire.frame(wire.EVENTS, ev(wire.OP_ALLOC, 0x2, MIB, t + 3)))
    a.send(wire.frame(wire.EVENTS, ev(wire.OP_FREE, 0x1, 0, t + 2) +
                      ev(wire.OP_ALLOC, 0x3, MIB, t + 5)))
    b.send(wire.frame(wire.EVENTS, ev(wire.OP_FREE, 0x2, 0, t + 4)))
    b.send(marker(t + 6))
    a.flush(2)      # answered once b has passed a's last event: all is applied
    snap = snapshot(long_hold)
    assert process_of(snap, PID)["bytes"] == MIB
    assert usage_of(snap, PID)["peak"][wire.DRAM] == MIB
    assert process_of(snap, PID)["peak_bytes"] == MIB
    assert device_of(snap)["peak"][wire.DRAM] == MIB
    assert "clamped event timestamps" not in long_hold.log()
    a.close()
    b.close()


def test_a_silent_connection_holds_events_only_for_the_hold(tmp_path):
    srv = Server(tmp_path, ["--order-hold", "50"]).start()
    try:
        a, b = start_streams(srv)
        # b says nothing more: a's event is applied once the hold runs out,
        # with no flush and nothing else arriving.
        a.send_events([ev(wire.OP_ALLOC, 0x1, 7 * MIB, time.monotonic_ns())])
        wait_for(lambda: (process_of(snapshot(srv), PID) or {}).get("bytes") == 7 * MIB,
                 timeout=10, what="the held event to be applied")
        a.close()
        b.close()
    finally:
        srv.stop()


def churn(stream_events, clients):
    """Send each client's events in frames, alternating clients frame by frame."""
    frames = [wire.events_frames(evs) for evs in stream_events]
    for i in range(max(len(f) for f in frames)):
        for c, f in zip(clients, frames):
            if i < len(f):
                c.send(f[i])


def test_churn_never_inflates_a_peak(long_hold):
    rounds = 20000
    a, b = start_streams(long_hold)
    # After both streams' first events, and in the past by the time they are
    # sent (building the lists takes far longer than the 80 us they span).
    t = time.monotonic_ns() + 1
    held = [ev(wire.OP_ALLOC, 0x1, 10 * MIB, t - 1)]
    # Each connection holds at most one 1 MiB buffer; they overlap by design:
    # a's lives over [4k, 4k+2], b's over [4k+1, 4k+3]: exactly 12 MiB at most.
    ea, eb = [], []
    for k in range(rounds):
        ts = t + 4 * k
        ea += [ev(wire.OP_ALLOC, (1 << 40) + k * 64, MIB, ts),
               ev(wire.OP_FREE, (1 << 40) + k * 64, 0, ts + 2)]
        eb += [ev(wire.OP_ALLOC, (2 << 40) + k * 64, MIB, ts + 1),
               ev(wire.OP_FREE, (2 << 40) + k * 64, 0, ts + 3)]
    churn([held + ea, eb], [a, b])
    a.send(marker(t + 4 * rounds + 10))
    b.flush(2)
    snap = snapshot(long_hold)
    assert process_of(snap, PID)["bytes"] == 10 * MIB
    assert usage_of(snap, PID)["peak"][wire.DRAM] == 12 * MIB
    assert process_of(snap, PID)["peak_bytes"] == 12 * MIB
    assert device_of(snap)["peak"][wire.DRAM] == 12 * MIB
    assert "clamped event timestamps" not in long_hold.log()
    a.close()
    b.close()


def test_one_connection_churn_peak_is_exact(server):
    # A separate process: 10 MiB held, one 1 MiB buffer churned at distinct
    # addresses: exactly 11 MiB, however the frames fall.
    child = ChildProducer(server.socket, "churn")
    events = [(wire.OP_ALLOC, 0, wire.DRAM, 0x1, 10 * MIB)]
    for k in range(20000):
        events += [(wire.OP_ALLOC, 0, wire.DRAM, (1 << 40) + k * 64, MIB),
                   (wire.OP_FREE, 0, wire.DRAM, (1 << 40) + k * 64, 0)]
    assert child.events(events) == "ok"
    snap = snapshot(server)
    assert usage_of(snap, child.pid)["peak"][wire.DRAM] == 11 * MIB
    assert process_of(snap, child.pid)["peak_bytes"] == 11 * MIB
    child.close()


def test_reset_peak_in_order(server):
    c = Client(server.socket, wire.PRODUCER)
    t = time.monotonic_ns()
    c.send(wire.frame(wire.EVENTS, b"".join([
        ev(wire.OP_ALLOC, 0x1, MIB, t + 1), ev(wire.OP_ALLOC, 0x2, MIB, t + 2),
        ev(wire.OP_ALLOC, 0x3, 3 * MIB, t + 3), ev(wire.OP_FREE, 0x3, 0, t + 4),
        ev(wire.OP_ALLOC, 0x10, 100, t + 5, mtype=wire.L1),
        ev(wire.OP_FREE, 0x10, 0, t + 6, mtype=wire.L1),
        wire.reset_peak(t + 7)])))
    c.flush()
    snap = snapshot(server)
    # Reset with 2 MiB live reads 2 MiB (and L1 0); the device keeps 5 MiB.
    assert usage_of(snap, PID)["peak"][wire.DRAM] == 2 * MIB
    assert usage_of(snap, PID)["peak"][wire.L1] == 0
    assert process_of(snap, PID)["peak_bytes"] == 2 * MIB
    assert device_of(snap)["peak"][wire.DRAM] == 5 * MIB
    assert device_of(snap)["peak"][wire.L1] == 100
    # One more 1 MiB alloc/free reads 3 MiB.
    c.send_events([ev(wire.OP_ALLOC, 0x4, MIB, t + 8), ev(wire.OP_FREE, 0x4, 0, t + 9)])
    c.flush(2)
    snap = snapshot(server)
    assert usage_of(snap, PID)["peak"][wire.DRAM] == 3 * MIB
    assert process_of(snap, PID)["peak_bytes"] == 3 * MIB
    assert device_of(snap)["peak"][wire.DRAM] == 5 * MIB
    c.close()


def test_peaks_in_a_resync_raise_only_the_senders_own(server):
    other = ChildProducer(server.socket, "bystander")
    assert other.allocs([(0, wire.DRAM, 0x1, 2 * MIB)]) == "ok"
    c = Client(server.socket, wire.PRODUCER)
    c.send_events([wire.alloc(0, wire.DRAM, 0x1, MIB)])
    c.flush()
    # A replay after a "server restart", carrying the peaks the library counted.
    c.send(wire.frame(wire.RESYNC_BEGIN))
    c.send_events([wire.alloc(0, wire.DRAM, 0x1, MIB)])
    c.send(wire.peaks([(0, wire.DRAM, 8 * MIB), (0, wire.L1, 0), (5, wire.CB, (1 << 64) - 1)]))
    c.send(wire.resync_end(1, MIB))
    c.flush(2)
    snap = snapshot(server)
    assert usage_of(snap, PID)["peak"][wire.DRAM] == 8 * MIB
    assert usage_of(snap, PID, 5)["peak"][wire.CB] == (1 << 64) - 1
    assert process_of(snap, PID)["bytes"] == MIB
    # Device peaks never take a client's word; the other process is untouched.
    assert device_of(snap)["peak"][wire.DRAM] == 3 * MIB
    assert device_of(snap, 5)["peak"][wire.CB] == 0
    assert usage_of(snap, other.pid)["peak"][wire.DRAM] == 2 * MIB
    assert process_of(snap, other.pid)["peak_bytes"] == 2 * MIB
    # A smaller figure never lowers the server's.
    c.send(wire.frame(wire.RESYNC_BEGIN))
    c.send_events([wire.alloc(0, wire.DRAM, 0x1, MIB)])
    c.send(wire.peaks([(0, wire.DRAM, 1)]))
    c.send(wire.resync_end(1, MIB))
    c.flush(3)
    assert usage_of(snapshot(server), PID)["peak"][wire.DRAM] == 8 * MIB
    assert "resync mismatch" not in server.log()
    c.close()
    other.close()


@pytest.mark.parametrize("bad", ["outside-resync", "unknown-type"])
def test_hostile_peaks_cost_only_the_sender(server, bad):
    other = ChildProducer(server.socket, "bystander")
    assert other.allocs([(0, wire.DRAM, 0x1, 2 * MIB)]) == "ok"
    c = Client(server.socket, wire.PRODUCER)
    if bad == "outside-resync":
        c.send(wire.peaks([(0, wire.DRAM, 1 << 50)]))
        expected = "PEAKS outside a resync"
    else:
        c.send(wire.frame(wire.RESYNC_BEGIN))
        c.send(wire.peaks([(0, wire.NUM_TYPES, 1 << 50)]))
        expected = "unknown memory type"
    code, text = c.expect_error()
    assert code == wire.ERR_MALFORMED and expected in text
    c.close()
    assert other.allocs([(0, wire.DRAM, 0x2, MIB)]) == "ok"
    snap = snapshot(server)
    assert device_of(snap)["peak"][wire.DRAM] == 3 * MIB
    assert usage_of(snap, other.pid)["peak"][wire.DRAM] == 3 * MIB
    assert process_of(snap, PID) is None or process_of(snap, PID)["peak_bytes"] < 1 << 50
    other.close()


def test_hostile_timestamps_change_only_the_senders_figures(server):
    other = ChildProducer(server.socket, "bystander", timeout=20.0)
    assert other.allocs([(1, wire.DRAM, 0x1, 2 * MIB)]) == "ok"
    a, b = start_streams(server)
    now = time.monotonic_ns()
    never = (1 << 64) - 1
    # Far future, going backwards, equal: applied, clamped, in arrival order.
    a.send_events([ev(wire.OP_ALLOC, 0x1, MIB, never),
                   ev(wire.OP_ALLOC, 0x2, MIB, 1),
                   ev(wire.OP_FREE, 0x2, 0, 1),
                   ev(wire.OP_ALLOC, 0x2, 2 * MIB, 1)])
    b.send_events([ev(wire.OP_ALLOC, 0x3, MIB, 0), ev(wire.OP_ALLOC, 0x4, MIB, never),
                   ev(wire.OP_ALLOC, 0x5, MIB, now)])
    # Another process's flush and figures go on, unaffected.
    assert other.events([(wire.OP_ALLOC, 1, wire.DRAM, 0x2, MIB),
                         (wire.OP_FREE, 1, wire.DRAM, 0x1, 0)]) == "ok"
    snap = snapshot(server)
    assert process_of(snap, other.pid)["bytes"] == MIB
    assert usage_of(snap, other.pid, 1)["peak"][wire.DRAM] == 3 * MIB
    assert device_of(snap, 1)["used"][wire.DRAM] == MIB
    assert device_of(snap, 1)["peak"][wire.DRAM] == 3 * MIB
    # The sender's own figures: every event applied, within the hold.
    snap = wait_for(lambda: (lambda s: s if (process_of(s, PID) or {}).get("bytes") == 6 * MIB
                             else None)(snapshot(server)), what="the clamped events applied")
    assert usage_of(snap, PID)["buffers"] == 5
    assert device_of(snap, 0)["used"][wire.DRAM] == 6 * MIB
    a.flush(2)
    b.flush(2)
    log = server.log()
    assert f"pid {PID} " in log and "clamped event timestamps" in log
    assert log.count("clamped event timestamps") == 1
    assert f"pid {other.pid} (python3): clamped" not in log
    a.close()
    b.close()
    other.close()
