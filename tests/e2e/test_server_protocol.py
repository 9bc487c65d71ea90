# SPDX-License-Identifier: Apache-2.0
"""tt-alloc-server against raw frames: the handshake, a version mismatch, and
every kind of bad input. After each bad client, the server is still up and a
well-behaved producer's figures (a separate process) are exact to the byte."""
import socket
import struct

import pytest

import wire
from wire import Client, ChildProducer

GIB = 1 << 30

# A witness: another process with known buffers on two devices.
WITNESS_ALLOCS = [(0, wire.DRAM, 0x1000, 3 * GIB + 5), (0, wire.L1, 0x40, 1499136),
                  (1, wire.TRACE, 0x0, 12345)]
WITNESS_BYTES = sum(a[3] for a in WITNESS_ALLOCS)


@pytest.fixture
def witness(server):
    child = ChildProducer(server.socket, "witness")
    assert child.allocs(WITNESS_ALLOCS) == "ok"
    yield child
    child.close()


def check_witness(server, witness):
    """The server answers and the witness's figures are exact."""
    with Client(server.socket, wire.CONSUMER) as c:
        snap = c.snapshot()
    assert wire.process_bytes(snap, witness.pid) == WITNESS_BYTES
    assert wire.device_used(snap, 0)[wire.DRAM] == 3 * GIB + 5
    assert wire.device_used(snap, 0)[wire.L1] == 1499136
    assert wire.device_used(snap, 1)[wire.TRACE] == 12345
    # And the witness can still talk to it.
    assert witness.allocs([(2, wire.CB, 1, 1)]) == "ok"
    assert witness.events([(wire.OP_FREE, 2, wire.CB, 1, 0)]) == "ok"
    assert server.proc.poll() is None


def test_handshake_reports_kernel_identity(server):
    import os
    with Client(server.socket) as c:
        c.send(wire.hello(wire.PRODUCER, b"lbl", claimed_pid=1))  # a lie, ignored
        mtype, payload = c.recv_frame()
        assert mtype == wire.HELLO_ACK
        ack = wire.HELLO_ACK_S.unpack(payload)
        assert ack[0] == wire.MAGIC and ack[1] == wire.VERSION
        assert ack[3] == server.proc.pid
        assert ack[4] == os.getpid()
        assert ack[5] == os.getuid()
        assert ack[7].rstrip(b"\0") == b"0.1.0"
        c.send_events([wire.alloc(0, wire.DRAM, 8, 100)])
        assert c.flush(77)
        with Client(server.socket, wire.CONSUMER) as q:
            snap = q.snapshot()
    procs = {p["pid"]: p for p in snap["processes"]}
    assert 1 not in procs
    assert procs[os.getpid()]["bytes"] == 100
    assert procs[os.getpid()]["label"] == "lbl"
    assert procs[os.getpid()]["uid"] == os.getuid()


def test_version_mismatch_names_both_versions(server, witness):
    with Client(server.socket) as c:
        c.send(wire.hello(version=1))
        code, text = c.expect_error()
    assert code == wire.ERR_VERSION
    assert "2" in text and "1" in text and "version" in text, text
    assert "client speaks 1, server speaks 2" in server.log()
    check_witness(server, witness)


def test_old_short_hello_gets_version_error(server):
    # A future or past client whose HELLO is only the fixed 8-byte prefix.
    with Client(server.socket) as c:
        c.send(wire.frame(wire.HELLO, struct.pack("<IHH", wire.MAGIC, 7, wire.PRODUCER)))
        code, text = c.expect_error()
    assert code == wire.ERR_VERSION
    assert "7" in text


def producer_then(frame_bytes):
    return [wire.hello(wire.PRODUCER), frame_bytes]


def consumer_then(frame_bytes):
    return [wire.hello(wire.CONSUMER), frame_bytes]


