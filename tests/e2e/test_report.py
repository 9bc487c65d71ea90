# SPDX-License-Identifier: Apache-2.0
"""tt-alloc-report end to end: recordings written through the real writer
(tests/tools/ttrec-script) from scripted event lists with known answers, then
the report's --json (checked against docs/schema/tt-alloc-report.schema.json),
--csv, --at, --pid, --perfetto and --html (loaded in headless chromium), and
hostile files: cut short, garbage, empty.
"""
import json
import os
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import jsonschema
import pytest

from conftest import ROOT, SANITIZER_ENV, binary

SCHEMA = json.loads((ROOT / "docs/schema/tt-alloc-report.schema.json").read_text())
MiB = 1 << 20


def write_recording(tmp_path, script, name="rec.ttrec", frame_bytes=None):
    path = tmp_path / name
    args = [binary("tests/tools/ttrec-script"), "-o", str(path)]
    if frame_bytes:
        args += ["--frame-bytes", str(frame_bytes)]
    subprocess.run(args, input=script.encode(), check=True, env=dict(os.environ, **SANITIZER_ENV))
    return path


def report(*args, check=True):
    res = subprocess.run([binary("src/report/tt-alloc-report"), *map(str, args)],
                         capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, **SANITIZER_ENV))
    if check:
        assert res.returncode == 0, res.stderr
    return res


def report_json(*args):
    doc = json.loads(report(*args, "--json").stdout)
    jsonschema.validate(doc, SCHEMA)
    return doc


def memory_row(doc, pid, device, type_):
    proc = next(p for p in doc["processes"] if p["pid"] == pid)
    return next(m for m in proc["memory"] if m["device"] == device and m["type"] == type_)


# Two processes on device 0, one on device 1. pid 200 exits holding two
# buffers; pid 100 is still running at the end (its live buffers are not leaks).
WORKLOAD = """
device 0 0 n300
device 0 1 n300
live_begin 0 1
live -2000000000 100 0 dram 0x1000 4096
live_end 0
proc -1000000000 100 1 1000 python3 llama-70b
proc 1000 200 1 1000 worker
proc 2000 300 1 1001 other
alloc 1000000 100 0 dram 0x10000 1048576
alloc 2000000 200 0 dram 0x200000 65536
alloc 2500000 200 0 l1 0x100 2048
alloc 2600000 300 1 dram 0x0 3000000
free 3000000 100 0 dram 0x10000
alloc 3200000 100 0 dram 0x20000 8192
alloc 3300000 200 0 dram 0x300000 512
free 3400000 200 0 dram 0x300000
exit 4000000 200
free 5000000 100 0 dram 0x20000
free 5500000 300 1 dram 0x0
"""


