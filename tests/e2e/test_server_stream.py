# SPDX-License-Identifier: Apache-2.0
"""The server's event stream (STREAM_REQ, what tt-alloc-record reads), spoken
raw: what a subscriber gets first (devices, processes, the live state), every
change after it in the order applied, process starts and exits, a subscriber
that stops reading (producers unaffected, a GAP with the lost count and an
exact live state after it), bad requests, and who sees what."""
import os
import subprocess
import sys
import time

import pytest

import wire
from conftest import Server, binary
from hostile_util import UserProducer, as_user, child_env, needs_root, open_dir  # noqa: F401

MiB = 1 << 20


class Subscriber(wire.Client):
    """A consumer connection that asked for the stream; reads it into lists."""

    def __init__(self, path, **kw):
        super().__init__(path, wire.CONSUMER, **kw)
        self.send(wire.stream_req())
        self.devices, self.processes, self.records = [], [], []

    def read_frame(self, timeout=None):
        mtype, payload = self.recv_frame(timeout)
        if mtype == wire.STREAM_EVENTS:
            self.records += wire.stream_records(payload)
        elif mtype == wire.STREAM_PROCESS:
            self.processes.append(wire.stream_process(payload))
        elif mtype == wire.STREAM_DEVICE:
            self.devices.append(wire.stream_device(payload))
        else:
            raise AssertionError(f"unexpected frame type {mtype}")

    def read_until(self, predicate, timeout=20.0, what="records"):
        deadline = time.monotonic() + timeout
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"stream: no {what} in time; have {self.records[-5:]}")
            self.read_frame(left)

    def kinds(self, *kinds):
        return [r for r in self.records if r["kind"] in kinds]


def live_state(records):
    """The buffers of the last complete LIVE_BEGIN..LIVE_END, as a set."""
    begins = [i for i, r in enumerate(records) if r["kind"] == wire.S_LIVE_BEGIN]
    assert begins, "no live state"
    i = begins[-1]
    count = records[i]["size"]
    body = records[i + 1:i + 1 + count]
    assert all(r["kind"] == wire.S_LIVE_BUFFER for r in body)
    assert records[i + 1 + count]["kind"] == wire.S_LIVE_END
    return {(r["pid"], r["device"], r["type"], r["address"], r["size"]) for r in body}


def apply(state, records):
    """The live set after `state` and then `records` (ALLOC/FREE/EXIT)."""
    state = {(p, d, t, a): s for (p, d, t, a, s) in state}
    for r in records:
        key = (r["pid"], r["device"], r["type"], r["address"])
        if r["kind"] == wire.S_ALLOC:
            state[key] = r["size"]
        elif r["kind"] == wire.S_FREE:
            assert state.pop(key) == r["size"], f"free of {key} with the wrong size"
        elif r["kind"] == wire.S_EXIT:
            state = {k: v for k, v in state.items() if k[0] != r["pid"]}
    return {k + (v,) for k, v in state.items()}


def test_subscriber_gets_state_then_every_change_in_order(tmp_path):
    # A long merge hold, so the order below never depends on this machine's speed.
    server = Server(tmp_path, ["--order-hold", "1000"]).start()
    try:
        stream_in_order(server)
    finally:
        server.stop()


