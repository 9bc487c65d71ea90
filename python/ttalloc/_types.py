# SPDX-License-Identifier: Apache-2.0
"""The binding's Python-side types: buffer types, errors, records."""
import enum
import errno as _errno
import os
from dataclasses import dataclass, field
from typing import Dict, Tuple


class Closing:
    """A handle on a C object: `with` closes it, and so does the garbage
    collector if nobody did. The subclass defines close(), safe to call twice."""

    def close(self):
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


class BufferType(enum.IntEnum):
    """TT-Metal's BufferType, plus CB as TT-Metal's SHM statistics number it."""

    DRAM = 0
    L1 = 1
    SYSTEM_MEMORY = 2
    L1_SMALL = 3
    TRACE = 4
    CB = 5

    @property
    def label(self):
        """The lower-case name the tools and the JSON use ("dram", "l1_small")."""
        return self.name.lower()

    @classmethod
    def of(cls, value):
        """A BufferType from itself, its number, or its name in any case."""
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            key = value.strip().upper().replace("-", "_")
            try:
                return cls[key]
            except KeyError:
                pass
            raise InvalidArgument(_errno.EINVAL, f"unknown buffer type {value!r} (one of "
                                  f"{', '.join(t.label for t in cls)})")
        if isinstance(value, int) and not isinstance(value, bool):
            try:
                return cls(value)
            except ValueError:
                pass
        raise InvalidArgument(_errno.EINVAL, f"unknown buffer type {value!r}")


# ---------------------------------------------------------------------------
# Errors: OSError subclasses carrying the errno and its meaning.


class TTAllocError(OSError):
    """An error from libttalloc or the server: .errno, .strerror, and where
    it applies, .filename (the socket path)."""


class InvalidArgument(TTAllocError):
    """EINVAL: an unknown type, a zero size, an out-of-range value."""


class ServerUnavailable(TTAllocError, ConnectionError):
    """No tt-alloc-server is reachable (ENOTCONN, ENOENT, ECONNREFUSED...)."""


class ServerPermissionError(TTAllocError, PermissionError):
    """EPERM: the server at that socket runs as another user (not root)."""


class FlushTimeout(TTAllocError, TimeoutError):
    """ETIMEDOUT: the server did not answer within the timeout."""


class ProtocolError(TTAllocError):
    """EPROTO: the server speaks another protocol version, or sent garbage."""


_BY_ERRNO = {
    _errno.EINVAL: InvalidArgument,
    _errno.ENOTCONN: ServerUnavailable,
    _errno.ENOENT: ServerUnavailable,
    _errno.ECONNREFUSED: ServerUnavailable,
    _errno.ECONNRESET: ServerUnavailable,
    _errno.EPIPE: ServerUnavailable,
    _errno.EPERM: ServerPermissionError,
    _errno.EACCES: ServerPermissionError,
    _errno.ETIMEDOUT: FlushTimeout,
    _errno.EPROTO: ProtocolError,
}


def error_from_rc(rc, what, filename=None):
    """The exception for a negative errno returned by the library."""
    err = -rc
    cls = _BY_ERRNO.get(err, TTAllocError)
    msg = f"{what}: {os.strerror(err)}"
    if filename is not None:
        return cls(err, msg, filename)
    return cls(err, msg)


def check(rc, what, filename=None):
    if rc < 0:
        raise error_from_rc(rc, what, filename)
    return rc


class LeakError(AssertionError):
    """Buffers that a block allocated on the device and did not free.

    .leaks is the list of Buffer records still live; the message lists them.
    An AssertionError, so pytest reports it as a test failure."""

    def __init__(self, leaks, where="the block"):
        self.leaks = list(leaks)
        super().__init__(format_leaks(self.leaks, where))


# ---------------------------------------------------------------------------
# Records


def _human(n):
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


@dataclass(frozen=True, order=True)
class Buffer:
    """One live buffer of a process, as the server holds it."""

    device: int
    type: BufferType
    address: int
    size: int

    @property
    def key(self) -> Tuple[int, int, int]:
        """(device, type, address): what identifies a buffer within a process."""
        return (self.device, int(self.type), self.address)

    def __str__(self):
        return (f"device {self.device} {self.type.label:<13} {self.size:>12} bytes "
                f"({_human(self.size)}) at 0x{self.address:x}")


@dataclass(frozen=True)
class Exit:
    """A process that ended with buffers still live on one device."""

    pid: int
    uid: int
    name: str
    device: int
    time_ns: int
    bytes: Dict[str, int] = field(default_factory=dict)    # per type label
    buffers: Dict[str, int] = field(default_factory=dict)  # per type label
    label: str = ""                                        # its ttalloc_set_label

    @property
    def total_bytes(self):
        return sum(self.bytes.values())


def format_leaks(leaks, where="the block"):
    leaks = sorted(leaks, key=lambda b: (b.device, int(b.type), b.address))
    total = sum(b.size for b in leaks)
    head = (f"{len(leaks)} device buffer{'s' if len(leaks) != 1 else ''} "
            f"({total} bytes, {_human(total)}) allocated during {where} "
            f"{'are' if len(leaks) != 1 else 'is'} still live:")
    return "\n".join([head] + [f"  {b}" for b in leaks])