BAD_INPUTS = {
    # name: (frames to send, expected error code, text in the log)
    "garbage": ([b"\xde\xad\xbe\xef" * 50], wire.ERR_MALFORMED, "length field"),
    "truncated-header": ([b"\x01\x00\x00"], wire.ERR_MALFORMED, "shorter than its header"),
    "length-mismatch": ([wire.frame(wire.HELLO, b"x" * 80, length=81)], wire.ERR_MALFORMED,
                        "does not match"),
    "length-huge": ([wire.frame(wire.EVENTS, b"", length=0xFFFFFFFF)], wire.ERR_MALFORMED,
                    "does not match"),
    "unknown-type": (producer_then(wire.frame(999, b"abc")), wire.ERR_MALFORMED,
                     "unknown message type"),
    "type-zero": ([wire.frame(0)], wire.ERR_MALFORMED, "unknown message type"),
    "not-hello-first": ([wire.frame(wire.SNAPSHOT_REQ)], wire.ERR_MALFORMED,
                        "first frame must be HELLO"),
    "bad-magic": ([wire.hello(magic=0x12345678)], wire.ERR_MALFORMED, "bad magic"),
    "bad-role": ([wire.hello(role=3)], wire.ERR_MALFORMED, "unknown client role"),
    "second-hello": (producer_then(wire.hello()), wire.ERR_MALFORMED, "second HELLO"),
    "consumer-sends-events": (consumer_then(wire.frame(wire.EVENTS,
                                                       wire.alloc(0, 0, 0, 1))),
                              wire.ERR_ROLE, "a consumer may not send EVENTS"),
    "consumer-sends-flush": (consumer_then(wire.flush(1)), wire.ERR_ROLE,
                             "a consumer may not send FLUSH"),
    "producer-sends-snapshot-req": (producer_then(wire.frame(wire.SNAPSHOT_REQ)),
                                    wire.ERR_ROLE, "a producer may not send SNAPSHOT_REQ"),
    "client-sends-server-frame": (consumer_then(wire.frame(wire.SNAP_END)), wire.ERR_ROLE,
                                  "may not send SNAP_END"),
    "events-not-whole": (producer_then(wire.frame(wire.EVENTS, b"x" * 25)),
                         wire.ERR_MALFORMED, "payload size not allowed"),
    "empty-events": (producer_then(wire.frame(wire.EVENTS)), wire.ERR_MALFORMED,
                     "payload size not allowed"),
    "event-bad-type": (producer_then(wire.frame(wire.EVENTS, wire.alloc(0, 6, 0, 1))),
                       wire.ERR_MALFORMED, "malformed event (type 6, op 1, size 1)"),
    "event-bad-op": (producer_then(wire.frame(wire.EVENTS, wire.event(9, 0, 0, 0, 1))),
                     wire.ERR_MALFORMED, "malformed event"),
    "event-zero-size": (producer_then(wire.frame(wire.EVENTS, wire.alloc(0, 0, 0, 0))),
                        wire.ERR_MALFORMED, "malformed event"),
    # Past 1 TiB of one type on one device (more than any board has): implausible.
    "event-overflow": (producer_then(wire.frame(wire.EVENTS, wire.alloc(0, 0, 0, 1 << 40) +
                                                wire.alloc(0, 0, 8, 1))),
                       wire.ERR_MALFORMED, "malformed event (type 0, op 1, size 1)"),
    "subscribe-too-fast": (consumer_then(wire.subscribe(9)), wire.ERR_LIMIT,
                           "below the minimum"),
    "flush-wrong-size": (producer_then(wire.frame(wire.FLUSH, b"1234")), wire.ERR_MALFORMED,
                         "payload size not allowed"),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_kicks_only_that_client(server, witness, name):
    frames, code, log_text = BAD_INPUTS[name]
    with Client(server.socket) as c:
        for f in frames:
            c.send(f)
        error = c.expect_closed()
    assert error is not None, "no ERROR frame before the close"
    assert error[0] == code, error
    log = server.log()
    assert log_text in log, log
    check_witness(server, witness)


def test_oversized_frame(server, witness):
    with Client(server.socket, wire.PRODUCER) as c:
        c.send_events([wire.alloc(0, wire.DRAM, 1, 999)])
        c.flush()
        c.send(wire.frame(wire.EVENTS, wire.alloc(0, 0, 0, 1) * 2800))  # 67,208 bytes
        error = c.expect_closed()
    assert error is not None and error[0] == wire.ERR_MALFORMED
    assert "larger than the 65536-byte maximum" in error[1]
    assert "dropping its 1 buffers" in server.log()
    check_witness(server, witness)
    # The kicked producer's buffers were dropped.
    with Client(server.socket, wire.CONSUMER) as q:
        import os
        assert wire.process_bytes(q.snapshot(), os.getpid()) == 0


def test_largest_frame_is_fine(server):
    with Client(server.socket, wire.PRODUCER) as c:
        events = [wire.alloc(0, wire.L1, i * 64, i + 1) for i in range(wire.EVENTS_PER_FRAME)]
        f = wire.frame(wire.EVENTS, b"".join(events))
        assert len(f) <= wire.MAX_FRAME and len(f) + wire.EVENT_S.size > wire.MAX_FRAME
        c.send(f)
        c.flush()
        with Client(server.socket, wire.CONSUMER) as q:
            snap = q.snapshot()
    n = wire.EVENTS_PER_FRAME
    assert wire.device_used(snap, 0)[wire.L1] == n * (n + 1) // 2


def test_zero_length_packet_and_silent_close(server, witness):
    # Connect and close without a word; connect and send nothing but an
    # empty packet (indistinguishable from EOF on SEQPACKET).
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(server.socket)
    s.close()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(server.socket)
    s.send(b"")
    s.settimeout(10)
    assert s.recv(100) == b""
    s.close()
    check_witness(server, witness)


def test_flooding_producer_does_not_starve_others(server, witness):
    """A client pushing events as fast as it can: the others are still
    served promptly and exactly, and its own events are all applied."""
    import subprocess
    import sys
    flood = subprocess.Popen([sys.executable, "-c", FLOOD_SCRIPT, server.socket],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert flood.stdout.readline().strip() == "flooding"
        for _ in range(20):
            check_witness(server, witness)
    finally:
        flood.kill()
        flood.wait(timeout=20)
        flood.stdout.close()
    wire.wait_pid_gone(flood.pid)
    with Client(server.socket, wire.CONSUMER) as q:
        from conftest import wait_for
        wait_for(lambda: wire.process_bytes(q.snapshot(), flood.pid) is None,
                 what="the flooder's exit")
        snap = q.snapshot()
    assert wire.process_bytes(snap, witness.pid) == WITNESS_BYTES
    assert snap["events_total"] > 2 * wire.EVENTS_PER_FRAME


# Allocates and frees the same buffers forever: its live set is bounded.
FLOOD_SCRIPT = r"""
import sys
sys.path.insert(0, %r)
import wire
c = wire.Client(sys.argv[1], wire.PRODUCER)
allocs = [wire.alloc(5, wire.DRAM, i * 64, 4096) for i in range(wire.EVENTS_PER_FRAME)]
frees = [wire.free(5, wire.DRAM, i * 64) for i in range(wire.EVENTS_PER_FRAME)]
fa, ff = wire.events_frames(allocs)[0], wire.events_frames(frees)[0]
print("flooding", flush=True)
while True:
    c.send(fa)
    c.send(ff)
""" % str(__import__("pathlib").Path(__file__).resolve().parent)


def test_flooding_requests_without_reading_get_dropped(tmp_path):
    """A consumer that sends requests and never reads its answers is dropped
    once its queue passes --max-queue; the server does not wait on it."""
    from conftest import Server
    srv = Server(tmp_path, extra_args=["--max-queue", "200000"]).start()
    try:
        child = ChildProducer(srv.socket)
        assert child.allocs([(0, wire.DRAM, i, 1000) for i in range(2000)]) == "ok"
        greedy = Client(srv.socket, wire.CONSUMER)
        greedy.sock.setblocking(False)
        sent = 0
        try:
            for _ in range(100000):
                greedy.send(wire.buffers_req(child.pid, 0))
                sent += 1
        except (BlockingIOError, BrokenPipeError, ConnectionResetError):
            pass
        from conftest import wait_for
        wait_for(lambda: "dropping slow client" in srv.log(), what="the drop")
        greedy.close()
        with Client(srv.socket, wire.CONSUMER) as q:
            assert wire.process_bytes(q.snapshot(), child.pid) == 2000 * 1000
        child.close()
        assert sent > 0
    finally:
        srv.stop()


def test_silent_connection_is_closed_after_hello_timeout(server, witness):
    with Client(server.socket) as c:
        code, text = c.expect_error(timeout=30)
    assert code == wire.ERR_MALFORMED
    assert "no HELLO within 5 seconds" in text
    check_witness(server, witness)