def test_exact_peaks_finals_counts_and_leaks(tmp_path):
    rec = write_recording(tmp_path, WORKLOAD)
    doc = report_json(rec)
    assert doc["schema_version"] == 1
    assert doc["start"] == "2025-11-24T16:00:00Z"
    assert doc["duration_s"] == 0.0055
    assert doc["events"] == 10
    assert (doc["gaps"], doc["lost_events"]) == (0, 0)

    py = next(p for p in doc["processes"] if p["pid"] == 100)
    assert (py["name"], py["label"], py["start_s"], py["exit_s"]) == \
        ("python3", "llama-70b", -1.0, None)
    assert py["leaks"] == []
    assert memory_row(doc, 100, 0, "dram") == {
        "device": 0, "type": "dram", "peak_bytes": MiB + 4096, "peak_s": 0.001,
        "final_bytes": 4096, "allocs": 2, "frees": 2}

    worker = next(p for p in doc["processes"] if p["pid"] == 200)
    assert worker["exit_s"] == 0.004
    assert memory_row(doc, 200, 0, "dram") == {
        "device": 0, "type": "dram", "peak_bytes": 65536 + 512, "peak_s": 0.0033,
        "final_bytes": 65536, "allocs": 2, "frees": 1}
    assert worker["leaks"] == [
        {"device": 0, "type": "dram", "address": "0x200000", "size": 65536, "alloc_s": 0.002},
        {"device": 0, "type": "l1", "address": "0x100", "size": 2048, "alloc_s": 0.0025}]

    dev0 = next(d for d in doc["devices"] if d["device"] == 0)
    assert {m["type"]: (m["peak_bytes"], m["peak_s"]) for m in dev0["memory"]} == {
        "dram": (4096 + MiB + 65536, 0.002), "l1": (2048, 0.0025)}
    assert dev0["at_peak"] == [
        {"pid": 100, "type": "dram", "address": "0x10000", "size": MiB, "alloc_s": 0.001},
        {"pid": 200, "type": "dram", "address": "0x200000", "size": 65536, "alloc_s": 0.002},
        {"pid": 100, "type": "dram", "address": "0x1000", "size": 4096, "alloc_s": -2.0}]
    dev1 = next(d for d in doc["devices"] if d["device"] == 1)
    assert dev1["memory"] == [{"type": "dram", "peak_bytes": 3000000, "peak_s": 0.0026}]
    assert dev1["at_peak"] == [
        {"pid": 300, "type": "dram", "address": "0x0", "size": 3000000, "alloc_s": 0.0026}]

    text = report(rec).stdout
    assert "3 processes, 10 events, 0 gaps" in text
    assert re.search(r"200\s+0\s+dram\s+0x200000\s+64\.0K\s+65536", text)
    assert "--top" not in text


def test_top_limits_lists(tmp_path):
    rec = write_recording(tmp_path, WORKLOAD)
    doc = report_json(rec, "--top", 1)
    dev0 = next(d for d in doc["devices"] if d["device"] == 0)
    assert [b["size"] for b in dev0["at_peak"]] == [MiB]
    worker = next(p for p in doc["processes"] if p["pid"] == 200)
    assert [b["size"] for b in worker["leaks"]] == [65536]


def test_pid_filter(tmp_path):
    rec = write_recording(tmp_path, WORKLOAD)
    doc = report_json(rec, "--pid", 200)
    assert [p["pid"] for p in doc["processes"]] == [200]
    assert doc["events"] == 4
    dev0 = next(d for d in doc["devices"] if d["device"] == 0)
    assert dev0["memory"][0] == {"type": "dram", "peak_bytes": 65536 + 512, "peak_s": 0.0033}


def test_gap_then_live_state_is_exact(tmp_path):
    # A gap hides: the free of 0xA000, the alloc of 0xC000, a free+alloc that
    # resized 0xB000. The live state after it is the truth.
    rec = write_recording(tmp_path, """
proc 0 10 1 0 app
alloc 1000 10 0 dram 0xA000 1000
alloc 2000 10 0 dram 0xB000 2000
gap 5000 77
live_begin 5000 2
live 2000 10 0 dram 0xB000 2500
live 4000 10 0 dram 0xC000 300
live_end 5000
alloc 6000 10 0 dram 0xD000 10
free 7000 10 0 dram 0xC000
""")
    doc = report_json(rec)
    assert (doc["gaps"], doc["lost_events"]) == (1, 77)
    assert doc["events"] == 4
    row = memory_row(doc, 10, 0, "dram")
    assert row["final_bytes"] == 2500 + 10
    assert row["peak_bytes"] == 3000
    assert (row["allocs"], row["frees"]) == (3, 1)
    # --at --json: the live buffers at 6.5 us
    res = json.loads(report(rec, "--at", "0.0000065", "--json").stdout)
    assert sorted((b["address"], b["size"]) for b in res["buffers"]) == \
        [("0xb000", 2500), ("0xc000", 300), ("0xd000", 10)]
    perfetto = tmp_path / "gap.json"
    report(rec, "--perfetto", perfetto)
    trace = json.loads(perfetto.read_text())
    gaps = [e for e in trace["traceEvents"] if e["ph"] == "i" and e.get("s") == "g"]
    assert len(gaps) == 1 and gaps[0]["args"]["lost_events"] == 77 and gaps[0]["ts"] == 5.0


