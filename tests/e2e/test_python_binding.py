# SPDX-License-Identifier: Apache-2.0
"""The ttalloc Python package against a real server: recording, the
tt-smi-shaped snapshot, buffers, exits, errors, no_leaks, and installation."""
import errno
import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from conftest import wait_for
from ttalloc_pyenv import PACKAGE_DIR, PYTHON, pyenv, query, run_python, run_snippet

MiB = 1 << 20

# The schema of `tt-smi --json` (docs/schema/tt-smi.schema.json), key for key.
TOP_KEYS = {"schema_version", "timestamp", "hostname", "driver_version", "tracking",
            "devices", "processes"}
DEVICE_KEYS = {"index", "arch", "board_type", "bus_id", "serial", "asic_id", "firmware",
               "temperature_c", "power_w", "power_limit_w", "voltage_v", "current_a",
               "aiclk_mhz", "fan_rpm", "memory"}
MEMORY_KEYS = {"dram", "l1", "l1_small", "trace", "cb"}
PROCESS_KEYS = {"pid", "name", "user", "cmdline", "devices", "tracked", "memory"}
USAGE_KEYS = {"device", "dram_bytes", "l1_bytes", "l1_small_bytes", "trace_bytes", "cb_bytes",
              "dram_peak_bytes", "l1_peak_bytes", "l1_small_peak_bytes", "trace_peak_bytes",
              "cb_peak_bytes"}


class Holder:
    """A child interpreter that runs `code`, prints "ready", and holds its
    buffers until told to go on (a line on stdin); then runs `after`."""

    def __init__(self, server, code, after="", env=None):
        script = code + "\nimport sys\nprint('ready', flush=True)\nsys.stdin.readline()\n" + after
        self.proc = subprocess.Popen([PYTHON, "-c", script], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=env or pyenv(server.client_env()))
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            self.proc.kill()
            out, err = self.proc.communicate()
            pytest.fail(f"holder did not get ready:\n{line}{out}\n{err}")
        self.pid = self.proc.pid

    def finish(self):
        out, err = self.proc.communicate("go\n", timeout=60)
        assert self.proc.returncode == 0, f"holder failed:\n{out}\n{err}"
        return out


