# SPDX-License-Identifier: Apache-2.0
"""A server snapshot as the structure `tt-smi --json` prints (docs/schema/tt-smi.schema.json).

Only what the server knows is filled in. Fields that come from tt-kmd's sysfs
and hwmon (bus id, firmware, temperature, power, clocks...) are None here:
this binding reads no sysfs, and tt-smi is the tool that joins both. `arch`
is derived from the board type when the board type is known (a fixed table,
not a guess); `user` and `cmdline` come from the local passwd database and
/proc/<pid>/cmdline, as tt-smi takes them.
"""
import datetime
import pwd
import socket as _socket

from ._types import BufferType

SCHEMA_VERSION = 1
PROCESS_SHM = 0x2  # ttalloc_process_info.flags: figures from TT-Metal's SHM statistics

# The memory types the JSON reports, in its order (SYSTEM_MEMORY is host memory).
JSON_TYPES = (BufferType.DRAM, BufferType.L1, BufferType.L1_SMALL, BufferType.TRACE,
              BufferType.CB)

_ARCH = {
    "e150": "grayskull", "e75": "grayskull",
    "n150": "wormhole", "n300": "wormhole", "galaxy-wormhole": "wormhole",
    "p100": "blackhole", "p100a": "blackhole", "p150a": "blackhole", "p150b": "blackhole",
    "p150c": "blackhole", "p300a": "blackhole", "p300b": "blackhole", "p300c": "blackhole",
    "galaxy-blackhole": "blackhole",
}


def iso_utc(ns):
    t = datetime.datetime.fromtimestamp(ns / 1e9, tz=datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def hex_id(value):
    """tt_serial / tt_asic_id as sysfs shows them: 16 upper-case hex digits."""
    return None if not value else f"{value:016X}"


def _text(raw):
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def _user(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    args = [a.decode("utf-8", "replace") for a in raw.split(b"\0") if a]
    return " ".join(args) if args else None


def device_json(d):
    board = _text(d.board_type) or None
    memory = {}
    for t in JSON_TYPES:
        memory[t.label] = {"used_bytes": int(d.used[t]),
                           "total_bytes": int(d.total[t]) or None,
                           "peak_bytes": int(d.peak[t])}
    return {
        "index": int(d.device),
        "arch": _ARCH.get(board) if board else None,
        "board_type": board,
        "bus_id": None,
        "serial": hex_id(d.board_serial),
        "asic_id": hex_id(d.asic_id),
        "firmware": None,
        "temperature_c": None,
        "power_w": None,
        "power_limit_w": None,
        "voltage_v": None,
        "current_a": None,
        "aiclk_mhz": None,
        "fan_rpm": None,
        "memory": memory,
    }


def usage_json(u, exact_peaks):
    """One memory[] row; peaks are None for a process known only from
    TT-Metal's SHM statistics, which have none."""
    row = {"device": int(u.device)}
    for t in JSON_TYPES:
        row[f"{t.label}_bytes"] = int(u.bytes[t])
    for t in JSON_TYPES:
        row[f"{t.label}_peak_bytes"] = int(u.peak[t]) if exact_peaks else None
    return row


def to_json(snap, socket_path):
    """The tt-smi --json object for one ttalloc_snapshot (a ctypes Snapshot)."""
    devices = [device_json(snap.devices[i]) for i in range(snap.n_devices)]
    usage_by_pid = {}
    for i in range(snap.n_usage):
        u = snap.usage[i]
        usage_by_pid.setdefault(int(u.pid), []).append(u)
    processes = []
    for i in range(snap.n_processes):
        p = snap.processes[i]
        rows = sorted(usage_by_pid.get(int(p.pid), []), key=lambda u: u.device)
        processes.append({
            "pid": int(p.pid),
            "name": _text(p.name),
            "user": _user(p.uid),
            "cmdline": _cmdline(p.pid),
            "devices": [int(u.device) for u in rows],
            "tracked": True,
            "memory": [usage_json(u, not p.flags & PROCESS_SHM) for u in rows],
        })
    return {
        "schema_version": SCHEMA_VERSION,
        "timestamp": iso_utc(snap.timestamp_ns),
        "hostname": _socket.gethostname(),
        "driver_version": None,
        "tracking": {"server": True, "socket": socket_path, "sources": ["server"]},
        "devices": devices,
        "processes": processes,
    }