def test_recording_begun_mid_run(tmp_path):
    # Nothing but the live state at the start and what follows.
    rec = write_recording(tmp_path, """
live_begin 0 3
live -9000000000 42 0 dram 0x100000 4096
live -8000000000 42 0 dram 0x200000 8192
live -7000000000 43 0 l1 0x0 64
live_end 0
free 1000000 42 0 dram 0x100000
exit 2000000 42
""")
    doc = report_json(rec)
    assert doc["events"] == 1
    p42 = next(p for p in doc["processes"] if p["pid"] == 42)
    assert p42["leaks"] == [
        {"device": 0, "type": "dram", "address": "0x200000", "size": 8192, "alloc_s": -8.0}]
    assert memory_row(doc, 42, 0, "dram")["peak_bytes"] == 12288
    assert memory_row(doc, 43, 0, "l1")["final_bytes"] == 64


def test_csv_rows(tmp_path):
    rec = write_recording(tmp_path, WORKLOAD)
    out = tmp_path / "ev.csv"
    report(rec, "--csv", out)
    lines = out.read_text().splitlines()
    assert lines[0] == "time_s,pid,device,type,op,address,size"
    assert len(lines) == 1 + 10
    assert lines[1] == "0.001,100,0,dram,alloc,0x10000,1048576"
    # a free's size comes from its alloc
    assert "0.003,100,0,dram,free,0x10000,1048576" in lines
    # --csv - puts the rows on stdout, alone
    res = report(rec, "--csv", "-")
    assert res.stdout.splitlines() == lines


def test_at_lists_live_buffers(tmp_path):
    rec = write_recording(tmp_path, WORKLOAD)
    text = report(rec, "--at", "0.0021").stdout
    assert text.startswith("live at 0.002 s: 3 buffers")
    assert "0x200000" in text and "0x10000" in text
    res = json.loads(report(rec, "--at", "0.0021", "--json").stdout)
    assert res["total_buffers"] == 3
    after = report(rec, "--at", "99").stdout
    assert "ends before that" in after


def build_frames(tmp_path):
    """Three frames of 100, 100 and 50 allocs (one flush each)."""
    lines = []
    for frame in range(3):
        for i in range(100 if frame < 2 else 50):
            n = frame * 100 + i
            lines.append(f"alloc {n * 1000} 7 0 dram {0x1000 * (n + 1)} 4096")
        lines.append("flush")
    return write_recording(tmp_path, "\n".join(lines) + "\n")


def test_truncated_file_reports_its_prefix(tmp_path):
    rec = build_frames(tmp_path)
    data = rec.read_bytes()
    whole = report_json(rec)
    assert whole["events"] == 250
    cut = tmp_path / "cut.ttrec"
    cut.write_bytes(data[:-10])
    res = report(cut, "--json")
    assert "cut short" in res.stderr
    doc = json.loads(res.stdout)
    jsonschema.validate(doc, SCHEMA)
    assert doc["events"] == 200
    assert memory_row(doc, 7, 0, "dram")["final_bytes"] == 200 * 4096


def test_garbage_empty_and_missing_files(tmp_path):
    garbage = tmp_path / "garbage.ttrec"
    garbage.write_bytes(os.urandom(100000))
    res = report(garbage, check=False)
    assert res.returncode == 1
    assert "error:" in res.stderr and "not a tt-alloc recording" in res.stderr
    assert res.stdout == ""

    empty = tmp_path / "empty.ttrec"
    empty.write_bytes(b"")
    res = report(empty, check=False)
    assert res.returncode == 1 and "not a tt-alloc recording" in res.stderr

    res = report(tmp_path / "missing.ttrec", check=False)
    assert res.returncode == 1 and "No such file" in res.stderr

    # a good header followed by garbage: the (empty) prefix, with a warning
    rec = build_frames(tmp_path)
    bad_tail = tmp_path / "tail.ttrec"
    bad_tail.write_bytes(rec.read_bytes()[:128] + os.urandom(5000))
    res = report(bad_tail, "--json", check=False)
    assert res.returncode == 0 and "warning" in res.stderr
    assert json.loads(res.stdout)["events"] == 0


