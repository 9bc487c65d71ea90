# SPDX-License-Identifier: Apache-2.0
"""ttalloc: record Tenstorrent device allocations and query tt-alloc-server.

A ctypes binding of libttalloc (include/ttalloc.h): nothing to compile.

Recording (what an allocator calls; never blocks, works with no server):
    ttalloc.record_alloc(0, "dram", 0x1000, 4096)
    ttalloc.record_free(0, ttalloc.BufferType.DRAM, 0x1000)
    ttalloc.flush(timeout=5)          # wait until the server applied them

This process's memory, as torch.cuda reports it (exact, no server needed):
    ttalloc.memory_allocated(0, "dram")       # bytes live now
    ttalloc.max_memory_allocated(0, "dram")   # peak since start or the last reset
    ttalloc.reset_peak_memory_stats()

Querying (what tools and tests call):
    ttalloc.snapshot()                # the structure `tt-smi --json` prints
    ttalloc.buffers(pid)              # one process's live buffers
    ttalloc.exits()                   # processes that died with buffers live

Reading recordings (tt-alloc-record's .ttrec files):
    for ev in ttalloc.read_recording("run.ttrec"):
        print(ev.kind, ev.time_s, ev.pid, ev.address, ev.size)

Checking for leaks:
    with ttalloc.no_leaks():
        run_model()                   # raises ttalloc.LeakError if it leaks

Timeouts are in seconds (None: wait forever). Errors are OSError subclasses
(TTAllocError and below) carrying the errno and its meaning.
"""
import ctypes
import errno as _errno
import os

from . import _lib
from ._lib import LibraryNotFound
from ._recording import (Event as RecordingEvent, Recording, RecordingError, open_recording,
                         read_recording)
from ._snapshot import to_json as _to_json
from ._types import (Buffer, BufferType, Closing as _Closing, Exit, FlushTimeout,
                     InvalidArgument, LeakError, ProtocolError, ServerPermissionError,
                     ServerUnavailable, TTAllocError, check as _check, format_leaks)

__version__ = "0.1.0"

__all__ = [
    "BufferType", "Buffer", "Exit", "Connection",
    "TTAllocError", "InvalidArgument", "ServerUnavailable", "ServerPermissionError",
    "FlushTimeout", "ProtocolError", "LeakError", "LibraryNotFound",
    "record_alloc", "record_free", "flush", "describe_device", "set_label",
    "memory_allocated", "max_memory_allocated", "reset_peak_memory_stats",
    "connect", "snapshot", "buffers", "exits", "no_leaks", "library_path", "format_leaks",
    "read_recording", "open_recording", "Recording", "RecordingEvent", "RecordingError",
]

DEFAULT_TIMEOUT = 5.0
_U32 = 0xFFFFFFFF
_U64 = 0xFFFFFFFFFFFFFFFF


def _ms(timeout):
    if timeout is None:
        return -1
    if timeout < 0:
        raise InvalidArgument(22, f"negative timeout {timeout!r} (None waits forever)")
    return min(int(timeout * 1000 + 0.5), 0x7FFFFFFF)


def _uint(value, limit, what):
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limit:
        raise InvalidArgument(22, f"{what} must be an integer in 0..{limit:#x}, got {value!r}")
    return value


def library_path():
    """What libttalloc was loaded as (loading it if needed)."""
    _lib.load()
    return _lib.path()


# ---------------------------------------------------------------------------
# Recording


def record_alloc(device, type, address, size):
    """Record `size` bytes at `address` of memory `type` on `device`."""
    lib = _lib.load()
    t = BufferType.of(type)
    _check(lib.ttalloc_record_alloc(_uint(device, _U32, "device"), int(t),
                                    _uint(address, _U64, "address"),
                                    _uint(size, _U64, "size")), "record_alloc")


def record_free(device, type, address):
    """Record that the buffer at (device, type, address) was freed."""
    lib = _lib.load()
    t = BufferType.of(type)
    _check(lib.ttalloc_record_free(_uint(device, _U32, "device"), int(t),
                                   _uint(address, _U64, "address")), "record_free")


def flush(timeout=DEFAULT_TIMEOUT):
    """Wait until the server applied everything this process recorded.

    Raises ServerUnavailable (ENOTCONN) with no server, FlushTimeout after
    `timeout` seconds. A process with tracking off (TT_ALLOC_TRACKING=0)
    returns at once."""
    _check(_lib.load().ttalloc_flush(_ms(timeout)), "flush")


def _id(value, what):
    if value is None:
        return 0
    if isinstance(value, str):
        try:
            value = int(value, 16)
        except ValueError:
            raise InvalidArgument(22, f"{what} {value!r} is not a hex number") from None
    return _uint(value, _U64, what)


