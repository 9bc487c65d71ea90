# SPDX-License-Identifier: Apache-2.0
"""A small pure-Python encoder/decoder of tt-alloc's wire protocol
(src/common/proto.h, docs/PROTOCOL.md), for tests that speak raw frames to
tt-alloc-server without the C library. Native layout of x86-64/aarch64
(little-endian, natural alignment); sizes are checked against the C ones.
"""
import os
import select
import socket
import struct
import time

MAGIC = 0x4C415454
VERSION = 2
MAX_FRAME = 65536

# message types
HELLO, HELLO_ACK, ERROR = 1, 2, 3
DEVICE_DESC, EVENTS, RESYNC_BEGIN, RESYNC_END, FLUSH, FLUSH_ACK = 10, 11, 12, 13, 14, 15
PEAKS = 16
SNAPSHOT_REQ, SUBSCRIBE, BUFFERS_REQ, EXITS_REQ = 20, 21, 22, 23
SNAP_BEGIN, SNAP_DEVICES, SNAP_PROCESSES, SNAP_USAGE, SNAP_END = 30, 31, 32, 33, 34
BUFFERS, BUFFERS_END, EXITS, EXITS_END = 35, 36, 37, 38
STREAM_REQ = 24
STREAM_EVENTS, STREAM_PROCESS, STREAM_DEVICE = 40, 41, 42
# kinds of a STREAM_EVENTS record
S_ALLOC, S_FREE, S_RESET_PEAK, S_EXIT, S_GAP, S_LIVE_BEGIN, S_LIVE_BUFFER, S_LIVE_END = range(1, 9)

PRODUCER, CONSUMER = 1, 2
ERR_VERSION, ERR_MALFORMED, ERR_LIMIT, ERR_ROLE = 1, 2, 3, 4
OP_ALLOC, OP_FREE, OP_RESET_PEAK = 1, 2, 3
DRAM, L1, SYSTEM_MEMORY, L1_SMALL, TRACE, CB = range(6)
NUM_TYPES = 6

HEADER = struct.Struct("<HHI")
HELLO_S = struct.Struct("<IHHiI64s")
HELLO_ACK_S = struct.Struct("<IHHiiII32s")
ERROR_S = struct.Struct("<II")
DEVICE_DESC_S = struct.Struct("<IIQQ6QII16s")
EVENT_S = struct.Struct("<QQIBBHQ")
RESYNC_END_S = struct.Struct("<QQ")
PEAK_S = struct.Struct("<IB3xQ")
FLUSH_S = struct.Struct("<Q")
SUBSCRIBE_S = struct.Struct("<II")
BUFFERS_REQ_S = struct.Struct("<iI")
SNAP_BEGIN_S = struct.Struct("<QQQQQIIIIiI")
DEVICE_STATS_S = struct.Struct("<IIQQ6Q6Q6QQII16s")
PROCESS_INFO_S = struct.Struct("<iIIIQQQQ32s64s")
USAGE_S = struct.Struct("<iI6Q6QQ")
BUFFER_S = struct.Struct("<QQIB3x")
EXIT_S = struct.Struct("<iIQ32sII6Q6Q64s")
STREAM_REQ_S = struct.Struct("<II")
STREAM_RECORD_S = struct.Struct("<QQIBBHiIQ")
STREAM_PROCESS_S = struct.Struct("<iIiIQQ32s64s")
STREAM_DEVICE_S = struct.Struct("<IIQQQ6QII16s")

assert HEADER.size == 8 and HELLO_S.size == 80 and HELLO_ACK_S.size == 56
assert DEVICE_DESC_S.size == 96 and EVENT_S.size == 32 and SNAP_BEGIN_S.size == 64
assert DEVICE_STATS_S.size == 200 and PROCESS_INFO_S.size == 144 and USAGE_S.size == 112
assert BUFFER_S.size == 24 and EXIT_S.size == 216 and PEAK_S.size == 16
assert STREAM_RECORD_S.size == 40 and STREAM_PROCESS_S.size == 128 and STREAM_DEVICE_S.size == 104

EVENTS_PER_FRAME = (MAX_FRAME - HEADER.size) // EVENT_S.size


# ---- encoding ----

def frame(mtype, payload=b"", length=None, flags=0):
    """A frame; `length` overrides the header's length field (for bad input)."""
    return HEADER.pack(mtype, flags, len(payload) if length is None else length) + payload