@pytest.mark.parametrize("args,message", [
    ([], "no recording given"),
    (["x.ttrec", "--top", "-1"], "--top"),
    (["x.ttrec", "--at", "abc"], "--at"),
    (["x.ttrec", "--pid", "0"], "--pid"),
    (["x.ttrec", "--bogus"], "unknown option"),
    (["x.ttrec", "y.ttrec"], "unexpected argument"),
    (["x.ttrec", "--html"], "needs an argument"),
])
def test_bad_arguments_exit_2(args, message):
    res = report(*args, check=False)
    assert res.returncode == 2
    assert "error:" in res.stderr and message in res.stderr


def test_perfetto_trace(tmp_path):
    rec = write_recording(tmp_path, WORKLOAD)
    out = tmp_path / "trace.json"
    report(rec, "--perfetto", out)
    trace = json.loads(out.read_text())
    events = trace["traceEvents"]
    assert {e["ph"] for e in events} <= {"M", "C", "i"}
    for e in events:
        assert isinstance(e["pid"], int) and isinstance(e["name"], str)
        if e["ph"] != "M":
            assert isinstance(e["ts"], (int, float)) and e["ts"] >= 0
    names = {e["pid"]: e["args"]["name"] for e in events
             if e["ph"] == "M" and e["name"] == "process_name"}
    assert names[100] == "python3 (llama-70b) [100]"
    assert names[200] == "worker [200]"
    counters = [e for e in events if e["ph"] == "C"]
    assert all(set(e["args"]) == {"bytes"} for e in counters)
    # the counter track of pid 100 x dev0 dram reaches its peak and ends at its final bytes
    track = [e for e in counters if e["pid"] == 100 and e["name"] == "dev0 dram"]
    assert max(e["args"]["bytes"] for e in track) == MiB + 4096
    assert sorted(track, key=lambda e: e["ts"])[-1]["args"]["bytes"] == 4096
    # pid 200's tracks drop to 0 at its exit
    track = [e for e in counters if e["pid"] == 200 and e["name"] == "dev0 dram"]
    assert sorted(track, key=lambda e: e["ts"])[-1]["args"]["bytes"] == 0
    exits = [e for e in events if e["ph"] == "i" and e["name"] == "exit"]
    assert [(e["pid"], e["s"], e["ts"], e["args"]["leaked_buffers"]) for e in exits] == \
        [(200, "p", 4000.0, 2)]


# ---- the HTML page in a real browser ----

def png_rows(path):
    """Decode an 8-bit RGB/RGBA PNG into rows of bytes (filters undone)."""
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, bpp = 8, b"", 0, 0, 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and color in (2, 6)
            bpp = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[x] = (line[x] + pred) & 255
        rows.append(bytes(line))
        prev = line
    return rows, bpp


def inked(path):
    """Fraction of (sampled) pixels that are not white: 0 for a blank page."""
    rows, bpp = png_rows(path)
    total = ink = 0
    for row in rows[::4]:
        for x in range(0, len(row), bpp * 4):
            total += 1
            ink += min(row[x:x + 3]) < 200
    return ink / total


def chromium(tmp_path, page, name):
    exe = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(exe):
        pytest.skip("chromium is not installed")
    profile = tmp_path / f"profile-{name}"
    netlog = tmp_path / f"net-{name}.json"
    shot = tmp_path / f"{name}.png"
    res = subprocess.run(
        [exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
         f"--log-net-log={netlog}", "--window-size=1100,1400", f"--screenshot={shot}",
         page.as_uri()],
        capture_output=True, text=True, timeout=120)
    console = [line for line in res.stderr.splitlines() if "CONSOLE" in line]
    log = json.loads(netlog.read_text())
    # requests the page made (Chromium's own background traffic has no file:// site)
    requests = sorted({e["params"]["url"] for e in log["events"]
                       if "url" in e.get("params", {})
                       and "file://" in e["params"].get("network_isolation_key", "")})
    return console, requests, shot