def describe_device(device, *, board_serial=None, asic_id=None, capacity=None,
                    is_remote=False, board_type=None):
    """Tell the tools what this process knows about `device`.

    board_serial / asic_id: int, or sysfs's hex text ("0000012345ABCDEF").
    capacity: {type: allocatable bytes}, types as BufferType or names.
    board_type: "n300", "p150a", ... Unknown fields may be left out."""
    desc = _lib.DeviceDesc()
    desc.board_serial = _id(board_serial, "board_serial")
    desc.asic_id = _id(asic_id, "asic_id")
    for t, nbytes in (capacity or {}).items():
        desc.capacity[BufferType.of(t)] = _uint(nbytes, _U64, "capacity")
    desc.is_remote = 1 if is_remote else 0
    if board_type:
        raw = board_type.encode()
        if len(raw) >= 16:
            raise InvalidArgument(22, f"board_type {board_type!r} is longer than 15 bytes")
        desc.board_type = raw
    _check(_lib.load().ttalloc_describe_device(_uint(device, _U32, "device"),
                                               ctypes.byref(desc)), "describe_device")


def set_label(label):
    """A label the tools show beside this process's name (e.g. "llama-70b")."""
    _check(_lib.load().ttalloc_set_label(label.encode()), "set_label")


# ---------------------------------------------------------------------------
# This process's memory and peaks, named and meant as torch.cuda's


def _newer(name, what):
    fn = _lib.function(name)
    if fn is None:
        raise TTAllocError(_errno.ENOSYS, f"{what}: the libttalloc loaded ({_lib.path()}) has "
                           f"no {name}; it predates peak tracking")
    return fn


def _process_memory(device, type):
    fn = _newer("ttalloc_process_memory", "memory_allocated")
    live, peak = ctypes.c_uint64(), ctypes.c_uint64()
    _check(fn(_uint(device, _U32, "device"), int(BufferType.of(type)), ctypes.byref(live),
              ctypes.byref(peak)), "process_memory")
    return int(live.value), int(peak.value)


def memory_allocated(device=0, type="dram"):
    """Bytes of memory `type` this process holds on `device` now, as
    torch.cuda.memory_allocated: counted by the library from every alloc and
    free this process recorded before the call, in order. Exact, and no
    server needed."""
    return _process_memory(device, type)[0]


def max_memory_allocated(device=0, type="dram"):
    """The most bytes of memory `type` this process held on `device` at any
    moment since it started or its last reset_peak_memory_stats(), as
    torch.cuda.max_memory_allocated. Exact: alloc/free churn never inflates
    it, whatever threads recorded it. No server needed."""
    return _process_memory(device, type)[1]


def reset_peak_memory_stats():
    """Reset this process's peaks, of every device and type, to what it holds
    now, as torch.cuda.reset_peak_memory_stats: records before the call count
    toward the old peak, records after it toward the new one. The server's
    figures (tt-smi, /metrics) reset at the same point of the stream."""
    _check(_newer("ttalloc_reset_peak", "reset_peak_memory_stats")(), "reset_peak")


# ---------------------------------------------------------------------------
# Querying


def _struct_dict(rec):
    out = {}
    for name, ctype in rec._fields_:
        if name == "reserved":
            continue
        value = getattr(rec, name)
        if isinstance(value, bytes):
            value = value.split(b"\0", 1)[0].decode("utf-8", "replace")
        elif isinstance(value, ctypes.Array):
            value = {t.label: int(value[t]) for t in BufferType}
        out[name] = value
    return out