def hello(role=PRODUCER, label=b"", version=VERSION, magic=MAGIC, claimed_pid=0):
    return frame(HELLO, HELLO_S.pack(magic, version, role, claimed_pid, 0, label))


def event(op, device, mtype, address, size=0, timestamp_ns=None):
    """One event; its timestamp is now (CLOCK_MONOTONIC) unless given."""
    if timestamp_ns is None:
        timestamp_ns = time.monotonic_ns()
    return EVENT_S.pack(address, size, device, mtype, op, 0, timestamp_ns)


def alloc(device, mtype, address, size):
    return event(OP_ALLOC, device, mtype, address, size)


def free(device, mtype, address):
    return event(OP_FREE, device, mtype, address, 0)


def events_frames(events):
    """EVENTS frames for a list of packed events, split to fit."""
    return [frame(EVENTS, b"".join(events[i:i + EVENTS_PER_FRAME]))
            for i in range(0, len(events), EVENTS_PER_FRAME)]


def device_desc(device, serial=0, asic_id=0, capacity=(0,) * NUM_TYPES, remote=0,
                board_type=b""):
    return frame(DEVICE_DESC, DEVICE_DESC_S.pack(device, 0, serial, asic_id, *capacity,
                                                 remote, 0, board_type))


def reset_peak(timestamp_ns=None):
    """A RESET_PEAK event (the sender's peaks, at its place in the stream)."""
    return event(OP_RESET_PEAK, 0, 0, 0, 0, timestamp_ns)


def peaks(records):
    """A PEAKS frame from (device, type, peak_bytes) tuples."""
    return frame(PEAKS, b"".join(PEAK_S.pack(d, t, b) for d, t, b in records))


def resync_end(buffers, nbytes):
    return frame(RESYNC_END, RESYNC_END_S.pack(buffers, nbytes))


def flush(token):
    return frame(FLUSH, FLUSH_S.pack(token))


def subscribe(interval_ms):
    return frame(SUBSCRIBE, SUBSCRIBE_S.pack(interval_ms, 0))


def stream_req(flags=0):
    return frame(STREAM_REQ, STREAM_REQ_S.pack(flags, 0))


def buffers_req(pid, max_buffers):
    return frame(BUFFERS_REQ, BUFFERS_REQ_S.pack(pid, max_buffers))


# ---- decoding ----

class ServerError(Exception):
    """An ERROR frame from the server."""

    def __init__(self, code, text):
        super().__init__(f"server error {code}: {text}")
        self.code = code
        self.text = text


def parse(data):
    """(type, payload) of a received frame; checks the header like proto.c."""
    assert len(data) >= HEADER.size, f"short frame of {len(data)} bytes"
    mtype, flags, length = HEADER.unpack_from(data)
    assert flags == 0
    assert length == len(data) - HEADER.size, "length field does not match"
    return mtype, data[HEADER.size:]


def parse_error(payload):
    code, _ = ERROR_S.unpack_from(payload)
    return code, payload[ERROR_S.size:].decode("utf-8", "replace")


def _records(s, payload):
    assert len(payload) % s.size == 0, "payload not a whole number of records"
    return [s.unpack_from(payload, off) for off in range(0, len(payload), s.size)]


def _cstr(raw):
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def device_stats(rec):
    return {"device": rec[0], "flags": rec[1], "board_serial": rec[2], "asic_id": rec[3],
            "used": list(rec[4:10]), "total": list(rec[10:16]), "peak": list(rec[16:22]),
            "buffers": rec[22], "processes": rec[23], "board_type": _cstr(rec[25])}


def process_info(rec):
    return {"pid": rec[0], "uid": rec[1], "flags": rec[2], "buffers": rec[4], "bytes": rec[5],
            "peak_bytes": rec[6], "start_ns": rec[7], "name": _cstr(rec[8]),
            "label": _cstr(rec[9])}


def usage(rec):
    return {"pid": rec[0], "device": rec[1], "bytes": list(rec[2:8]), "peak": list(rec[8:14]),
            "buffers": rec[14]}


def exit_record(rec):
    return {"pid": rec[0], "uid": rec[1], "time_ns": rec[2], "name": _cstr(rec[3]),
            "device": rec[4], "bytes": list(rec[6:12]), "buffers": list(rec[12:18]),
            "label": _cstr(rec[18])}


def stream_records(payload):
    """A STREAM_EVENTS payload as dicts."""
    return [{"kind": r[4], "pid": r[6], "device": r[2], "type": r[3], "address": r[0],
             "size": r[1], "timestamp_ns": r[8]} for r in _records(STREAM_RECORD_S, payload)]