def test_html_in_headless_chromium(tmp_path):
    rec = write_recording(tmp_path, WORKLOAD)
    page = tmp_path / "report.html"
    report(rec, "--html", page)
    html = page.read_text()
    assert not re.search(r"""(src|href)\s*=|url\(|@import""", html)
    assert "peak 1.1M at 0.002 s" in html
    assert "0x200000" in html and "exited at 0.004000 s with 2 live buffers" in html
    console, requests, shot = chromium(tmp_path, page, "report")
    assert console == []
    assert requests == []
    assert inked(shot) > 0.05

    # the same checks catch a page that errs, fetches, or shows nothing
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><body><script>throw new Error('x')</script>"
                   "<img src='http://example.invalid/a.png'></body>")
    console, requests, shot = chromium(tmp_path, bad, "bad")
    assert any("Uncaught Error" in line for line in console)
    assert requests == ["http://example.invalid/a.png"]
    assert inked(shot) < 0.01


def test_html_of_a_million_events_is_small(tmp_path):
    # 500k allocs, each freed 300 allocs later: 4 processes, 2 devices
    def buffer(i):
        return 1000 + i % 4, i % 2, 0x10000 + (i % 1000) * 0x10000, 4096 * (1 + i % 17)
    lines = []
    for i in range(500000):
        pid, dev, addr, size = buffer(i)
        lines.append(f"alloc {i * 2000} {pid} {dev} dram {addr} {size}")
        if i >= 300:
            pid, dev, addr, _ = buffer(i - 300)
            lines.append(f"free {i * 2000 + 1000} {pid} {dev} dram {addr}")
    rec = write_recording(tmp_path, "\n".join(lines) + "\n")
    page = tmp_path / "big.html"
    perfetto = tmp_path / "big.json"
    doc = json.loads(report(rec, "--json", "--html", page, "--perfetto", perfetto).stdout)
    assert doc["events"] == 500000 + 499700
    assert page.stat().st_size < 5 * MiB
    html = page.read_text()
    assert re.search(r"of 250000 buffers drawn.*smaller buffers left out", html)
    json.loads(perfetto.read_text())
    console, requests, shot = chromium(tmp_path, page, "big")
    assert console == [] and requests == []
    assert inked(shot) > 0.05


# ---- Python: ttalloc.read_recording through libttalloc's reader ----

def test_python_read_recording(tmp_path):
    from ttalloc_pyenv import pyenv, run_snippet
    rec = write_recording(tmp_path, WORKLOAD + "gap 6000000 9\nshm 6000000 77 0 4096 64\n"
                          "telemetry 6000000 0 55.5 80.25\n")
    code = f"""
import json, ttalloc
with ttalloc.open_recording({str(rec)!r}) as r:
    events = list(r)
    out = {{"host": r.host, "start": r.start_realtime_ns, "truncated": r.truncated}}
out["kinds"] = [e.kind for e in events]
out["allocs"] = [[e.time_s, e.pid, e.device, e.type, e.address, e.size]
                 for e in events if e.kind == "alloc"]
out["procs"] = [[e.pid, e.name, e.label, e.uid, e.time_ns] for e in events
                if e.kind == "process_start"]
out["gap"] = [e.count for e in events if e.kind == "gap"]
out["shm"] = [list(e.bytes[:2]) for e in events if e.kind == "shm_sample"]
out["telemetry"] = [[e.temperature_c, e.power_w] for e in events if e.kind == "telemetry"]
out["same"] = [e.kind for e in ttalloc.read_recording({str(rec)!r})] == out["kinds"]
try:
    list(ttalloc.read_recording({str(tmp_path / "missing.ttrec")!r}))
except FileNotFoundError as e:
    out["missing"] = e.errno
print(json.dumps(out))
"""
    out = run_snippet(code, pyenv(os.environ))
    assert out["host"] == "scripted" and out["start"] == 1764000000000000000
    assert out["truncated"] is False and out["same"] is True
    assert out["kinds"][:5] == ["device", "device", "live_begin", "live_buffer", "live_end"]
    assert out["kinds"].count("alloc") == 6 and out["kinds"].count("free") == 4
    assert out["allocs"][0] == [0.001, 100, 0, "dram", 0x10000, MiB]
    assert out["procs"][0] == [100, "python3", "llama-70b", 1000, -1000000000]
    assert out["gap"] == [9]
    assert out["shm"] == [[4096, 64]]
    assert out["telemetry"] == [[55.5, 80.25]]
    assert out["missing"] == 2


