# SPDX-License-Identifier: Apache-2.0
"""Loading libttalloc with ctypes, and the C records it exchanges.

The structures mirror include/ttalloc.h field for field (docs/PROTOCOL.md
gives the byte offsets); check_layouts() compares their sizes with the ones
the protocol pins, so a drift between header and binding fails loudly at the
first call instead of reading garbage.

Where the library comes from, first found wins:
  1. $TTALLOC_LIBRARY (a path, or a name the dynamic loader resolves);
  2. next to this package (ttalloc/libttalloc.so.0 or libttalloc.so);
  3. the system's library path: ctypes.util.find_library("ttalloc"), then
     "libttalloc.so.0" and "libttalloc.so" as the loader resolves them.
"""
import ctypes
import ctypes.util
import os
import threading

NUM_TYPES = 6
NAME_MAX = 32
LABEL_MAX = 64

c_pid_t = ctypes.c_int32


class DeviceDesc(ctypes.Structure):
    _fields_ = [
        ("board_serial", ctypes.c_uint64),
        ("asic_id", ctypes.c_uint64),
        ("capacity", ctypes.c_uint64 * NUM_TYPES),
        ("is_remote", ctypes.c_uint32),
        ("reserved", ctypes.c_uint32),
        ("board_type", ctypes.c_char * 16),
    ]