def stream_in_order(server):
    me = os.getpid()
    with wire.Client(server.socket, wire.PRODUCER, label=b"stream-test") as prod:
        prod.send(wire.device_desc(3, serial=77, capacity=(12 * 1024 * MiB,) + (0,) * 5,
                                   board_type=b"n150"))
        for f in wire.events_frames([wire.alloc(3, wire.DRAM, 0x1000, 4096),
                                     wire.alloc(3, wire.L1, 0x20, 64)]):
            prod.send(f)
        prod.flush()
        sub = Subscriber(server.socket)
        sub.read_until(lambda: sub.kinds(wire.S_LIVE_END), what="live state")
        assert [d["device"] for d in sub.devices] == [3]
        assert sub.devices[0]["board_serial"] == 77 and sub.devices[0]["board_type"] == "n150"
        mine = [p for p in sub.processes if p["pid"] == me]
        assert len(mine) == 1 and mine[0]["label"] == "stream-test"
        assert mine[0]["uid"] == os.getuid()
        assert live_state(sub.records) == {(me, 3, wire.DRAM, 0x1000, 4096),
                                           (me, 3, wire.L1, 0x20, 64)}

        # A second connection of the same process, its events interleaved in
        # time with the first's: the stream carries them in timestamp order.
        # (Once both have sent, the merge waits for the later one.)
        n = len(sub.records)
        with wire.Client(server.socket, wire.PRODUCER) as prod2:
            t0 = time.monotonic_ns()
            prod2.send(wire.events_frames([wire.event(wire.OP_ALLOC, 3, wire.DRAM, 0x30000, 32,
                                                      t0)])[0])
            prod2.flush()
            t1 = time.monotonic_ns()
            first = [wire.event(wire.OP_ALLOC, 3, wire.DRAM, 0x10000, MiB, t1 + 1000),
                     wire.event(wire.OP_FREE, 3, wire.DRAM, 0x10000, 0, t1 + 3000)]
            second = [wire.event(wire.OP_ALLOC, 3, wire.DRAM, 0x20000, 2 * MiB, t1 + 2000),
                      wire.event(wire.OP_FREE, 3, wire.DRAM, 0x20000, 0, t1 + 4000)]
            prod.send(wire.events_frames(first)[0])
            prod2.send(wire.events_frames(second)[0])
            prod.flush()
            prod2.flush()
        sub.read_until(lambda: len(sub.kinds(wire.S_ALLOC, wire.S_FREE)) >= 5, what="events")
        changes = [(r["kind"], r["address"], r["size"]) for r in sub.records[n:]
                   if r["kind"] in (wire.S_ALLOC, wire.S_FREE)]
        assert changes == [(wire.S_ALLOC, 0x30000, 32), (wire.S_ALLOC, 0x10000, MiB), (wire.S_ALLOC, 0x20000, 2 * MiB),
                           (wire.S_FREE, 0x10000, MiB), (wire.S_FREE, 0x20000, 2 * MiB)]
        stamps = [r["timestamp_ns"] for r in sub.records[n:] if r["kind"] == wire.S_ALLOC]
        assert stamps == [t0, t1 + 1000, t1 + 2000]

        # A free of a buffer that was not live changes nothing and is not sent;
        # a peak reset is.
        prod.send(wire.events_frames([wire.free(3, wire.DRAM, 0xdead000),
                                      wire.reset_peak()])[0])
        prod.flush()
        sub.read_until(lambda: sub.kinds(wire.S_RESET_PEAK), what="RESET_PEAK")
        assert not [r for r in sub.records if r["address"] == 0xdead000]
        sub.close()


def test_new_process_and_its_exit_with_leaks(server):
    sub = Subscriber(server.socket)
    sub.read_until(lambda: sub.kinds(wire.S_LIVE_END), what="live state")
    assert live_state(sub.records) == set()
    tc = subprocess.Popen([binary("tests/tools/ttalloc-testclient")], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True, env=server.client_env())

    def ask(line):
        tc.stdin.write(line + "\n")
        tc.stdin.flush()
        return tc.stdout.readline().strip()

    assert ask("label leaky") == "ok"
    assert ask("alloc 0 dram 0x4000 8192") == "ok"
    assert ask("alloc 0 dram 0x8000 100") == "ok"
    assert ask("free 0 dram 0x8000") == "ok"
    assert ask("flush") == "flush 0"
    sub.read_until(lambda: [p for p in sub.processes if p["pid"] == tc.pid], what="PROCESS")
    proc = next(p for p in sub.processes if p["pid"] == tc.pid)
    assert proc["parent_pid"] == os.getpid()
    assert proc["name"].startswith("ttalloc-testcli")
    tc.kill()
    tc.wait()
    sub.read_until(lambda: [r for r in sub.kinds(wire.S_EXIT) if r["pid"] == tc.pid],
                   what="EXIT")
    ops = [(r["kind"], r["address"], r["size"]) for r in sub.records if r["pid"] == tc.pid]
    assert ops == [(wire.S_ALLOC, 0x4000, 8192), (wire.S_ALLOC, 0x8000, 100),
                   (wire.S_FREE, 0x8000, 100), (wire.S_EXIT, 0, 0)]
    tc.stdin.close()
    tc.stdout.close()
    sub.close()