def test_python_prefix_of_a_damaged_file(tmp_path):
    from ttalloc_pyenv import pyenv, run_snippet
    rec = build_frames(tmp_path)
    data = rec.read_bytes()
    cut = tmp_path / "cut.ttrec"
    cut.write_bytes(data[:-10])
    garbage = tmp_path / "garbage.ttrec"
    garbage.write_bytes(b"not a recording at all")
    code = f"""
import json, ttalloc
out = {{}}
with ttalloc.open_recording({str(cut)!r}) as r:
    out["cut"] = sum(1 for e in r if e.kind == "alloc")
    out["truncated"] = r.truncated
try:
    ttalloc.open_recording({str(garbage)!r})
except ttalloc.RecordingError as e:
    out["garbage"] = str(e)
print(json.dumps(out))
"""
    out = run_snippet(code, pyenv(os.environ))
    assert out == {"cut": 200, "truncated": True,
                   "garbage": out["garbage"]}
    assert "not a tt-alloc recording" in out["garbage"]


def test_many_processes_keep_memory_bounded(tmp_path):
    # 600 short processes: each gets its row, only the first 512 a curve
    lines = []
    for i in range(600):
        pid = 10000 + i
        lines += [f"proc {i * 1000} {pid} 1 0 job{i}", f"alloc {i * 1000 + 1} {pid} 0 dram 0x1000 64",
                  f"free {i * 1000 + 2} {pid} 0 dram 0x1000", f"exit {i * 1000 + 3} {pid}"]
    rec = write_recording(tmp_path, "\n".join(lines) + "\n")
    page = tmp_path / "many.html"
    doc = json.loads(report(rec, "--json", "--html", page).stdout)
    assert len(doc["processes"]) == 600 and doc["events"] == 1200
    assert all(p["leaks"] == [] and p["memory"][0]["peak_bytes"] == 64 for p in doc["processes"])
    assert "More process curves than 512" in page.read_text()


def test_outputs_on_a_full_disk(tmp_path):
    """A page that cannot be written: exit 1, the reason (not just "failed"),
    and no half-written file left to be taken for a report. A device such as
    /dev/full is never removed; standard output is named as such."""
    rec = write_recording(tmp_path, WORKLOAD)
    res = report(rec, "--json", "--csv", "/dev/full", check=False)
    assert res.returncode == 1
    assert "error: writing /dev/full: No space left on device" in res.stderr, res.stderr
    assert Path("/dev/full").exists()
    res = subprocess.run(f"{binary('src/report/tt-alloc-report')} {rec} --json > /dev/full",
                         shell=True, capture_output=True, text=True,
                         env=dict(os.environ, **SANITIZER_ENV))
    assert res.returncode == 1
    assert "error: writing standard output: No space left on device" in res.stderr, res.stderr

    disk = tmp_path / "small"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8k", "tmpfs", str(disk)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (not root)")
    try:
        page = disk / "report.html"
        res = report(rec, "--html", page, check=False)
        assert res.returncode == 1
        assert f"error: writing {page}: No space left on device" in res.stderr, res.stderr
        assert not page.exists()
        # what fits is written whole
        trace = disk / "trace.json"
        report(rec, "--perfetto", trace)
        assert json.loads(trace.read_text())["traceEvents"]
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)