def test_records_show_in_snapshot_buffers_and_the_tt_smi_structure(server):
    holder = Holder(server, textwrap.dedent("""
        import ttalloc
        ttalloc.describe_device(0, board_serial="0000012345ABCDEF", asic_id=0xBEEF,
                                board_type="n150",
                                capacity={"dram": 12 << 30, ttalloc.BufferType.L1: 72 * 1499136})
        ttalloc.record_alloc(0, "dram", 0x10000000, 3 << 20)
        ttalloc.record_alloc(0, ttalloc.BufferType.L1, 0x20000, 4096)
        ttalloc.record_alloc(0, "L1_SMALL", 0x30000, 512)
        ttalloc.record_alloc(2, 4, 0x5000, 1000)          # TRACE by number, on device 2
        ttalloc.record_alloc(2, "cb", 0x6000, 2048)
        ttalloc.record_alloc(2, "dram", 0x7000, 64)
        ttalloc.record_free(2, "dram", 0x7000)
        ttalloc.flush()
    """))
    try:
        snap = query(server, "snapshot")
        assert set(snap) == TOP_KEYS
        assert snap["schema_version"] == 1
        assert snap["tracking"] == {"server": True, "socket": server.socket,
                                    "sources": ["server"]}
        devices = {d["index"]: d for d in snap["devices"]}
        assert set(devices) == {0, 2}
        for d in devices.values():
            assert set(d) == DEVICE_KEYS
            assert set(d["memory"]) == MEMORY_KEYS
            # what only sysfs knows is unknown here, never a made-up value
            for k in ("bus_id", "firmware", "temperature_c", "power_w", "aiclk_mhz"):
                assert d[k] is None
        d0 = devices[0]
        assert (d0["board_type"], d0["arch"]) == ("n150", "wormhole")
        assert (d0["serial"], d0["asic_id"]) == ("0000012345ABCDEF", "000000000000BEEF")
        assert d0["memory"]["dram"] == {"used_bytes": 3 * MiB, "total_bytes": 12 << 30,
                                        "peak_bytes": 3 * MiB}
        assert d0["memory"]["l1"] == {"used_bytes": 4096, "total_bytes": 72 * 1499136,
                                      "peak_bytes": 4096}
        assert d0["memory"]["l1_small"] == {"used_bytes": 512, "total_bytes": None,
                                            "peak_bytes": 512}
        d2 = devices[2]
        assert d2["board_type"] is None and d2["arch"] is None and d2["serial"] is None
        assert {k: v["used_bytes"] for k, v in d2["memory"].items()} == {
            "dram": 0, "l1": 0, "l1_small": 0, "trace": 1000, "cb": 2048}

        procs = [p for p in snap["processes"] if p["pid"] == holder.pid]
        assert len(procs) == 1
        p = procs[0]
        assert set(p) == PROCESS_KEYS
        assert p["name"] == os.path.basename(PYTHON)[:15]
        assert p["tracked"] is True and p["devices"] == [0, 2]
        assert "ttalloc.describe_device" in p["cmdline"]
        for row in p["memory"]:
            assert set(row) == USAGE_KEYS
        # the 64-byte DRAM buffer on device 2 came and went; whether the library
        # sent both records or cancelled the pair is its business (at most 64)
        assert p["memory"][1].pop("dram_peak_bytes") <= 64
        assert p["memory"] == [
            {"device": 0, "dram_bytes": 3 * MiB, "l1_bytes": 4096, "l1_small_bytes": 512,
             "trace_bytes": 0, "cb_bytes": 0, "dram_peak_bytes": 3 * MiB,
             "l1_peak_bytes": 4096, "l1_small_peak_bytes": 512, "trace_peak_bytes": 0,
             "cb_peak_bytes": 0},
            {"device": 2, "dram_bytes": 0, "l1_bytes": 0, "l1_small_bytes": 0,
             "trace_bytes": 1000, "cb_bytes": 2048, "l1_peak_bytes": 0,
             "l1_small_peak_bytes": 0, "trace_peak_bytes": 1000, "cb_peak_bytes": 2048}]

        bufs = query(server, "buffers", holder.pid)
        assert bufs == [  # largest first
            {"device": 0, "type": "dram", "address": 0x10000000, "size": 3 * MiB},
            {"device": 0, "type": "l1", "address": 0x20000, "size": 4096},
            {"device": 2, "type": "cb", "address": 0x6000, "size": 2048},
            {"device": 2, "type": "trace", "address": 0x5000, "size": 1000},
            {"device": 0, "type": "l1_small", "address": 0x30000, "size": 512}]
    finally:
        holder.finish()
    # the holder exited without freeing: the server reports the leak
    exits = wait_for(lambda: [e for e in query(server, "exits") if e["pid"] == holder.pid],
                     what="the holder's exit record")
    by_dev = {e["device"]: e for e in exits}
    assert set(by_dev) == {0, 2}
    assert by_dev[0]["bytes"]["dram"] == 3 * MiB and by_dev[0]["buffers"]["dram"] == 1
    assert by_dev[2]["bytes"]["trace"] == 1000 and by_dev[2]["bytes"]["dram"] == 0
    assert by_dev[0]["name"] == os.path.basename(PYTHON)[:15]
    assert query(server, "buffers", holder.pid) == []


def test_frees_and_exit_without_leak(server):
    env = pyenv(server.client_env())
    out = run_snippet(textwrap.dedent("""
        import json, os, ttalloc
        for i in range(100):
            ttalloc.record_alloc(1, "dram", 0x1000 * i, 4096)
        for i in range(0, 100, 2):
            ttalloc.record_free(1, "dram", 0x1000 * i)
        ttalloc.flush()
        half = ttalloc.buffers()
        for i in range(1, 100, 2):
            ttalloc.record_free(1, ttalloc.BufferType.DRAM, 0x1000 * i)
        ttalloc.flush()
        print(json.dumps({"pid": os.getpid(), "half": len(half),
                          "addresses": sorted(b.address for b in half),
                          "after": len(ttalloc.buffers())}))
    """), env)
    assert out["half"] == 50
    assert out["addresses"] == [0x1000 * i for i in range(1, 100, 2)]
    assert out["after"] == 0
    # No exit record for a process that freed everything: only for leaks.
    assert [e for e in query(server, "exits") if e["pid"] == out["pid"]] == []


