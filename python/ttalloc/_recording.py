# SPDX-License-Identifier: Apache-2.0
"""Reading tt-alloc recordings (.ttrec) through libttalloc's reader
(include/ttalloc_rec.h): one copy of the format, in C.

    for ev in ttalloc.read_recording("run.ttrec"):
        if ev.kind == "alloc":
            print(ev.time_s, ev.pid, ev.type, hex(ev.address), ev.size)

    with ttalloc.open_recording("run.ttrec") as rec:
        print(rec.host, rec.start_realtime_ns)
        events = list(rec)
        if rec.truncated: ...           # cut short: what was read is the prefix

A file cut short (a crash, or a recording still being written) ends quietly
after its last complete frame, with Recording.truncated set; a corrupt one
raises RecordingError after the valid records before the damage.
"""
import ctypes
import errno as _errno
import os
from typing import NamedTuple, Optional, Tuple

from . import _lib
from ._types import BufferType, Closing, TTAllocError

KINDS = {
    1: "alloc", 2: "free", 3: "peak_reset", 4: "live_begin", 5: "live_buffer", 6: "live_end",
    7: "process_start", 8: "process_exit", 9: "device", 10: "gap", 11: "shm_sample",
    12: "telemetry",
}
HOST_MAX = 64


class RecEvent(ctypes.Structure):
    """struct ttalloc_rec_event."""
    _fields_ = [
        ("kind", ctypes.c_uint32),
        ("pid", ctypes.c_int32),
        ("time_ns", ctypes.c_int64),
        ("device", ctypes.c_uint32),
        ("type", ctypes.c_uint32),
        ("address", ctypes.c_uint64),
        ("size", ctypes.c_uint64),
        ("count", ctypes.c_uint64),
        ("parent_pid", ctypes.c_int32),
        ("uid", ctypes.c_uint32),
        ("name", ctypes.c_char * _lib.NAME_MAX),
        ("label", ctypes.c_char * _lib.LABEL_MAX),
        ("bytes", ctypes.c_uint64 * _lib.NUM_TYPES),
        ("temperature_c", ctypes.c_double),
        ("power_w", ctypes.c_double),
        ("desc", _lib.DeviceDesc),
    ]


class RecInfo(ctypes.Structure):
    """struct ttalloc_rec_info."""
    _fields_ = [
        ("version", ctypes.c_uint32),
        ("reserved", ctypes.c_uint32),
        ("start_realtime_ns", ctypes.c_uint64),
        ("start_monotonic_ns", ctypes.c_uint64),
        ("host", ctypes.c_char * HOST_MAX),
    ]


# ttrec.c pins these sizes at compile time.
_SIZES = {RecEvent: 304, RecInfo: 88}


class RecordingError(TTAllocError):
    """The file is not a recording, is of a newer format, or is corrupt."""


class Event(NamedTuple):
    """One record. Fields a kind does not carry are None (see docs/ttrec.md)."""
    kind: str                       # "alloc", "free", "process_start", ...
    time_ns: int                    # since the start of the recording (< 0: before it)
    pid: Optional[int] = None
    device: Optional[int] = None
    type: Optional[str] = None      # "dram", "l1", ...
    address: Optional[int] = None
    size: Optional[int] = None      # a free's size is 0 when the recorder did not know it
    count: Optional[int] = None     # gap: events lost; live_begin: buffers that follow
    parent_pid: Optional[int] = None
    uid: Optional[int] = None
    name: Optional[str] = None
    label: Optional[str] = None
    bytes: Optional[Tuple[int, ...]] = None   # shm_sample: per BufferType
    temperature_c: Optional[float] = None
    power_w: Optional[float] = None
    board_type: Optional[str] = None

    @property
    def time_s(self):
        return self.time_ns / 1e9


def _text(raw):
    return raw.decode("utf-8", "replace")