def stream_process(payload):
    r = STREAM_PROCESS_S.unpack(payload)
    return {"pid": r[0], "uid": r[1], "parent_pid": r[2], "start_realtime_ns": r[4],
            "timestamp_ns": r[5], "name": _cstr(r[6]), "label": _cstr(r[7])}


def stream_device(payload):
    r = STREAM_DEVICE_S.unpack(payload)
    return {"device": r[0], "timestamp_ns": r[2], "board_serial": r[3], "asic_id": r[4],
            "capacity": list(r[5:11]), "is_remote": r[11], "board_type": _cstr(r[13])}


# ---- a client ----

class Client:
    """One raw connection to the server."""

    def __init__(self, path, role=None, label=b"", sndbuf=1 << 20, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.connect(str(path))
        self.timeout = timeout
        self.ack = None
        if role is not None:
            self.hello(role, label)

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def fileno(self):
        return self.sock.fileno()

    def send(self, data):
        self.sock.send(data)

    def recv(self, timeout=None):
        """The next frame's raw bytes; b"" at EOF; TimeoutError if none in time."""
        ready, _, _ = select.select([self.sock], [], [], self.timeout if timeout is None
                                    else timeout)
        if not ready:
            raise TimeoutError("no frame from the server in time")
        try:
            return self.sock.recv(MAX_FRAME + 1)
        except ConnectionResetError:
            return b""

    def recv_frame(self, timeout=None):
        """(type, payload); ServerError on ERROR; EOFError at EOF."""
        data = self.recv(timeout)
        if not data:
            raise EOFError("server closed the connection")
        mtype, payload = parse(data)
        if mtype == ERROR:
            raise ServerError(*parse_error(payload))
        return mtype, payload

    def expect_error(self, timeout=None):
        """Read until an ERROR frame, then check the connection is closed.
        Returns (code, text)."""
        while True:
            data = self.recv(timeout)
            assert data, "connection closed without an ERROR frame"
            mtype, payload = parse(data)
            if mtype == ERROR:
                break
        code, text = parse_error(payload)
        assert self.recv(timeout) == b"", "connection still open after ERROR"
        return code, text

    def expect_closed(self, timeout=None):
        """Skip frames until EOF; return the ERROR (code, text) seen, if any."""
        error = None
        while True:
            data = self.recv(timeout)
            if not data:
                return error
            mtype, payload = parse(data)
            if mtype == ERROR:
                error = parse_error(payload)

    def hello(self, role=PRODUCER, label=b""):
        self.send(hello(role, label))
        mtype, payload = self.recv_frame()
        assert mtype == HELLO_ACK
        magic, version, _, server_pid, peer_pid, peer_uid, _, sv = HELLO_ACK_S.unpack(payload)
        assert magic == MAGIC and version == VERSION
        self.ack = {"server_pid": server_pid, "peer_pid": peer_pid, "peer_uid": peer_uid,
                    "server_version": _cstr(sv)}
        return self.ack

    # producers
    def send_events(self, events):
        for f in events_frames(events):
            self.send(f)

    def flush(self, token=1):
        self.send(flush(token))
        mtype, payload = self.recv_frame()
        assert mtype == FLUSH_ACK, f"expected FLUSH_ACK, got {mtype}"
        assert FLUSH_S.unpack(payload)[0] == token
        return True

    # consumers
    def read_snapshot(self, timeout=None):
        """Read one pushed or requested snapshot."""
        mtype, payload = self.recv_frame(timeout)
        assert mtype == SNAP_BEGIN, f"expected SNAP_BEGIN, got {mtype}"
        b = SNAP_BEGIN_S.unpack(payload)
        snap = {"seq": b[0], "timestamp_ns": b[1], "events_total": b[2], "exits_total": b[3],
                "leaked_exits_total": b[4], "clients": b[8], "server_pid": b[9],
                "devices": [], "processes": [], "usage": []}
        n_devices, n_processes, n_usage = b[5], b[6], b[7]
        while True:
            mtype, payload = self.recv_frame(timeout)
            if mtype == SNAP_END:
                break
            if mtype == SNAP_DEVICES:
                snap["devices"] += [device_stats(r) for r in _records(DEVICE_STATS_S, payload)]
            elif mtype == SNAP_PROCESSES:
                snap["processes"] += [process_info(r)
                                      for r in _records(PROCESS_INFO_S, payload)]
            elif mtype == SNAP_USAGE:
                snap["usage"] += [usage(r) for r in _records(USAGE_S, payload)]
            else:
                raise AssertionError(f"unexpected frame type {mtype} in a snapshot")
        assert len(snap["devices"]) == n_devices
        assert len(snap["processes"]) == n_processes
        assert len(snap["usage"]) == n_usage
        return snap

    def snapshot(self):
        self.send(frame(SNAPSHOT_REQ))
        return self.read_snapshot()

    def buffers(self, pid, max_buffers=0):
        self.send(buffers_req(pid, max_buffers))
        out = []
        while True:
            mtype, payload = self.recv_frame()
            if mtype == BUFFERS_END:
                return out
            assert mtype == BUFFERS
            out += [{"address": r[0], "size": r[1], "device": r[2], "type": r[3]}
                    for r in _records(BUFFER_S, payload)]

    def exits(self):
        self.send(frame(EXITS_REQ))
        out = []
        while True:
            mtype, payload = self.recv_frame()
            if mtype == EXITS_END:
                return out
            assert mtype == EXITS
            out += [exit_record(r) for r in _records(EXIT_S, payload)]


# ---- views of a snapshot ----

def process_bytes(snap, pid):
    """Live bytes of pid in a snapshot, or None if it is not listed."""
    for p in snap["processes"]:
        if p["pid"] == pid:
            return p["bytes"]
    return None


def device_used(snap, device):
    """used[] of a device in a snapshot (zeros if absent)."""
    for d in snap["devices"]:
        if d["device"] == device:
            return d["used"]
    return [0] * NUM_TYPES


def wait_pid_gone(pid, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.005)
    return False


# ---- a producer in a child process (a real, separate PID) ----

class ChildProducer:
    """`python3 wire.py producer SOCKET LABEL` in a child process: it says
    HELLO, then takes JSON commands on stdin, one a line:
    {"events": [[op, device, type, address, size], ...]} sends them and
    FLUSHes; {"raw": "<hex frame>"} sends one frame and FLUSHes. It answers
    each line with one line: "ok", or "error <text>"."""

    def __init__(self, socket_path, label="", timeout=20.0):
        import subprocess
        import sys
        self.timeout = timeout
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "producer",
                                      str(socket_path), label],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
        self.pid = self.proc.pid
        line = self._readline()
        assert line == f"ready {self.pid}", f"child said {line!r}"

    def _readline(self):
        fd = self.proc.stdout.fileno()
        out = b""
        deadline = time.monotonic() + self.timeout
        while not out.endswith(b"\n"):
            left = deadline - time.monotonic()
            ready, _, _ = select.select([fd], [], [], max(left, 0))
            if not ready:
                raise TimeoutError(f"child producer {self.pid} did not answer")
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            out += chunk
        return out.decode().strip()

    def command(self, obj):
        import json
        self.proc.stdin.write((json.dumps(obj) + "\n").encode())
        return self._readline()

    def events(self, events):
        """events: (op, device, type, address, size) tuples. Returns the answer."""
        return self.command({"events": [list(e) for e in events]})

    def allocs(self, allocs):
        """allocs: (device, type, address, size) tuples."""
        return self.events([(OP_ALLOC, *a) for a in allocs])

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=20)
        self.proc.stdin.close()
        self.proc.stdout.close()

    def close(self):
        """End it normally (EOF on stdin: it closes its socket and exits)."""
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=20)
        else:
            self.proc.stdin.close()
        self.proc.stdout.close()


def _child_main(argv):
    import json
    import sys
    path, label = argv[0], argv[1].encode() if len(argv) > 1 else b""
    client = Client(path, PRODUCER, label)
    print(f"ready {os.getpid()}", flush=True)
    token = 0
    for line in sys.stdin:
        cmd = json.loads(line)
        try:
            if "events" in cmd:
                client.send_events([event(op, d, t, a, s) for op, d, t, a, s in cmd["events"]])
            if "raw" in cmd:
                client.send(bytes.fromhex(cmd["raw"]))
            token += 1
            client.flush(token)
            print("ok", flush=True)
        except (ServerError, EOFError, OSError, AssertionError) as e:
            print(f"error {e}", flush=True)
    client.close()


if __name__ == "__main__":
    import sys
    if len(sys.argv) >= 3 and sys.argv[1] == "producer":
        _child_main(sys.argv[2:])
    else:
        sys.exit("usage: wire.py producer SOCKET [LABEL]")