def test_a_stalled_subscriber_costs_producers_nothing(tmp_path):
    # A small queue so the test is quick: records past 1 MiB queued are dropped.
    srv = Server(tmp_path, ["--max-queue", str(2 * MiB)]).start()
    try:
        stalled = Subscriber(srv.socket, timeout=30.0)
        stalled.sock.setsockopt(wire.socket.SOL_SOCKET, wire.socket.SO_RCVBUF, 4096)
        with wire.Client(srv.socket, wire.PRODUCER) as prod:
            # 200k events (6.4 MB of records for the subscriber), never read.
            n = 100_000
            events = []
            for i in range(n):
                events.append(wire.alloc(0, wire.DRAM, 0x100000 + i * 64, 64))
                if i % 2:
                    events.append(wire.free(0, wire.DRAM, 0x100000 + (i - 1) * 64))
            for f in wire.events_frames(events):
                prod.send(f)
            # Answered while the subscriber still reads nothing: a server that
            # waited for it would never send this FLUSH_ACK (the client times out).
            prod.flush()
            # Still subscribed, and then catches up: a GAP, then the exact state.
            # (The gap may close while it is stalled, once the kernel's socket
            # buffer has taken the queue: then the L1 alloc follows the state.)
            prod.send(wire.events_frames([wire.alloc(0, wire.L1, 0x40, 32)])[0])
            prod.flush()
            me = os.getpid()
            l1 = (me, 0, wire.L1, 0x40, 32)

            def state_now():
                ends = [i for i, r in enumerate(stalled.records) if r["kind"] == wire.S_LIVE_END]
                gaps = [i for i, r in enumerate(stalled.records) if r["kind"] == wire.S_GAP]
                if not gaps or ends[-1] < gaps[-1]:
                    return None     # no gap yet, or its live state is still coming
                return apply(live_state(stalled.records), stalled.records[ends[-1] + 1:])

            stalled.read_until(lambda: (state_now() or set()) >= {l1}, timeout=60,
                               what="GAP, live state and the L1 alloc")
            gaps = stalled.kinds(wire.S_GAP)
            delivered = len(stalled.kinds(wire.S_ALLOC, wire.S_FREE))
            assert gaps[0]["size"] > 0
            assert sum(g["size"] for g in gaps) + delivered == len(events) + 1
            truth = {(me, 0, wire.DRAM, 0x100000 + i * 64, 64) for i in range(1, n, 2)} | {l1}
            assert state_now() == truth
        stalled.close()
        assert "dropping slow client" not in srv.log()
    finally:
        srv.stop()


def test_bad_stream_requests_are_refused(server):
    with wire.Client(server.socket, wire.CONSUMER) as c:
        c.send(wire.stream_req(flags=7))
        code, text = c.expect_error()
        assert code == wire.ERR_MALFORMED and "flags" in text
    with wire.Client(server.socket, wire.CONSUMER) as c:
        c.send(wire.stream_req())
        c.send(wire.stream_req())
        code, text = c.expect_closed() or (None, "")
        assert code == wire.ERR_MALFORMED and "second STREAM_REQ" in text
    with wire.Client(server.socket, wire.PRODUCER) as c:
        c.send(wire.stream_req())
        code, text = c.expect_error()
        assert code == wire.ERR_ROLE
    with wire.Client(server.socket, wire.CONSUMER) as c:
        c.send(wire.frame(wire.STREAM_REQ, b"\0" * 4))
        code, text = c.expect_error()
        assert code == wire.ERR_MALFORMED
    # The server still answers.
    with wire.Client(server.socket, wire.CONSUMER) as c:
        c.send(wire.stream_req())
        sub_records = []
        while not any(r["kind"] == wire.S_LIVE_END for r in sub_records):
            mtype, payload = c.recv_frame()
            if mtype == wire.STREAM_EVENTS:
                sub_records += wire.stream_records(payload)


# Run as another user: subscribe, print the pids of every PROCESS and record seen
# until LIVE_END, then wait for one ALLOC of its own and print the pids again.
SPY = r'''
import json, sys, wire
c = wire.Client(sys.argv[1], wire.CONSUMER)
c.send(wire.stream_req())
pids, done = set(), False
while True:
    mtype, payload = c.recv_frame()
    if mtype == wire.STREAM_PROCESS:
        pids.add(wire.stream_process(payload)["pid"])
    elif mtype == wire.STREAM_EVENTS:
        for r in wire.stream_records(payload):
            if r["pid"]:
                pids.add(r["pid"])
            if r["kind"] == wire.S_LIVE_END and not done:
                print(json.dumps(sorted(pids)), flush=True)
                done = True
            if r["kind"] == wire.S_ALLOC and r["address"] == 0x5150:
                print(json.dumps(sorted(pids)), flush=True)
                sys.exit(0)
'''


@needs_root
def test_another_user_sees_only_its_own_processes(open_dir):  # noqa: F811
    srv = Server(open_dir).start()
    try:
        with wire.Client(srv.socket, wire.PRODUCER) as root_prod:
            root_prod.send(wire.events_frames([wire.alloc(0, wire.DRAM, 0x1000, 4096)])[0])
            root_prod.flush()
            spy = subprocess.Popen([sys.executable, "-c", SPY, srv.socket],
                                   stdout=subprocess.PIPE, text=True, env=child_env(),
                                   **as_user())
            first = spy.stdout.readline()
            assert first.strip() == "[]", f"another user saw root's processes: {first}"
            other = UserProducer(srv.socket, "mine")
            root_prod.send(wire.events_frames([wire.alloc(0, wire.DRAM, 0x2000, 4096)])[0])
            root_prod.flush()
            assert other.allocs([(0, wire.DRAM, 0x5150, 64)]) == "ok"
            second = spy.stdout.readline()
            assert second.strip() == f"[{other.pid}]", second
            assert spy.wait(timeout=20) == 0
            spy.stdout.close()
            other.close()
    finally:
        srv.stop()