class Connection(_Closing):
    """A consumer connection to tt-alloc-server. Use as a context manager, or
    close() it. socket: a path; None means $TT_ALLOC_SOCKET or the default list."""

    def __init__(self, socket=None):
        self._lib = _lib.load()
        self._conn = ctypes.c_void_p()
        arg = os.fsencode(socket) if socket is not None else None
        rc = self._lib.ttalloc_connect(arg, ctypes.byref(self._conn))
        if rc < 0:
            where = socket if socket is not None else os.environ.get(
                "TT_ALLOC_SOCKET", "the default socket paths")
            _check(rc, "connect to tt-alloc-server", where)
        self.path = os.fsdecode(self._lib.ttalloc_conn_path(self._conn))

    def close(self):
        if self._conn:
            self._lib.ttalloc_disconnect(self._conn)
            self._conn = ctypes.c_void_p()

    def _live(self):
        if not self._conn:
            raise TTAllocError(9, "connection is closed")  # EBADF
        return self._conn

    def _with_snapshot(self, timeout, convert):
        ptr = ctypes.POINTER(_lib.Snapshot)()
        _check(self._lib.ttalloc_snapshot(self._live(), _ms(timeout), ctypes.byref(ptr)),
               "snapshot", self.path)
        try:
            return convert(ptr.contents)
        finally:
            self._lib.ttalloc_snapshot_free(ptr)

    def snapshot(self, timeout=DEFAULT_TIMEOUT):
        """The structure `tt-smi --json` prints, from this server's view."""
        return self._with_snapshot(timeout, lambda s: _to_json(s, self.path))

    def raw_snapshot(self, timeout=DEFAULT_TIMEOUT):
        """Every field of struct ttalloc_snapshot as dicts (peaks, labels, flags,
        server counters): more than the tt-smi structure carries."""
        def convert(s):
            out = _struct_dict(s)
            for name in ("devices", "processes", "usage"):
                out[name] = [_struct_dict(getattr(s, name)[i])
                             for i in range(getattr(s, "n_" + name))]
                del out["n_" + name]
            return out
        return self._with_snapshot(timeout, convert)

    def buffers(self, pid=None, timeout=DEFAULT_TIMEOUT, max=None):
        """Live buffers of `pid` (default: this process), largest first."""
        pid = os.getpid() if pid is None else pid
        ptr = ctypes.POINTER(_lib.BufferRec)()
        n = ctypes.c_size_t()
        _check(self._lib.ttalloc_buffers(self._live(), pid,
                                         _U32 if max is None else _uint(max, _U32, "max"),
                                         _ms(timeout), ctypes.byref(ptr), ctypes.byref(n)),
               "buffers", self.path)
        try:
            return [Buffer(device=int(b.device), type=BufferType.of(int(b.type)),
                           address=int(b.address), size=int(b.size))
                    for b in (ptr[i] for i in range(n.value))]
        finally:
            if ptr:
                _lib.free(ptr)

    def exits(self, timeout=DEFAULT_TIMEOUT):
        """Processes that ended with buffers still live, oldest first."""
        ptr = ctypes.POINTER(_lib.ExitRec)()
        n = ctypes.c_size_t()
        _check(self._lib.ttalloc_exits(self._live(), _ms(timeout), ctypes.byref(ptr),
                                       ctypes.byref(n)), "exits", self.path)
        try:
            out = []
            for i in range(n.value):
                e = ptr[i]
                out.append(Exit(pid=int(e.pid), uid=int(e.uid),
                                name=e.name.split(b"\0", 1)[0].decode("utf-8", "replace"),
                                device=int(e.device), time_ns=int(e.time_ns),
                                bytes={t.label: int(e.bytes[t]) for t in BufferType},
                                buffers={t.label: int(e.buffers[t]) for t in BufferType},
                                label=e.label.split(b"\0", 1)[0].decode("utf-8", "replace")))
            return out
        finally:
            if ptr:
                _lib.free(ptr)


def connect(socket=None):
    """A Connection to the server (see Connection)."""
    return Connection(socket)


def snapshot(socket=None, timeout=DEFAULT_TIMEOUT):
    """The server's view in the structure `tt-smi --json` prints."""
    with Connection(socket) as c:
        return c.snapshot(timeout)


def buffers(pid=None, socket=None, timeout=DEFAULT_TIMEOUT, max=None):
    """Live buffers of `pid` (default: this process), largest first."""
    with Connection(socket) as c:
        return c.buffers(pid, timeout, max)


def exits(socket=None, timeout=DEFAULT_TIMEOUT):
    """Processes that ended with buffers still live (the leak report)."""
    with Connection(socket) as c:
        return c.exits(timeout)


# ---------------------------------------------------------------------------
# Leak checking


def live_set(conn, timeout=DEFAULT_TIMEOUT):
    """flush(), then this process's live buffers as a set of Buffer."""
    flush(timeout)
    return set(conn.buffers(os.getpid(), timeout))


def new_buffers(before, after):
    """Buffers of `after` that `before` did not hold. A buffer is a (device,
    type, address, size): one freed and allocated again with another size
    counts as new; freed and allocated again identically cannot be seen."""
    return sorted(after - before, key=lambda b: (b.device, int(b.type), b.address))


class no_leaks:
    """Check that a block frees every device buffer it allocates.

        with ttalloc.no_leaks():
            model = load(); run(model); del model

    On exit, raises LeakError listing this process's buffers that appeared
    during the block and are still live. Needs a server (ServerUnavailable
    otherwise). An exception from the block passes through unchecked.
    After the block, .leaks holds what was found (empty when clean)."""

    def __init__(self, socket=None, timeout=DEFAULT_TIMEOUT, where="the block"):
        self.socket = socket
        self.timeout = timeout
        self.where = where
        self.leaks = []
        self._conn = None
        self._before = None

    def __enter__(self):
        self._conn = Connection(self.socket)
        try:
            self._before = live_set(self._conn, self.timeout)
        except BaseException:
            self._conn.close()
            raise
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is not None:
                return False
            self.leaks = new_buffers(self._before, live_set(self._conn, self.timeout))
        finally:
            self._conn.close()
        if self.leaks:
            raise LeakError(self.leaks, self.where)
        return False