def test_errors_carry_errno_and_meaning(server, tmp_path):
    missing = str(tmp_path / "nobody-listens.sock")
    out = run_snippet(textwrap.dedent(f"""
        import errno, json, os, ttalloc
        res = {{}}
        def catch(name, fn):
            try:
                fn()
                res[name] = None
            except OSError as e:
                res[name] = [type(e).__name__, e.errno, e.strerror, e.filename,
                             isinstance(e, ttalloc.TTAllocError)]
        catch("bad_type", lambda: ttalloc.record_alloc(0, "hbm", 0, 1))
        catch("bad_number", lambda: ttalloc.record_alloc(0, 9, 0, 1))
        catch("zero_size", lambda: ttalloc.record_alloc(0, "dram", 0x10, 0))   # -EINVAL from C
        catch("neg_address", lambda: ttalloc.record_free(0, "dram", -1))
        catch("connect", lambda: ttalloc.snapshot(socket={missing!r}))
        catch("ok", lambda: ttalloc.record_alloc(0, "l1", 0x10, 1))
        res["is_connection_error"] = issubclass(ttalloc.ServerUnavailable, ConnectionError)
        res["is_timeout_error"] = issubclass(ttalloc.FlushTimeout, TimeoutError)
        print(json.dumps(res))
    """), pyenv(server.client_env()))
    einval = os.strerror(errno.EINVAL)
    for name in ("bad_type", "bad_number", "zero_size", "neg_address"):
        cls, err, text, _, ours = out[name]
        assert (cls, err, ours) == ("InvalidArgument", errno.EINVAL, True), name
    assert out["zero_size"][2] == f"record_alloc: {einval}"
    assert "hbm" in out["bad_type"][2] and "l1_small" in out["bad_type"][2]
    cls, err, text, filename, ours = out["connect"]
    assert cls == "ServerUnavailable" and ours
    assert err in (errno.ENOENT, errno.ECONNREFUSED)
    assert text.endswith(os.strerror(err)) and filename == missing
    assert out["ok"] is None
    assert out["is_connection_error"] and out["is_timeout_error"]


def test_flush_without_server_is_enotconn_and_records_still_succeed(tmp_path):
    env = pyenv(dict(os.environ), TT_ALLOC_SOCKET=str(tmp_path / "none.sock"))
    out = run_snippet(textwrap.dedent("""
        import json, ttalloc
        ttalloc.record_alloc(0, "dram", 0x1000, 4096)      # never fails for want of a server
        ttalloc.record_free(0, "dram", 0x1000)
        try:
            ttalloc.flush(timeout=2)
            print(json.dumps(None))
        except ttalloc.ServerUnavailable as e:
            print(json.dumps([e.errno, e.strerror]))
    """), env)
    assert out is not None, "flush succeeded with no server"
    assert out[0] == errno.ENOTCONN and out[1] == "flush: " + os.strerror(errno.ENOTCONN)


def test_missing_library_names_every_place_tried(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(PACKAGE_DIR), PYTHONDONTWRITEBYTECODE="1",
               TTALLOC_LIBRARY=str(tmp_path / "libnothing.so"), LD_LIBRARY_PATH=str(tmp_path))
    r = run_python(["-c", "import ttalloc\nttalloc.record_alloc(0, 'dram', 1, 1)"], env)
    assert r.returncode != 0
    err = r.stderr
    assert "LibraryNotFound" in err
    assert f"$TTALLOC_LIBRARY: {tmp_path / 'libnothing.so'}: no such file" in err
    assert "next to the package" in err and "the system's library path" in err
    assert "Set TTALLOC_LIBRARY" in err
    # importing the package alone needs no library (the pytest plugin relies on it)
    r = run_python(["-c", "import ttalloc, ttalloc.pytest_plugin"], env)
    assert r.returncode == 0, r.stderr