class DeviceStats(ctypes.Structure):
    _fields_ = [
        ("device", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("board_serial", ctypes.c_uint64),
        ("asic_id", ctypes.c_uint64),
        ("used", ctypes.c_uint64 * NUM_TYPES),
        ("total", ctypes.c_uint64 * NUM_TYPES),
        ("peak", ctypes.c_uint64 * NUM_TYPES),
        ("buffers", ctypes.c_uint64),
        ("processes", ctypes.c_uint32),
        ("reserved", ctypes.c_uint32),
        ("board_type", ctypes.c_char * 16),
    ]


class ProcessInfo(ctypes.Structure):
    _fields_ = [
        ("pid", ctypes.c_int32),
        ("uid", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("reserved", ctypes.c_uint32),
        ("buffers", ctypes.c_uint64),
        ("bytes", ctypes.c_uint64),
        ("peak_bytes", ctypes.c_uint64),
        ("start_ns", ctypes.c_uint64),
        ("name", ctypes.c_char * NAME_MAX),
        ("label", ctypes.c_char * LABEL_MAX),
    ]


class Usage(ctypes.Structure):
    _fields_ = [
        ("pid", ctypes.c_int32),
        ("device", ctypes.c_uint32),
        ("bytes", ctypes.c_uint64 * NUM_TYPES),
        ("peak", ctypes.c_uint64 * NUM_TYPES),
        ("buffers", ctypes.c_uint64),
    ]


class BufferRec(ctypes.Structure):
    _fields_ = [
        ("address", ctypes.c_uint64),
        ("size", ctypes.c_uint64),
        ("device", ctypes.c_uint32),
        ("type", ctypes.c_uint8),
        ("reserved", ctypes.c_uint8 * 3),
    ]


class ExitRec(ctypes.Structure):
    _fields_ = [
        ("pid", ctypes.c_int32),
        ("uid", ctypes.c_uint32),
        ("time_ns", ctypes.c_uint64),
        ("name", ctypes.c_char * NAME_MAX),
        ("device", ctypes.c_uint32),
        ("reserved", ctypes.c_uint32),
        ("bytes", ctypes.c_uint64 * NUM_TYPES),
        ("buffers", ctypes.c_uint64 * NUM_TYPES),
        ("label", ctypes.c_char * LABEL_MAX),
    ]


class Snapshot(ctypes.Structure):
    _fields_ = [
        ("seq", ctypes.c_uint64),
        ("timestamp_ns", ctypes.c_uint64),
        ("clients", ctypes.c_uint32),
        ("server_pid", ctypes.c_int32),
        ("events_total", ctypes.c_uint64),
        ("exits_total", ctypes.c_uint64),
        ("leaked_exits_total", ctypes.c_uint64),
        ("n_devices", ctypes.c_size_t),
        ("devices", ctypes.POINTER(DeviceStats)),
        ("n_processes", ctypes.c_size_t),
        ("processes", ctypes.POINTER(ProcessInfo)),
        ("n_usage", ctypes.c_size_t),
        ("usage", ctypes.POINTER(Usage)),
    ]


# Sizes the wire protocol pins (docs/PROTOCOL.md); the records travel as is.
PINNED_SIZES = {
    DeviceDesc: 88,
    DeviceStats: 200,
    ProcessInfo: 144,
    Usage: 112,
    BufferRec: 24,
    ExitRec: 216,
}


def check_layouts():
    for cls, size in PINNED_SIZES.items():
        if ctypes.sizeof(cls) != size:
            raise ImportError(f"ttalloc: struct {cls.__name__} is {ctypes.sizeof(cls)} bytes "
                              f"here, the protocol says {size}: binding and header disagree")


class LibraryNotFound(ImportError):
    """libttalloc could not be loaded; `tried` lists each place and why."""

    def __init__(self, tried):
        self.tried = tried
        lines = "\n".join(f"  {where}: {why}" for where, why in tried)
        super().__init__("ttalloc: cannot load libttalloc. Tried, in order:\n" + lines +
                         "\nSet TTALLOC_LIBRARY to the library's path, or install it "
                         "(make install) where the dynamic loader finds it.")


def candidates():
    """(where, name-or-path) pairs in the order they are tried."""
    out = []
    env = os.environ.get("TTALLOC_LIBRARY")
    if env:
        out.append(("$TTALLOC_LIBRARY", env))
    here = os.path.dirname(os.path.abspath(__file__))
    for name in ("libttalloc.so.0", "libttalloc.so"):
        out.append(("next to the package", os.path.join(here, name)))
    found = ctypes.util.find_library("ttalloc")
    if found:
        out.append(("ctypes.util.find_library('ttalloc')", found))
    for name in ("libttalloc.so.0", "libttalloc.so"):
        out.append(("the system's library path", name))
    return out


def _declare(lib):
    P = ctypes.POINTER
    conn_p = ctypes.c_void_p
    sig = {
        "ttalloc_record_alloc": (ctypes.c_int, [ctypes.c_uint32, ctypes.c_int, ctypes.c_uint64,
                                                ctypes.c_uint64]),
        "ttalloc_record_free": (ctypes.c_int, [ctypes.c_uint32, ctypes.c_int, ctypes.c_uint64]),
        "ttalloc_flush": (ctypes.c_int, [ctypes.c_int]),
        "ttalloc_describe_device": (ctypes.c_int, [ctypes.c_uint32, P(DeviceDesc)]),
        "ttalloc_set_label": (ctypes.c_int, [ctypes.c_char_p]),
        "ttalloc_connect": (ctypes.c_int, [ctypes.c_char_p, P(conn_p)]),
        "ttalloc_disconnect": (None, [conn_p]),
        "ttalloc_conn_path": (ctypes.c_char_p, [conn_p]),
        "ttalloc_snapshot": (ctypes.c_int, [conn_p, ctypes.c_int, P(P(Snapshot))]),
        "ttalloc_snapshot_free": (None, [P(Snapshot)]),
        "ttalloc_buffers": (ctypes.c_int, [conn_p, c_pid_t, ctypes.c_uint32, ctypes.c_int,
                                           P(P(BufferRec)), P(ctypes.c_size_t)]),
        "ttalloc_exits": (ctypes.c_int, [conn_p, ctypes.c_int, P(P(ExitRec)),
                                         P(ctypes.c_size_t)]),
    }
    for name, (restype, argtypes) in sig.items():
        fn = getattr(lib, name)  # AttributeError names a missing symbol: an old library
        fn.restype = restype
        fn.argtypes = argtypes
    # Newer entry points: a library without them still loads, and only the
    # calls that need them fail (see function()).
    for name, (restype, argtypes) in NEWER.items():
        fn = getattr(lib, name, None)
        if fn is not None:
            fn.restype = restype
            fn.argtypes = argtypes
    return lib


NEWER = {
    "ttalloc_reset_peak": (ctypes.c_int, []),
    "ttalloc_process_memory": (ctypes.c_int, [ctypes.c_uint32, ctypes.c_int,
                                              ctypes.POINTER(ctypes.c_uint64),
                                              ctypes.POINTER(ctypes.c_uint64)]),
}


def function(name):
    """The library's function `name`, or None when this libttalloc is older
    than it (loading the library first)."""
    return getattr(load(), name, None)


_lock = threading.Lock()
_lib = None
_libc = None
_path = None


def load():
    """The loaded library (loaded once); raises LibraryNotFound."""
    global _lib, _libc, _path
    if _lib is not None:
        return _lib
    with _lock:
        if _lib is not None:
            return _lib
        check_layouts()
        tried = []
        for where, name in candidates():
            if os.sep in name and not os.path.exists(name):
                tried.append((where, f"{name}: no such file"))
                continue
            try:
                lib = ctypes.CDLL(name)
                _declare(lib)
            except (OSError, AttributeError) as e:
                tried.append((where, f"{name}: {e}"))
                continue
            _libc = ctypes.CDLL(None)
            _libc.free.argtypes = [ctypes.c_void_p]
            _libc.free.restype = None
            _path = name
            _lib = lib
            return _lib
        raise LibraryNotFound(tried)


def free(ptr):
    """free() what the library malloc'ed (ttalloc_buffers, ttalloc_exits)."""
    _libc.free(ctypes.cast(ptr, ctypes.c_void_p))


def path():
    """What the library was loaded as (None before the first load)."""
    return _path