def _event(r):
    kind = KINDS.get(r.kind, str(r.kind))
    if r.kind in (1, 2, 5):
        return Event(kind, r.time_ns, pid=r.pid, device=r.device,
                     type=BufferType(r.type).label, address=r.address, size=r.size)
    if r.kind in (3, 8):
        return Event(kind, r.time_ns, pid=r.pid)
    if r.kind in (4, 10):
        return Event(kind, r.time_ns, count=r.count)
    if r.kind == 7:
        return Event(kind, r.time_ns, pid=r.pid, parent_pid=r.parent_pid, uid=r.uid,
                     name=_text(r.name), label=_text(r.label))
    if r.kind == 9:
        return Event(kind, r.time_ns, device=r.device, board_type=_text(r.desc.board_type))
    if r.kind == 11:
        return Event(kind, r.time_ns, pid=r.pid, device=r.device, bytes=tuple(r.bytes))
    if r.kind == 12:
        return Event(kind, r.time_ns, device=r.device, temperature_c=r.temperature_c,
                     power_w=r.power_w)
    return Event(kind, r.time_ns)


_declared = False


def _load():
    global _declared
    lib = _lib.load()
    if not _declared:
        for cls, size in _SIZES.items():
            if ctypes.sizeof(cls) != size:
                raise ImportError(f"ttalloc: struct {cls.__name__} is {ctypes.sizeof(cls)} "
                                  f"bytes here, ttalloc_rec.h says {size}")
        P = ctypes.POINTER
        sig = {
            "ttalloc_rec_open": (ctypes.c_int, [ctypes.c_char_p, P(ctypes.c_void_p)]),
            "ttalloc_rec_info": (P(RecInfo), [ctypes.c_void_p]),
            "ttalloc_rec_next": (ctypes.c_int, [ctypes.c_void_p, P(RecEvent)]),
            "ttalloc_rec_truncated": (ctypes.c_int, [ctypes.c_void_p]),
            "ttalloc_rec_error_message": (ctypes.c_char_p, [ctypes.c_void_p]),
            "ttalloc_rec_close": (None, [ctypes.c_void_p]),
        }
        for name, (restype, argtypes) in sig.items():
            fn = getattr(lib, name)
            fn.restype = restype
            fn.argtypes = argtypes
        _declared = True
    return lib


class Recording(Closing):
    """An open recording: its header, then its records by iteration."""

    def __init__(self, path):
        self._lib = _load()
        self.path = os.fspath(path)
        handle = ctypes.c_void_p()
        rc = self._lib.ttalloc_rec_open(os.fsencode(self.path), ctypes.byref(handle))
        if rc < 0:
            why = _text(self._lib.ttalloc_rec_error_message(None) or b"")
            if -rc == _errno.ENOENT:
                raise FileNotFoundError(-rc, why, self.path)
            raise RecordingError(-rc, why, self.path)
        self._handle = handle
        info = self._lib.ttalloc_rec_info(handle).contents
        self.version = info.version
        self.start_realtime_ns = info.start_realtime_ns
        self.start_monotonic_ns = info.start_monotonic_ns
        self.host = _text(info.host)
        self.truncated = False

    def __iter__(self):
        ev = RecEvent()
        while self._handle:
            rc = self._lib.ttalloc_rec_next(self._handle, ctypes.byref(ev))
            if rc == 1:
                yield _event(ev)
                continue
            if rc == 0:
                self.truncated = bool(self._lib.ttalloc_rec_truncated(self._handle))
                return
            why = _text(self._lib.ttalloc_rec_error_message(self._handle) or b"")
            raise RecordingError(-rc, why, self.path)

    def close(self):
        if self._handle:
            self._lib.ttalloc_rec_close(self._handle)
            self._handle = None


def open_recording(path):
    """Open a .ttrec file: a Recording (a context manager; iterate it)."""
    return Recording(path)


def read_recording(path):
    """Yield every record of a .ttrec file as an Event, in file order."""
    with Recording(path) as rec:
        yield from rec