def test_no_leaks_context_manager(server):
    out = run_snippet(textwrap.dedent("""
        import json, ttalloc
        res = {}
        ttalloc.record_alloc(0, "dram", 0x100, 4096)            # before: not the block's
        with ttalloc.no_leaks() as clean:
            ttalloc.record_alloc(0, "l1", 0x200, 64)
            ttalloc.record_free(0, "l1", 0x200)
        res["clean"] = len(clean.leaks)
        try:
            with ttalloc.no_leaks(where="the leaky part"):
                ttalloc.record_alloc(1, "l1", 0x300, 8192)
                ttalloc.record_alloc(0, "trace", 0x400, 100)
                ttalloc.record_alloc(0, "cb", 0x500, 7)
                ttalloc.record_free(0, "cb", 0x500)
            res["leaky"] = None
        except ttalloc.LeakError as e:
            res["leaky"] = [[b.device, b.type.label, b.address, b.size] for b in e.leaks]
            res["message"] = str(e)
            res["is_assertion"] = isinstance(e, AssertionError)
        try:
            with ttalloc.no_leaks():
                ttalloc.record_alloc(0, "l1", 0x600, 1)
                raise KeyError("from the block")
        except KeyError:
            res["passes_through"] = True
        print(json.dumps(res))
    """), pyenv(server.client_env()))
    assert out["clean"] == 0
    assert out["leaky"] == [[0, "trace", 0x400, 100], [1, "l1", 0x300, 8192]]
    assert out["is_assertion"] and out["passes_through"]
    msg = out["message"].splitlines()
    assert msg[0] == ("2 device buffers (8292 bytes, 8.1 KiB) allocated during the leaky part "
                      "are still live:")
    assert "device 0 trace" in msg[1] and "100 bytes" in msg[1] and "0x400" in msg[1]
    assert "device 1 l1" in msg[2] and "8192 bytes" in msg[2] and "0x300" in msg[2]


def test_no_leaks_without_server_says_so(tmp_path):
    env = pyenv(dict(os.environ), TT_ALLOC_SOCKET=str(tmp_path / "none.sock"))
    r = run_python(["-c", "import ttalloc\nwith ttalloc.no_leaks(): pass"], env)
    assert r.returncode != 0
    assert "ServerUnavailable" in r.stderr and str(tmp_path / "none.sock") in r.stderr


def test_label_and_raw_snapshot(server):
    out = run_snippet(textwrap.dedent("""
        import json, os, ttalloc
        ttalloc.set_label("llama-70b")
        ttalloc.record_alloc(3, "dram", 0x10, 1 << 20)
        ttalloc.flush()               # else the library may merge the pair away
        ttalloc.record_free(3, "dram", 0x10)
        ttalloc.flush()               # events of different buffers may be reordered
        ttalloc.record_alloc(3, "dram", 0x20, 4096)
        ttalloc.flush()
        with ttalloc.connect() as c:
            raw = c.raw_snapshot()
        me = [p for p in raw["processes"] if p["pid"] == os.getpid()][0]
        dev = [d for d in raw["devices"] if d["device"] == 3][0]
        print(json.dumps({"label": me["label"], "used": dev["used"]["dram"],
                          "peak": dev["peak"]["dram"], "server_pid": raw["server_pid"]}))
    """), pyenv(server.client_env()))
    assert out == {"label": "llama-70b", "used": 4096, "peak": 1 << 20,
                   "server_pid": server.proc.pid}


def test_pip_install_offline_with_entry_point(tmp_path):
    """`pip install ./python` with no index: the package and its pytest11 entry
    point land in a venv (one that sees Debian's pytest)."""
    src = tmp_path / "src"
    shutil.copytree(PACKAGE_DIR, src, ignore=shutil.ignore_patterns("build", "*.egg-info",
                                                                     "__pycache__"))
    venv = tmp_path / "venv"
    r = subprocess.run([PYTHON, "-m", "venv", "--system-site-packages", str(venv)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    vpy = str(venv / "bin" / "python")
    env = dict(os.environ, PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.pop("PYTHONPATH", None)
    r = subprocess.run([vpy, "-m", "pip", "install", "--no-index", str(src)],
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    check = textwrap.dedent("""
        import json, importlib.metadata as md, ttalloc
        eps = [(e.name, e.value) for e in md.entry_points(group="pytest11")
               if e.value.startswith("ttalloc")]
        print(json.dumps({"file": ttalloc.__file__, "eps": eps,
                          "version": md.version("ttalloc")}))
    """)
    r = subprocess.run([vpy, "-c", check], capture_output=True, text=True, timeout=60,
                       env=env, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["file"].startswith(str(venv))
    assert out["eps"] == [["ttalloc.pytest_plugin", "ttalloc.pytest_plugin"]]
    assert out["version"] == "0.1.0"
    # the entry point makes the option known to pytest without -p
    r = subprocess.run([vpy, "-m", "pytest", "--help"], capture_output=True, text=True,
                       timeout=120, env=env, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "--ttalloc-leaks" in r.stdout
